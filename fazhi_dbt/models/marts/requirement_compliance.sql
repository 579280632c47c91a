with run as (
    select as_of from {{ source('reference', 'run_context') }}
), meeting_groups as (
    -- a repeated meeting (same unit, date, type and topic) counts once. Meetings alike in all a requirement
    -- asks of them are counted together first: their types are unnested and matched once per group
    select year, unit_id, quarter, half, meeting_types,
           -- what the records held on the computation date (a ledger may list meetings planned after it)
           date <= (select as_of from run) as by_as_of,
           count(*) as meetings,
           sum(hours) as hours
    from {{ source('staging', 'stg_meetings') }}
    where not is_duplicate
    group by all
), counted_meetings as (
    -- one row per type a group's meetings are of
    select *, unnest(list_distinct(meeting_types)) as meeting_type
    from meeting_groups
), period_actuals as (
    select
        p.year,
        p.requirement_id,
        p.period,
        m.unit_id,
        case when any_value(p.measure) = 'hours' then coalesce(sum(m.hours), 0) else sum(m.meetings) end as actual,
        case when any_value(p.measure) = 'hours' then coalesce(sum(m.hours) filter (where m.by_as_of), 0)
             else coalesce(sum(m.meetings) filter (where m.by_as_of), 0) end as actual_as_of
    from counted_meetings m
    join (select *, unnest(list_distinct(meeting_types)) as meeting_type from {{ ref('int_requirement_periods') }}) p
      on p.year = m.year
     and p.meeting_type = m.meeting_type
     -- a meeting of several types the requirement names counts once, by the first of them
     and list_position(m.meeting_types, m.meeting_type)
         = list_position(list_transform(m.meeting_types, lambda t: list_contains(p.meeting_types, t)), true)
     and (p.period_kind = 'year'
          or (p.period_kind = 'quarter' and m.quarter = p.period_no)
          or (p.period_kind = 'half_year' and m.half = p.period_no))
    group by all
)
select
    u.year,
    p.period,
    u.unit_id,
    u.region,
    u.role,
    p.requirement_id,
    p.required,
    coalesce(a.actual, 0)::double as actual,
    coalesce(a.actual, 0) >= p.required as met,
    coalesce(a.actual_as_of, 0)::double as actual_as_of
from {{ ref('int_unit_years') }} u
join {{ ref('int_requirement_periods') }} p
  on p.year = u.year and list_contains(p.roles, u.role)
left join period_actuals a
  on a.year = u.year and a.unit_id = u.unit_id and a.requirement_id = p.requirement_id and a.period = p.period
