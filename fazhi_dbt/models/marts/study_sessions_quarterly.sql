with study_meetings as (
    -- a meeting counts once however many study types it is, and a repeated meeting not at all
    select year, unit_id, quarter, count(*) as sessions
    from {{ source('staging', 'stg_meetings') }}
    where is_study and not is_duplicate
    group by all
), quarters as (
    select q::integer as quarter from range(1, 5) t(q)
)
select
    u.year,
    q.quarter,
    u.unit_id,
    u.region,
    u.role,
    coalesce(s.sessions, 0)::integer as sessions,
    r.study_required_per_quarter as required,
    coalesce(s.sessions, 0) >= r.study_required_per_quarter as met
from {{ ref('int_unit_years') }} u
cross join quarters q
join {{ source('reference', 'rulebook_roles') }} r on r.role = u.role
left join study_meetings s on s.year = u.year and s.unit_id = u.unit_id and s.quarter = q.quarter
