{#- What it would take, from a subject's items: shared by the paths of units (int_improvement_unit_paths)
    and of regions (int_improvement_region_paths), which improvement_paths publishes as one table.
    `candidates`: each subject's items (year, scope, subject, subject_name, ranked_in, unit_id, role,
    task_no, item, kind, action, due_date, effort, points, score, rank), their points on the subject's
    ranking scale; `standings`: every ranked score of the rankings they are in (year, ranked_in, score).
    Continues a `with` clause and ends it with the rows of improvement_paths' contract. -#}

{% macro improvement_steps(candidates, standings) %}
ordered as (
    select
        *,
        row_number() over easiest as step,
        -- the points of the steps so far, over the same order: one sort for both
        sum(points) over (easiest rows between unbounded preceding and current row) as cum_points
    from {{ candidates }}
    window easiest as (partition by year, scope, subject order by effort, points desc, unit_id, task_no, kind)
), stepped as (
    select
        *,
        -- largest first: the fewest items that close a gap
        sum(points) over (partition by year, scope, subject order by points desc, step) as largest_first
    from ordered
), thresholds as (
    -- each ranked score, with how many reach it
    select year, ranked_in, score, count(*) as reaching
    from {{ standings }}
    group by all
), cumulative as (
    select year, ranked_in, score,
           sum(reaching) over (partition by year, ranked_in order by score desc) as at_or_above
    from thresholds
), lifts as (
    -- what all of a subject's items add, largest first: one value per subject, joined back
    select year, scope, subject, max(largest_first) as all_items
    from stepped
    group by all
), reached as (
    select
        s.*,
        s.score + s.cum_points as score_after,
        -- the closest score above the subject's own: reaching it lifts it at least one place
        (select min(c.score) from cumulative c
          where c.year = s.year and c.ranked_in = s.ranked_in and c.score > s.score + 1e-9) as next_above
    from stepped s
)
select
    r.year,
    r.scope,
    r.subject,
    r.subject_name,
    r.step::integer as step,
    r.kind,
    r.unit_id,
    r.role,
    r.task_no,
    r.item,
    r.action,
    r.due_date,
    r.effort,
    r.points,
    r.cum_points,
    r.score,
    r.score_after,
    r.rank,
    -- others keep their scores: 1 + those scoring more than the new score
    case when r.score is not null then 1 + coalesce((
        select max(c.at_or_above) from cumulative c
         where c.year = r.year and c.ranked_in = r.ranked_in and c.score > r.score_after + 1e-9), 0) end::integer
        as rank_after,
    -- in the smallest set of items (largest first) that reaches the score just above
    coalesce(r.next_above is not null
             and r.largest_first - r.points < r.next_above - r.score - 1e-9
             and l.all_items >= r.next_above - r.score - 1e-9,
             false) as in_smallest_lift
from reached r
join lifts l on l.year is not distinct from r.year and l.scope = r.scope and l.subject is not distinct from r.subject
{% endmacro %}
