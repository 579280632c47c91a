-- improvement_paths' rows of regions: a region's items are its region-role units' items, each counted
-- divided by the number of role scores its score is the mean of.
-- Read through the region roles' rows alone (int_region_role_units, int_region_role_items): a corrected
-- sheet of another role leaves what this model reads, and its rows, as they were.
with region_units as (
    select * from {{ ref('int_region_role_units') }}
), region_sizes as (
    -- how many role scores a region's score is the mean of
    select year, region, count(scaled_score) as roles_scored
    from region_units
    group by all
), region_items as (
    -- a unit's gain, on its sheet's ranking scale, moves its region's mean by the gain divided by the
    -- scores averaged
    select
        i.*,
        u.unit_name,
        u.region,
        g.score as region_score,
        g.rank as region_rank,
        i.points * coalesce(u.max_score / nullif(u.applicable_max, 0), 1) / greatest(z.roles_scored, 1)
            as region_share
    from {{ ref('int_region_role_items') }} i
    join region_units u using (year, unit_id, role)
    join {{ ref('region_rankings') }} g on g.year = i.year and g.region = u.region
    join region_sizes z on z.year = i.year and z.region = u.region
), candidates as (
    select year, 'region' as scope, region as subject, region as subject_name, 'region' as ranked_in, unit_id, role,
           task_no, unit_name || '：' || item as item, kind, action, due_date, effort, region_share as points,
           region_score as score, region_rank as rank
    from region_items
), standings as (
    select year, 'region' as ranked_in, score from {{ ref('region_rankings') }} where score is not null
),
{{ improvement_steps('candidates', 'standings') }}
