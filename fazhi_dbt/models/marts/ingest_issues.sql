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
), sheet_years as (
    -- the year written inside a score sheet, which is the year it counted in
    select sha256, max(year) as year
    from (
        select sha256, try_cast(unnest(json_extract(meta, '$.sheets.*.year')) as integer) as year
        from {{ source('ingest', 'parsed_files') }}
        where kind = 'score_sheet'
    )
    group by sha256
), removed as (
    -- a file that left data/raw: the year it counted in no longer counts it
    select
        coalesce(s.year, r.year) as year, r.path as file, null::varchar as sheet, null::integer as "row", null::varchar as unit,
        null::varchar as unit_id, null::varchar as row_unit_id,
        'warning' as severity, 'file_removed' as code,
        '文件已从 data/raw 中移除（' || strftime(removed_at + interval 8 hour, '%Y-%m-%d %H:%M')
            || '，北京时间），其数据不再计入本年度结果；如属误删，请重新放回原文件。' as message
    from {{ source('ingest', 'removed_files') }} r
    left join sheet_years s on r.kind = 'score_sheet' and s.sha256 = r.sha256
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
