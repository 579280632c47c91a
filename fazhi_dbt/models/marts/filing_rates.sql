with run as (
    select as_of from {{ source('reference', 'run_context') }}
), filed_reports as (
    -- the earliest filing counts; a due date written in the register overrides the rulebook's
    select year, unit_id, report_type, min(filed_date) as filed_date, min(due_date) as due_override
    from {{ source('staging', 'stg_filings') }}
    group by all
), required_reports as (
    select
        u.year,
        u.unit_id,
        u.region,
        u.role,
        r.requirement_id as report_type,
        f.filed_date,
        coalesce(f.due_override, make_date(u.year + r.due_year_offset, r.due_month, r.due_day)) as due_date
    from {{ ref('int_unit_years') }} u
    join {{ source('reference', 'rulebook_filing_requirements') }} r on list_contains(r.roles, u.role)
    left join filed_reports f
      on f.year = u.year and f.unit_id = u.unit_id and f.report_type = r.requirement_id
)
select
    year,
    unit_id,
    region,
    role,
    report_type,
    1 as required,
    (filed_date is not null)::integer as filed,
    -- filed on the due date itself is on time
    (filed_date is not null and filed_date <= due_date)::integer as on_time,
    (filed_date is not null)::integer::double as filing_rate,
    (filed_date is not null and filed_date <= due_date)::integer::double as on_time_rate,
    due_date,
    filed_date,
    case when filed_date is not null then greatest(date_diff('day', due_date, filed_date), 0)
         when due_date < run.as_of then date_diff('day', due_date, run.as_of)
    end::integer as days_late
from required_reports
cross join run
