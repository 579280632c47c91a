-- The region roles' units' scores, as the regions' scores and paths read them (region_rankings,
-- int_improvement_region_paths). Made by role: a corrected sheet of another role leaves them as they
-- were, and the regions' scores and paths with them.
select u.year, u.unit_id, u.unit_name, u.region, u.role, u.max_score, u.applicable_max, u.scaled_score,
       u.status, u.sheet_due
from {{ ref('unit_scores') }} u
where u.role in (select role from {{ source('reference', 'rulebook_roles') }} where in_region_score)
