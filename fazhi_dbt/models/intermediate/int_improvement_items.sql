-- What a unit could still gain, item by item, on its score's scale: points the records decide and do not
-- yet support (a meeting still possible in a period not over, a report still to file, a record to
-- submit for what was done), and, on a scored sheet, the points lost that no record decides.
with run as (
    select as_of from {{ source('reference', 'run_context') }}
), info as (
    select * from {{ source('reference', 'rulebook_info') }}
), links as (
    select * from {{ source('reference', 'rulebook_evidence_links') }}
), open_needs as (
    -- meetings still missing in periods not yet over (hours: in sessions of `session_hours`)
    select
        w.year,
        w.unit_id,
        w.requirement_id,
        sum(ceil(case when w.still_needed > 0 and r.measure = 'hours' then w.still_needed / i.session_hours
                      else w.still_needed end))::integer as meetings,
        min(w.due_date) as due_date,
        string_agg(w.message, '；' order by w.due_date) as message
    from {{ ref('early_warnings') }} w
    join {{ source('reference', 'rulebook_frequency_requirements') }} r using (requirement_id)
    cross join info i
    where w.kind = 'requirement' and w.state in ('on_track', 'at_risk')
    group by all
), evidence as (
    select
        e.year,
        e.unit_id,
        e.role,
        e.task_no,
        l.rule,
        l.deduct,
        l.requirement_id,
        l.filing_id,
        e.evidence_max - e.evidence_points as gap,
        t.points as sheet_points,
        t.lost_points,
        t.flag
    from {{ ref('int_evidence') }} e
    join links l using (role, task_no)
    left join {{ ref('task_scores') }} t using (year, unit_id, role, task_no)
    where e.evidence_points < e.evidence_max - 1e-9
), evidence_items as (
    -- a scored sheet can gain at most what it lost; without a sheet yet, what the records decide
    select
        v.*,
        case when v.sheet_points is null and v.flag is null then v.gap else least(v.gap, v.lost_points) end as at_stake,
        o.meetings,
        o.due_date as meeting_due,
        o.message as meeting_message,
        r.due_date as filing_due,
        f.name as filing_name
    from evidence v
    left join open_needs o using (year, unit_id, requirement_id)
    left join {{ source('reference', 'rulebook_filing_requirements') }} f on f.requirement_id = v.filing_id
    left join {{ ref('filing_rates') }} r
      on r.year = v.year and r.unit_id = v.unit_id and r.report_type = v.filing_id
    where v.flag is distinct from 'not_applicable'
), split as (
    -- a meeting still possible wins back what its period costs; the rest of the gap needs a record
    select
        *,
        case when meetings > 0
             then case when rule = 'deduct_per_missing' then least(at_stake, deduct * meetings) else at_stake end
             else 0 end as meeting_points
    from evidence_items
), items as (
    select year, unit_id, role, task_no, 'meeting' as kind, meeting_points as points, meetings as actions,
           meeting_due as due_date, meeting_message as action
    from split
    where meeting_points > 1e-9
    union all
    select year, unit_id, role, task_no,
           case when rule = 'filed' then 'filing' else 'record' end,
           at_stake - meeting_points, 1,
           case when rule = 'filed' then filing_due end,
           case when rule = 'filed' then '报送' || filing_name
                when rule = 'normative_rates' then '补齐规范性文件的报备（报备率、及时率、规范率）'
                else '补交已开展会议的记录（会议纪要、签到表等）' end
    from split
    where at_stake - meeting_points > 1e-9
    union all
    -- points lost on a scored sheet that no record decides: the task's check standard, met in full
    select t.year, t.unit_id, t.role, t.task_no, 'task', t.lost_points - coalesce(s.at_stake, 0), 1, null,
           '按检查标准补齐：' || k.check_standard
    from {{ ref('task_scores') }} t
    join {{ ref('score_sheet_tasks') }} k using (role, task_no)
    left join split s using (year, unit_id, role, task_no)
    where t.lost_points - coalesce(s.at_stake, 0) > 1e-9
)
select
    i.year,
    i.unit_id,
    i.role,
    i.task_no,
    '第' || i.task_no::varchar || '项 ' || case when length(k.text) > 24 then left(k.text, 24) || '…' else k.text end
        as item,
    i.kind,
    i.action,
    i.due_date,
    -- effort from the rulebook: per meeting still to hold, else per item
    case i.kind when 'filing' then n.effort_filing
                when 'record' then n.effort_record
                when 'meeting' then n.effort_meeting * i.actions
                else n.effort_task end as effort,
    i.points
from items i
join {{ ref('score_sheet_tasks') }} k using (role, task_no)
cross join info n
