select
    m.year,
    m.unit_id,
    m.region,
    m.role,
    m.date,
    m.quarter,
    m.type_text,
    m.topic,
    m.meeting_types,
    m.is_study,
    m.hours,
    m.is_duplicate,
    m.file,
    m.sheet,
    m."row"
from {{ source('staging', 'stg_meetings') }} m
join {{ ref('int_years') }} y using (year)
