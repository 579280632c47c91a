with sheet_scores as (
    select
        year,
        unit_id,
        role,
        sum(points) as score,
        case when count(self_points) > 0 then sum(self_points) end as self_score,
        case when count(verified_points) > 0 then sum(verified_points) end as verified_score,
        case when bool_and(score_source = 'verified') then 'verified'
             when bool_and(coalesce(score_source, 'self') = 'self') then 'self'
             else 'mixed'
        end as score_source,
        bool_or(flag in ('missing_task', 'invalid_score', 'blank_score')) as has_gaps,
        any_value(file) as source_file
    from {{ source('staging', 'stg_task_scores') }}
    group by all
), unit_years as (
    -- every registry unit of a role with a score sheet template, every year
    select
        u.year,
        u.unit_id,
        u.unit_name,
        u.region,
        u.role,
        s.score,
        r.max_score,
        s.score / nullif(r.max_score, 0) as score_rate,
        s.self_score,
        s.verified_score,
        s.score_source,
        case when s.unit_id is null then 'missing' when s.has_gaps then 'incomplete' else 'scored' end as status,
        s.source_file
    from {{ ref('int_unit_years') }} u
    join {{ source('reference', 'rulebook_roles') }} r on r.role = u.role and r.max_score is not null
    left join sheet_scores s on s.year = u.year and s.unit_id = u.unit_id and s.role = u.role
), ranked as (
    select
        *,
        -- within the role across the city
        {{ ranking_columns('year, role') }}
    from unit_years
), bottom_cuts as (
    {{ bottom_cuts('ranked', 'k.year, k.role') }}
)
select
    r.year,
    r.unit_id,
    r.unit_name,
    r.region,
    r.role,
    r.score,
    r.max_score,
    r.score_rate,
    r.self_score,
    r.verified_score,
    r.score_source,
    r.rank::integer as rank,
    r.rank_total::integer as rank_total,
    r.status,
    {{ is_bottom('r', 'c') }} as is_bottom,
    r.source_file,
    p.score as prev_score,
    p.rank::integer as prev_rank
from ranked r
left join bottom_cuts c on c.year = r.year and c.role = r.role
left join ranked p on p.year = r.year - 1 and p.unit_id = r.unit_id and p.role = r.role
