-- Rectification per unit and per region: items, done, overdue, on-time rate, and the two flags the
-- rulebook sets (a self-inspection report filed without a problem list; inspection feedback without
-- a measure).
with settings as (
    select problem_list_filing, problem_list_source from {{ source('reference', 'rulebook_info') }}
), unit_items as (
    select
        year,
        unit_id,
        count(*) as items,
        count(*) filter (where status = 'done') as done,
        count(*) filter (where is_overdue) as overdue,
        count(*) filter (where on_time) as done_on_time,
        count(*) filter (where status = 'done' and not on_time) as done_late,
        count(*) filter (where flag = 'no_measure') as without_measure,
        count(*) filter (where source = (select problem_list_source from settings)) as problem_list_items
    from {{ ref('rectification_items') }}
    group by all
), reported as (
    select year, unit_id
    from {{ ref('filing_rates') }}
    where report_type = (select problem_list_filing from settings) and filed = 1
), units as (
    select
        u.year,
        u.unit_id,
        u.unit_name,
        u.region,
        coalesce(i.items, 0) as items,
        coalesce(i.done, 0) as done,
        coalesce(i.overdue, 0) as overdue,
        coalesce(i.done_on_time, 0) as done_on_time,
        coalesce(i.done_late, 0) as done_late,
        coalesce(i.without_measure, 0) as without_measure,
        r.unit_id is not null as reported_self_inspection,
        (r.unit_id is not null and coalesce(i.problem_list_items, 0) = 0)::integer as without_problem_list
    from {{ ref('int_unit_years') }} u
    left join unit_items i using (year, unit_id)
    left join reported r using (year, unit_id)
    -- a unit is listed once it has items or owes a problem list
    where i.unit_id is not null or r.unit_id is not null
), both_scopes as (
    select
        year, 'unit' as scope, unit_id as subject, region, unit_id, unit_name, 1 as units,
        items, done, overdue, done_on_time, done_late, without_measure, without_problem_list
    from units
    union all
    select
        year, 'region', region, region, null, null, count(*),
        sum(items), sum(done), sum(overdue), sum(done_on_time), sum(done_late), sum(without_measure),
        sum(without_problem_list)
    from units
    group by year, region
)
select
    year,
    scope,
    subject,
    region,
    unit_id,
    unit_name,
    units::integer as units,
    items::integer as items,
    done::integer as done,
    overdue::integer as overdue,
    done_on_time::integer as done_on_time,
    done_late::integer as done_late,
    -- of the items whose outcome against the deadline is known: on time / (on time + late + overdue)
    case when done_on_time + done_late + overdue > 0
         then done_on_time / (done_on_time + done_late + overdue) end::double as on_time_rate,
    case when items > 0 then done / items end::double as done_rate,
    without_measure::integer as without_measure,
    without_problem_list::integer as without_problem_list
from both_scopes
