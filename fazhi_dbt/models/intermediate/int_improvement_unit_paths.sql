-- improvement_paths' rows of units, each ranked within its role: a role's rows are made from that
-- role's items and scores alone (so a corrected sheet makes its role's rows again, not the regions').
with unit_items as (
    select
        i.*,
        u.unit_name,
        u.rank,
        u.scaled_score as score,
        -- an item's points on the unit's ranking scale (a task that does not apply widens it)
        i.points * coalesce(u.max_score / nullif(u.applicable_max, 0), 1) as scaled_points
    from {{ ref('int_improvement_items') }} i
    join {{ ref('unit_scores') }} u using (year, unit_id, role)
), candidates as (
    select year, 'unit' as scope, unit_id as subject, unit_name as subject_name, role as ranked_in, unit_id, role,
           task_no, item, kind, action, due_date, effort, scaled_points as points, score, rank
    from unit_items
), standings as (
    select year, role as ranked_in, scaled_score as score from {{ ref('unit_scores') }} where scaled_score is not null
),
{{ improvement_steps('candidates', 'standings') }}
