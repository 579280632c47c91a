{# Every rejected row of a file has an error naming that row in the kind's issues table. #}
{% test rejected_rows_have_issues(model, issues) %}
select f.year, f.file, f.rows_rejected, coalesce(i.n, 0) as rows_with_errors
from {{ model }} f
left join (
    select year, file, count(distinct (sheet, "row")) as n from {{ issues }}
    where severity = 'error' and "row" is not null group by all
) i on i.year = f.year and i.file = f.file
where f.rows_rejected > coalesce(i.n, 0)
{% endtest %}
