-- What each unit must be told about its year: rejected files, row errors and warnings, missing score sheets,
-- overdue reports and self-scores the records contradict. Many rows of one file with the same code become
-- one summarised item (the row-level detail stays in ingest_issues): a clerk forwards a notice, not a dump.
{%- set summary_min_rows = var('feedback_summary_min_rows', 4) %}
{%- set example_rows = var('feedback_example_rows', 5) %}
with context as (
    select r.as_of, (r.as_of + i.resubmit_days)::date as resubmit_by
    from {{ source('reference', 'run_context') }} r
    cross join {{ source('reference', 'rulebook_info') }} i
), file_status as (
    -- a file all of whose sheets were superseded by a newer submission: the unit has already resent it
    select year, file, bool_and(status = 'superseded') as superseded
    from {{ ref('submissions') }}
    where year is not null
    group by year, file
), file_units as (
    -- the unit of a file (one unit only) and of each score sheet in it
    select year, file, case when count(distinct unit_id) = 1 then min(unit_id) end as unit_id
    from {{ ref('submissions') }}
    where year is not null
    group by year, file
), sheet_units as (
    select year, file, sheet, case when count(distinct unit_id) = 1 then min(unit_id) end as unit_id
    from {{ ref('submissions') }}
    where year is not null and sheet is not null
    group by year, file, sheet
), rejected as (
    select
        s.year, s.file, s.sheet, s.status_reason,
        coalesce(fu.unit_id, su.unit_id, s.unit_id) as unit_id
    from {{ ref('submissions') }} s
    left join file_units fu on fu.year = s.year and fu.file = s.file
    left join sheet_units su on su.year = s.year and su.file = s.file and su.sheet = s.sheet
    where s.status = 'rejected' and s.year is not null
), issues as (
    -- the year's issues a unit can act on: not the registry's (no year; the office keeps the registry), not a
    -- removed file's or an office lock file's (the office's doing), not those of a file already resent
    select i.*
    from {{ ref('ingest_issues') }} i
    left join file_status fs on fs.year = i.year and fs.file = i.file
    where i.year is not null
      and i.code not in ('file_removed', 'office_lock_file')
      and not coalesce(fs.superseded, false)
      -- a rejected file's own reason is said once, by its rejected_file item
      and not (i."row" is null and i.severity = 'error' and exists (
          select 1 from rejected r
          where r.year = i.year and r.file = i.file and r.sheet is not distinct from i.sheet
            and r.status_reason = i.message))
), resolved as (
    -- the unit a loaded row (found in staging), the sheet or the file belongs to; else the one the issue's
    -- own unit name (or its file name) resolves to in staging
    select i.*, coalesce(i.row_unit_id, su.unit_id, fu.unit_id, i.unit_id) as unit_id_resolved
    from issues i
    left join sheet_units su on su.year = i.year and su.file = i.file and su.sheet = i.sheet
    left join file_units fu on fu.year = i.year and fu.file = i.file
), grouped as (
    -- rows of one file with the same code (and, for an unresolved unit, the same name as written)
    select
        year,
        unit_id_resolved as unit_id,
        case when unit_id_resolved is null then unit end as unit_text,
        severity,
        file,
        sheet,
        code,
        count(*) as n,
        count("row") as rows_with_number,
        -- only what an item shows is kept: the first rows, the first message, the items of a small group
        min("row", {{ example_rows }}) as example_rows,
        min(struct_pack(numbered := "row" is not null, "row" := "row", message := message),
            {{ [summary_min_rows - 1, 1] | max }}) as items
    from resolved
    group by all
), issue_items as (
    select
        year, unit_id, unit_text,
        case severity when 'error' then 'error' else 'warning' end as category,
        severity, file, sheet,
        null::integer as "row",
        true as is_summary,
        n::integer as rows_affected,
        example_rows::integer[] as example_rows,
        code,
        case when rows_with_number > 0
             then '同类问题共' || n || '行（第' || array_to_string(example_rows, '、')
                  || '行' || case when rows_with_number > {{ example_rows }} then '等' else '' end || '）。例：'
             else '同类问题共' || n || '处。例：'
        end || items[1].message as message
    from grouped
    where n >= {{ summary_min_rows }}
    union all
    select
        year, unit_id, unit_text,
        case severity when 'error' then 'error' else 'warning' end as category,
        severity, file, sheet,
        item."row" as "row",
        false as is_summary,
        1 as rows_affected,
        null::integer[] as example_rows,
        code,
        item.message as message
    from (select *, unnest(items) as item from grouped where n < {{ summary_min_rows }})
), issue_file_units as (
    -- the unit a rejected file's issues agree on (their unit names, or the file name, resolved in staging)
    select year, file, case when count(distinct unit_id) = 1 then min(unit_id) end as unit_id,
           case when count(distinct unit) = 1 then min(unit) end as unit_text
    from {{ ref('ingest_issues') }}
    where year is not null
    group by year, file
), rejected_items as (
    select
        r.year,
        coalesce(r.unit_id, iu.unit_id) as unit_id,
        -- unresolved: the one name its rows wrote, if they agree
        case when coalesce(r.unit_id, iu.unit_id) is null then iu.unit_text end as unit_text,
        'rejected_file' as category,
        'error' as severity,
        r.file, r.sheet,
        null::integer as "row",
        false as is_summary,
        1 as rows_affected,
        null::integer[] as example_rows,
        coalesce((
            select min(i.code) from {{ ref('ingest_issues') }} i
            where i.year = r.year and i.file = r.file and i.sheet is not distinct from r.sheet
              and i."row" is null and i.severity = 'error' and i.message = r.status_reason
        ), 'file_rejected') as code,
        coalesce(r.status_reason, '文件中没有一行可以采用，整个文件未被采用（原因见下列各项）。') as message
    from rejected r
    left join issue_file_units iu on iu.year = r.year and iu.file = r.file
), shortfalls as (
    select
        t.year, t.unit_id, null::varchar as unit_text,
        'evidence_shortfall' as category, 'warning' as severity,
        t.file, t.sheet, t."row",
        false as is_summary, 1 as rows_affected, null::integer[] as example_rows,
        'evidence_shortfall' as code,
        '打分表第' || t.task_no || '项自评与记录不符：' || t.flag_note || '。' as message
    from {{ ref('task_scores') }} t
    where t.flag = 'evidence_shortfall'
), items as (
    select * from rejected_items
    union all by name
    select * from issue_items
    union all by name
    select * from {{ ref('int_missing_submissions') }}
    union all by name
    select * from shortfalls
)
select
    i.year,
    i.unit_id,
    u.unit_name,
    u.region,
    i.unit_text,
    i.category,
    i.severity,
    i.file,
    i.sheet,
    i."row",
    i.is_summary,
    i.rows_affected,
    i.example_rows,
    i.code,
    i.message,
    case i.category
        when 'rejected_file' then '整个文件未被采用：请按说明处理后重新报送该文件。'
        when 'error' then case when i.is_summary
                               then '以上各行未被采用：请逐行核对文件中的同类问题，改正后重新报送该文件。'
                               else '该项未被采用：请按说明改正后重新报送该文件。' end
        when 'warning' then '已按说明处理并采用：请核对；如有误，请改正后重新报送该文件。'
        when 'missing_submission' then case i.code
                               when 'missing_score_sheet' then '请按打分表模板填写并报送。'
                               else '请尽快报送该报告，并在报送登记中如实登记报送日期。' end
        when 'evidence_shortfall' then '请按会议、报送等实际记录核实该项自评分：如有漏报的记录，请补报相应台账；否则请修改自评分后重新报送打分表。'
    end as action,
    c.resubmit_by
from items i
left join {{ source('reference', 'stg_units') }} u using (unit_id)
cross join context c
