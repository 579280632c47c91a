-- The units whose score sheet of a year was not received, as int_missing_submissions reads them: a
-- corrected sheet changes its role's scores and ranks, not which sheets are missing, so what units owe
-- is kept as it was.
select year, unit_id, role
from {{ ref('unit_scores') }}
where status = 'missing'
