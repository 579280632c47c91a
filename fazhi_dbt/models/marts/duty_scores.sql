-- A unit's score rate on each duty group (主要职责) of its sheet, beside its peers' median (same role)
-- and its own rate the year before: what weak spots and the heatmap compare.
with duties as (
    select
        t.year,
        t.unit_id,
        u.region,
        t.role,
        t.duty_no,
        any_value(k.duty) as duty,
        sum(t.points) as points,
        -- a task that does not apply (不适用) leaves the denominator
        sum(t.max_points) filter (where t.flag is distinct from 'not_applicable') as applicable_max
    from {{ ref('task_scores') }} t
    join {{ ref('units') }} u on u.unit_id = t.unit_id
    join {{ ref('score_sheet_tasks') }} k on k.role = t.role and k.duty_no = t.duty_no and k.task_no = t.task_no
    group by t.year, t.unit_id, u.region, t.role, t.duty_no
), rated as (
    select *, points / nullif(applicable_max, 0) as rate
    from duties
), peers as (
    -- one median per group, joined back: a window over each group took as long as the rest of the model
    select year, role, duty_no, median(rate) as peer_median
    from rated
    group by all
)
select
    r.year,
    r.unit_id,
    r.region,
    r.role,
    r.duty_no,
    r.duty,
    r.points,
    r.applicable_max,
    r.rate,
    m.peer_median,
    p.rate as prev_rate
from rated r
join peers m on m.year is not distinct from r.year and m.role is not distinct from r.role
    and m.duty_no is not distinct from r.duty_no
left join rated p on p.year = r.year - 1 and p.unit_id = r.unit_id and p.role = r.role and p.duty_no = r.duty_no
