-- What it would take: per unit and per region, the items that would add points, easiest first (the
-- rulebook's effort, then the most points), with the score and rank each step would reach while the
-- others stay as they are; and the smallest set of items that would have lifted it one place.
with unit_items as (
    select
        i.*,
        u.unit_name,
        u.region,
        u.rank,
        u.scaled_score as score,
        -- an item's points on the unit's ranking scale (a task that does not apply widens it)
        i.points * coalesce(u.max_score / nullif(u.applicable_max, 0), 1) as scaled_points
    from {{ ref('int_improvement_items') }} i
    join {{ ref('unit_scores') }} u using (year, unit_id, role)
), region_roles as (
    select role from {{ source('reference', 'rulebook_roles') }} where in_region_score
), region_sizes as (
    -- how many role scores a region's score is the mean of
    select u.year, u.region, count(u.scaled_score) as roles_scored
    from {{ ref('unit_scores') }} u
    join region_roles r using (role)
    group by all
), region_items as (
    -- a unit's gain moves its region's mean by the gain divided by the scores averaged
    select
        i.*,
        g.score as region_score,
        g.rank as region_rank,
        i.scaled_points / greatest(z.roles_scored, 1) as region_share
    from unit_items i
    join region_roles r using (role)
    join {{ ref('region_rankings') }} g on g.year = i.year and g.region = i.region
    join region_sizes z on z.year = i.year and z.region = i.region
), candidates as (
    select year, 'unit' as scope, unit_id as subject, unit_name as subject_name, role as ranked_in, unit_id, role,
           task_no, item, kind, action, due_date, effort, scaled_points as points, score, rank
    from unit_items
    union all
    select year, 'region', region, region, 'region', unit_id, role,
           task_no, unit_name || '：' || item, kind, action, due_date, effort, region_share, region_score, region_rank
    from region_items
), ordered as (
    select
        *,
        row_number() over easiest as step,
        -- the points of the steps so far, over the same order: one sort for both
        sum(points) over (easiest rows between unbounded preceding and current row) as cum_points
    from candidates
    window easiest as (partition by year, scope, subject order by effort, points desc, unit_id, task_no, kind)
), stepped as (
    select
        *,
        -- largest first: the fewest items that close a gap
        sum(points) over (partition by year, scope, subject order by points desc, step) as largest_first
    from ordered
), standings as (
    -- every ranked score of each ranking (units within their role, regions), with how many reach it
    select year, role as ranked_in, scaled_score as score from {{ ref('unit_scores') }} where scaled_score is not null
    union all
    select year, 'region', score from {{ ref('region_rankings') }} where score is not null
), thresholds as (
    select year, ranked_in, score, count(*) as reaching
    from standings
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
