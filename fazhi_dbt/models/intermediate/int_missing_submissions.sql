-- What a unit owes, as feedback items: a score sheet not received for a year that is over, a required
-- report not filed and past due. Apart from feedback_items, whose other items are by file: these read
-- the missing sheets and the filing rates whole, and are kept while neither changes (a corrected score
-- sheet changes neither).
with run as (
    select as_of from {{ source('reference', 'run_context') }}
), owed as (
    select s.year, s.unit_id, 'missing_score_sheet' as code,
           '未收到' || s.year || '年度打分表（' || coalesce(r.name, s.role) || '）。' as message
    from {{ ref('int_missing_score_sheets') }} s
    left join {{ source('reference', 'rulebook_roles') }} r using (role)
    -- a score sheet is owed once its year is over: the running year's come after it ends
    where s.year < (select year(as_of) from run)
    union all
    select f.year, f.unit_id, 'filing_overdue',
           '未见“' || coalesce(q.name, f.report_type) || '”的报送记录（应报日期' || strftime(f.due_date, '%Y-%m-%d')
               || '，已逾期' || f.days_late || '天）。'
    from {{ ref('filing_rates') }} f
    left join {{ source('reference', 'rulebook_filing_requirements') }} q on q.requirement_id = f.report_type
    where f.filed = 0 and f.days_late > 0
)
select
    year, unit_id, null::varchar as unit_text,
    'missing_submission' as category, 'error' as severity,
    null::varchar as file, null::varchar as sheet, null::integer as "row",
    false as is_summary, 1 as rows_affected, null::integer[] as example_rows,
    code, message
from owed
