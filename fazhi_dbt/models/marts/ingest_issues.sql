{%- set year_issue_tables = ['stg_score_sheet_issues', 'stg_meeting_issues', 'stg_filing_issues',
                             'stg_normative_doc_issues', 'stg_rectification_issues',
                             'stg_other_file_issues'] -%}
with year_issues as (
    {% for table in year_issue_tables -%}
    select year, file, sheet, "row", unit, unit_id, row_unit_id, severity, code, message
    from {{ source('staging', table) }}
    {% if not loop.last %}union all
    {% endif %}
    {%- endfor %}
), removed as (
    -- a file that left data/raw: the year it counted in no longer counts it
    select year, file, sheet, "row", unit, unit_id, row_unit_id, severity, code, message
    from {{ ref('int_removed_file_issues') }}
), registry as (
    -- the unit registry's problems and files of no year (year null)
    select year, file, sheet, "row", unit, unit_id, row_unit_id, severity, code, message
    from {{ source('reference', 'stg_registry_issues') }}
), dated as (
    select * from year_issues
    union all
    select * from removed
)
select d.file, d.sheet, d."row", d.year, d.unit, d.severity, d.code, d.message, d.unit_id, d.row_unit_id
from dated d
join {{ ref('int_years') }} y using (year)
union all
select file, sheet, "row", year, unit, severity, code, message, unit_id, row_unit_id
from registry
