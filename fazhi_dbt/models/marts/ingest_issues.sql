{%- set year_issue_tables = ['stg_score_sheet_issues', 'stg_meeting_issues', 'stg_filing_issues',
                             'stg_normative_doc_issues', 'stg_other_file_issues'] -%}
with year_issues as (
    {% for table in year_issue_tables -%}
    select year, file, sheet, "row", unit, severity, code, message
    from {{ source('staging', table) }}
    {% if not loop.last %}union all
    {% endif %}
    {%- endfor %}
), removed as (
    -- a file that left data/raw: its year's results no longer count it
    select
        year, path as file, null::varchar as sheet, null::integer as "row", null::varchar as unit,
        'warning' as severity, 'file_removed' as code,
        '文件已从 data/raw 中移除（' || strftime(removed_at + interval 8 hour, '%Y-%m-%d %H:%M')
            || '，北京时间），其数据不再计入本年度结果；如属误删，请重新放回原文件。' as message
    from {{ source('ingest', 'removed_files') }}
), registry as (
    -- the unit registry's problems and files of no year (year null)
    select year, file, sheet, "row", unit, severity, code, message
    from {{ source('reference', 'stg_registry_issues') }}
), dated as (
    select * from year_issues
    union all
    select * from removed
)
select d.file, d.sheet, d."row", d.year, d.unit, d.severity, d.code, d.message
from dated d
join {{ ref('int_years') }} y using (year)
union all
select file, sheet, "row", year, unit, severity, code, message
from registry
