-- Every registry unit in every year: the marts that list each unit whether or not it sent anything
-- start from here.
select
    y.year,
    u.unit_id,
    u.unit_name,
    u.unit_type,
    u.role,
    u.region
from {{ ref('int_years') }} y
cross join {{ source('reference', 'stg_units') }} u
