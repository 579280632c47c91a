-- A file that left data/raw, as an issue of the year it counted in: for a score sheet the year written
-- inside it, for another file its folder's. Apart from ingest_issues because it reads the parse cache,
-- which changes with every file parsed: ingest_issues then reads only tables whose rows are by file.
with sheet_years as (
    select sha256, max(year) as year
    from (
        select p.sha256, try_cast(unnest(json_extract(p.meta, '$.sheets.*.year')) as integer) as year
        from {{ source('ingest', 'parsed_files') }} p
        where p.kind = 'score_sheet'
          and p.sha256 in (select sha256 from {{ source('ingest', 'removed_files') }})
    )
    group by sha256
)
select
    coalesce(s.year, r.year) as year,
    r.path as file,
    null::varchar as sheet,
    null::integer as "row",
    null::varchar as unit,
    null::varchar as unit_id,
    null::varchar as row_unit_id,
    'warning' as severity,
    'file_removed' as code,
    '文件已从 data/raw 中移除（' || strftime(r.removed_at + interval 8 hour, '%Y-%m-%d %H:%M')
        || '，北京时间），其数据不再计入本年度结果；如属误删，请重新放回原文件。' as message
from {{ source('ingest', 'removed_files') }} r
left join sheet_years s on r.kind = 'score_sheet' and s.sha256 = r.sha256
