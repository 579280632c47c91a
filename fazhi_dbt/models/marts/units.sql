select unit_id, unit_name, unit_type, role, region, aliases
from {{ source('reference', 'stg_units') }}
