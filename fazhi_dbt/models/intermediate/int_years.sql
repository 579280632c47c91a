-- The assessment years the marts cover: every year folder in data/raw, and every year written
-- inside a score sheet (a sheet may name a year that has no folder of its own).
with folder_years as (
    select distinct folder_year as year
    from {{ source('ingest', 'raw_files') }}
    where folder_year is not null
), sheet_years as (
    select distinct year
    from {{ source('staging', 'stg_score_sheet_files') }}
    where year is not null
)
select year::integer as year from folder_years
union
select year::integer from sheet_years
