select role, name, unit_type, level, side, max_score, in_region_score, region_position, display_order
from {{ source('reference', 'rulebook_roles') }}
