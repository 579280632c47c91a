-- The region roles' units' improvement items, as the regions' paths read them
-- (int_improvement_region_paths). Made by role, as int_region_role_units.
select i.*
from {{ ref('int_improvement_items') }} i
where i.role in (select role from {{ source('reference', 'rulebook_roles') }} where in_region_score)
