with issued_docs as (
    select
        d.year,
        d.unit_id,
        count(*) as issued,
        count(d.filed_date) as filed,
        -- on time: filed within the rulebook's deadline of issue, the last day included
        count(*) filter (where d.filed_date is not null
                           and date_diff('day', d.issued_date, d.filed_date) <= i.normative_deadline_days)
            as filed_on_time,
        count(*) filter (where d.filed_date is not null and d.compliant) as compliant
    from {{ source('staging', 'stg_normative_docs') }} d
    cross join {{ source('reference', 'rulebook_info') }} i
    group by all
)
select
    u.year,
    u.unit_id,
    u.region,
    u.role,
    coalesce(d.issued, 0)::integer as issued,
    coalesce(d.filed, 0)::integer as filed,
    coalesce(d.filed_on_time, 0)::integer as filed_on_time,
    coalesce(d.compliant, 0)::integer as compliant,
    d.filed / nullif(d.issued, 0) as filing_rate,
    d.filed_on_time / nullif(d.issued, 0) as timely_rate,
    d.compliant / nullif(d.filed, 0) as compliance_rate
from {{ ref('int_unit_years') }} u
left join issued_docs d on d.year = u.year and d.unit_id = u.unit_id
