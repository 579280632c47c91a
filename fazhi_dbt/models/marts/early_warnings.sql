-- Where every unit stands on every requirement and filing as of the computation date: a period or a
-- due date still ahead is judged by the time it has left (thresholds: rulebook early_warning); one
-- already past is only met or unmet, filed or overdue.
with run as (
    select as_of from {{ source('reference', 'run_context') }}
), settings as (
    select days_per_missing, session_hours, filing_due_soon_days from {{ source('reference', 'rulebook_info') }}
), type_names as (
    select meeting_type, name from {{ source('reference', 'rulebook_meeting_types') }}
), requirements as (
    select
        r.requirement_id,
        r.name,
        -- what a unit is told to hold: the first meeting type the requirement counts
        (select t.name from type_names t where t.meeting_type = r.meeting_types[1]) as meeting_name
    from {{ source('reference', 'rulebook_frequency_requirements') }} r
), periods as (
    select
        c.year,
        c.unit_id,
        c.region,
        c.role,
        c.requirement_id,
        q.name,
        q.meeting_name,
        c.period,
        p.period_start,
        p.period_end,
        p.measure,
        c.required,
        c.actual_as_of as actual,
        greatest(c.required - c.actual_as_of, 0) as still_needed,
        -- days the unit still has in the period, today included (a period not begun: all of it)
        greatest(date_diff('day', greatest(run.as_of, p.period_start), p.period_end) + 1, 0)::integer as days_left,
        run.as_of,
        s.days_per_missing,
        s.session_hours
    from {{ ref('requirement_compliance') }} c
    join {{ ref('int_requirement_periods') }} p using (year, requirement_id, period)
    join requirements q using (requirement_id)
    cross join run
    cross join settings s
), judged as (
    select
        *,
        case when still_needed = 0 then 'met'
             when period_end < as_of then 'unmet'
             -- each meeting still missing (hours: each `session_hours` short) needs `days_per_missing` days
             when days_left < days_per_missing
                  * ceil(case when measure = 'hours' then still_needed / session_hours else still_needed end)
                  then 'at_risk'
             else 'on_track'
        end as state
    from periods
), filings as (
    select
        f.year,
        f.unit_id,
        f.region,
        f.role,
        f.report_type as requirement_id,
        r.name,
        f.due_date,
        -- a filing dated after the computation date had not happened yet on it
        case when f.filed_date <= run.as_of then f.filed_date end as filed_date,
        date_diff('day', run.as_of, f.due_date) as days_to_due,
        run.as_of,
        s.filing_due_soon_days
    from {{ ref('filing_rates') }} f
    join {{ source('reference', 'rulebook_filing_requirements') }} r on r.requirement_id = f.report_type
    cross join run
    cross join settings s
)
select
    year,
    unit_id,
    region,
    role,
    'requirement' as kind,
    requirement_id,
    name,
    period,
    period_start,
    period_end as due_date,
    required,
    actual,
    still_needed,
    days_left,
    state,
    case state
        when 'met' then '已达标：' || period || '已有' || {{ fmt_points('actual') }} || case when measure = 'hours' then '学时' else '次' end
        when 'unmet' then '未达标：' || period || '实有' || {{ fmt_points('actual') }} || case when measure = 'hours' then '学时' else '次' end
            || '，要求' || {{ fmt_points('required') }} || case when measure = 'hours' then '学时' else '次' end
        else '还需在 ' || month(period_end) || ' 月 ' || day(period_end) || ' 日前'
            || case when measure = 'hours' then '完成 ' || {{ fmt_points('still_needed') }} || ' 学时' || meeting_name
                    else '开展 ' || {{ fmt_points('still_needed') }} || ' 次' || meeting_name end
            || case when state = 'at_risk' then '（仅剩 ' || days_left || ' 天）' else '' end
    end as message,
    as_of
from judged
union all
select
    year,
    unit_id,
    region,
    role,
    'filing' as kind,
    requirement_id,
    name,
    year::varchar as period,
    null::date as period_start,
    due_date,
    1.0 as required,
    (filed_date is not null)::integer::double as actual,
    (filed_date is null)::integer::double as still_needed,
    case when filed_date is null then greatest(days_to_due + 1, 0) end::integer as days_left,
    case when filed_date is not null then 'filed'
         when days_to_due < 0 then 'overdue'
         when days_to_due <= filing_due_soon_days then 'due_soon'
         else 'not_due'
    end as state,
    case when filed_date is not null then '已于 ' || strftime(filed_date, '%Y-%m-%d') || ' 报送' || name
         when days_to_due < 0 then '已逾期 ' || (-days_to_due) || ' 天：' || name || '应于 '
             || strftime(due_date, '%Y-%m-%d') || ' 前报送'
         else '还需在 ' || month(due_date) || ' 月 ' || day(due_date) || ' 日前报送' || name
             || case when days_to_due = 0 then '（今天到期）'
                     when days_to_due <= filing_due_soon_days then '（还有 ' || days_to_due || ' 天）' else '' end
    end as message,
    as_of
from filings
