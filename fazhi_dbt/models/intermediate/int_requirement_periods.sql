-- Each frequency requirement's periods in each year: four quarters, two half-years, or the year.
with period_shapes as (
    select 'quarter' as period_kind, q::integer as period_no, 'Q' || q as suffix from range(1, 5) t(q)
    union all
    select 'half_year', h::integer, 'H' || h from range(1, 3) t(h)
    union all
    select 'year', 0, ''
)
select
    y.year,
    r.requirement_id,
    y.year::varchar || p.suffix as period,
    p.period_kind,
    p.period_no,
    r.required,
    r.measure,
    r.roles,
    r.meeting_types
from {{ ref('int_years') }} y
cross join {{ source('reference', 'rulebook_frequency_requirements') }} r
-- a period the rulebook does not know counts as the whole year (the rulebook only allows these three)
join period_shapes p
  on p.period_kind = case when r.period in ('quarter', 'half_year') then r.period else 'year' end
