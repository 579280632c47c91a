-- Every problem on a unit's rectification ledger and where it stands on the computation date: a
-- completion dated after that date had not happened yet; an item is overdue the day after its deadline.
with run as (
    select as_of from {{ source('reference', 'run_context') }}
), settings as (
    select feedback_source from {{ source('reference', 'rulebook_info') }}
), items as (
    select
        r.*,
        run.as_of,
        case when r.status = 'done' and (r.done_date is null or r.done_date <= run.as_of) then 'done'
             when r.status = 'done' then 'in_progress'
             else r.status
        end as status_as_of,
        s.feedback_source
    from {{ source('staging', 'stg_rectifications') }} r
    cross join run
    cross join settings s
)
select
    i.year,
    i.unit_id,
    u.unit_name,
    i.region,
    i.role,
    i.source,
    i.description,
    i.measure,
    i.owner,
    i.deadline,
    i.long_term,
    i.status_as_of as status,
    case when i.status_as_of = 'done' then i.done_date end as done_date,
    coalesce(i.status_as_of <> 'done' and i.deadline < i.as_of, false) as is_overdue,
    case when i.status_as_of <> 'done' and i.deadline < i.as_of then date_diff('day', i.deadline, i.as_of) end
        ::integer as overdue_days,
    -- on time: completed on or before the deadline (the deadline itself is on time); unknown without both dates
    case when i.status_as_of = 'done' and i.deadline is not null and i.done_date is not null
         then i.done_date <= i.deadline end as on_time,
    case when i.source = i.feedback_source and i.measure is null then 'no_measure' end as flag,
    case
        when i.status_as_of = 'done' and i.done_date is null then '已完成（未填完成日期）'
        when i.status_as_of = 'done' and i.deadline is null then '已于 ' || strftime(i.done_date, '%Y-%m-%d') || ' 完成'
        when i.status_as_of = 'done' and i.done_date <= i.deadline then '按期完成（' || strftime(i.done_date, '%Y-%m-%d') || '）'
        when i.status_as_of = 'done' then '逾期完成：晚 ' || date_diff('day', i.deadline, i.done_date) || ' 天（'
            || strftime(i.done_date, '%Y-%m-%d') || '）'
        when i.long_term then '长期坚持'
        when i.deadline is null then '未填整改时限'
        when i.deadline < i.as_of then '已逾期 ' || date_diff('day', i.deadline, i.as_of) || ' 天（时限 '
            || strftime(i.deadline, '%Y-%m-%d') || '）'
        when i.deadline = i.as_of then '今天到期'
        else '距整改时限还有 ' || date_diff('day', i.as_of, i.deadline) || ' 天'
    end
    || case when i.source = i.feedback_source and i.measure is null then '；督察反馈问题未填整改措施' else '' end
        as note,
    i.versions,
    i.file,
    i.sheet,
    i."row",
    i.as_of
from items i
join {{ source('reference', 'stg_units') }} u using (unit_id)
