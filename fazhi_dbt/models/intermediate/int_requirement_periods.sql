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
    -- the period's first and last day: quarters and halves are calendar months 3 and 6 long
    make_date(y.year, case p.period_kind when 'quarter' then 3 * p.period_no - 2
                                          when 'half_year' then 6 * p.period_no - 5 else 1 end, 1) as period_start,
    (make_date(y.year, case p.period_kind when 'quarter' then 3 * p.period_no - 2
                                           when 'half_year' then 6 * p.period_no - 5 else 1 end, 1)
     + to_months(case p.period_kind when 'quarter' then 3 when 'half_year' then 6 else 12 end)
     - interval 1 day)::date as period_end,
    r.required,
    r.measure,
    r.roles,
    r.meeting_types
from {{ ref('int_years') }} y
cross join {{ source('reference', 'rulebook_frequency_requirements') }} r
-- a period the rulebook does not know counts as the whole year (the rulebook only allows these three)
join period_shapes p
  on p.period_kind = case when r.period in ('quarter', 'half_year') then r.period else 'year' end
