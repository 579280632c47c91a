-- The inspection calendar of every year, and where the computation date stands in it.
with run as (
    select as_of from {{ source('reference', 'run_context') }}
), phases as (
    select
        y.year,
        c.phase_no,
        c.phase_id,
        c.name,
        make_date(y.year, c.start_month, c.start_day) as start_date,
        make_date(y.year, c.end_month, c.end_day) as end_date,
        c.source
    from {{ ref('int_years') }} y
    cross join {{ source('reference', 'rulebook_calendar') }} c
)
select
    p.year,
    p.phase_no,
    p.phase_id,
    p.name,
    p.start_date,
    p.end_date,
    case when p.end_date < run.as_of then 'done'
         when p.start_date <= run.as_of then 'current'
         else 'upcoming'
    end as state,
    p.source,
    run.as_of
from phases p
cross join run
