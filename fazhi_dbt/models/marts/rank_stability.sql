-- The rank-stability simulation's result (intermediate/int_rank_stability.py), typed for publication.
select
    year::integer as year,
    scope::varchar as scope,
    subject::varchar as subject,
    subject_name::varchar as subject_name,
    region::varchar as region,
    score::double as score,
    rank::integer as rank,
    rank_total::integer as rank_total,
    median::double as median,
    p05::integer as p05,
    p95::integer as p95,
    tier::integer as tier,
    tier_name::varchar as tier_name,
    prev_rank::integer as prev_rank,
    stable_change::boolean as stable_change,
    above_subject::varchar as above_subject,
    p_below_above::double as p_below_above,
    distinct_from_above::boolean as distinct_from_above,
    draws::integer as draws
from {{ ref('int_rank_stability') }}
