-- Findings a city leader acts on: last places, falls, tasks most often lost, unmet requirements,
-- self-scores the records do not support, and units with no score sheet.
with bottom_regions as (
    select
        year, 'region' as scope, region as scope_id, '综合排名末位' as item, 'rank' as metric,
        rank::double as value, 'high' as severity,
        region || '综合得分' || round(score, 1)::varchar || '分，第' || rank::varchar || '名（共'
            || rank_total::varchar || '个），列末位' as note
    from {{ ref('region_rankings') }}
    where is_bottom
), falling_regions as (
    select
        year, 'region', region, '排名下降', 'rank_change', rank_change::double, 'medium',
        region || '由第' || prev_rank::varchar || '名降至第' || rank::varchar || '名'
    from {{ ref('region_rankings') }}
    where rank_change <= -3
), lost_tasks as (
    -- tasks on which at least half the units lose points
    select
        t.year, 'task', t.role || '-' || t.task_no::varchar, any_value(k.text), 'loss_rate',
        avg((t.lost_points > 0)::int),
        case when avg((t.lost_points > 0)::int) >= 0.75 then 'high' else 'medium' end,
        count(*) filter (where t.lost_points > 0)::varchar || '/' || count(t.lost_points)::varchar
            || '个单位在此项失分，合计失分' || round(sum(t.lost_points), 1)::varchar || '分'
    from {{ ref('task_scores') }} t
    join {{ ref('score_sheet_tasks') }} k on k.role = t.role and k.task_no = t.task_no
    where t.lost_points is not null  -- a task that does not apply is neither lost nor kept
    group by t.year, t.role, t.task_no
    having avg((t.lost_points > 0)::int) >= 0.5
), unmet_requirements as (
    -- requirements met in fewer than 80% of unit × periods
    select
        c.year, 'requirement', c.requirement_id, any_value(n.name), 'met_rate', avg(c.met::int),
        case when avg(c.met::int) < 0.5 then 'high' else 'medium' end,
        count(*) filter (where not c.met)::varchar || '个单位·期次未达标（共' || count(*)::varchar || '）'
    from {{ ref('requirement_compliance') }} c
    join {{ source('reference', 'rulebook_frequency_requirements') }} n using (requirement_id)
    group by c.year, c.requirement_id
    having avg(c.met::int) < 0.8
), unsupported_claims as (
    select
        t.year, 'unit', t.unit_id, '第' || t.task_no::varchar || '项自评与记录不符', 'points_over_evidence',
        t.points - (t.max_points - t.evidence_max + t.evidence_points), 'high', u.unit_name || '：' || t.flag_note
    from {{ ref('task_scores') }} t
    join {{ ref('units') }} u using (unit_id)
    where t.flag = 'evidence_shortfall'
), below_peers_and_past as (
    -- a duty on which a unit is below its peers' median by the rulebook's margin and below its own last year
    select
        d.year, 'unit', d.unit_id, '第' || d.duty_no::varchar || '项职责低于同类且低于上年', 'duty_rate_vs_peers',
        d.rate - d.peer_median, 'medium',
        u.unit_name || '“' || case when length(d.duty) > 16 then left(d.duty, 16) || '…' else d.duty end || '”得分率' || round(d.rate * 100, 1)::varchar || '%，同类单位中位数'
            || round(d.peer_median * 100, 1)::varchar || '%，上年' || round(d.prev_rate * 100, 1)::varchar || '%'
    from {{ ref('duty_scores') }} d
    join {{ ref('units') }} u using (unit_id)
    cross join {{ source('reference', 'rulebook_info') }} i
    where d.rate <= d.peer_median - i.peer_margin + 1e-9 and d.rate < d.prev_rate - 1e-9
), missing_sheets as (
    select
        year, 'unit', unit_id, '未报送打分表', 'status', null::double, 'high',
        unit_name || '本年度没有有效的打分表'
    from {{ ref('unit_scores') }}
    where status = 'missing'
)
select * from bottom_regions
union all select * from falling_regions
union all select * from lost_tasks
union all select * from unmet_requirements
union all select * from unsupported_claims
union all select * from below_peers_and_past
union all select * from missing_sheets
