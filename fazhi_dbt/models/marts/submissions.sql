{%- set file_tables = ['stg_score_sheet_files', 'stg_meeting_files', 'stg_filing_files',
                       'stg_normative_doc_files', 'stg_rectification_files', 'stg_other_files'] -%}
with files as (
    {% for table in file_tables -%}
    select * from {{ source('staging', table) }}
    {% if not loop.last %}union all by name
    {% endif %}
    {%- endfor %}
)
select
    f.file,
    f.sha256,
    f.kind,
    f.year,
    f.unit_id,
    f.role,
    f.rows_read,
    f.rows_loaded,
    f.rows_rejected,
    f.status,
    f.superseded_by,
    f.loaded_at,
    f.sheet,
    f.status_reason,
    f.mtime as file_modified_at
from files f
join {{ ref('int_years') }} y using (year)
