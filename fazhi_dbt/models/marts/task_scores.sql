with sheet_tasks as (
    select s.*
    from {{ source('staging', 'stg_task_scores') }} s
    join {{ ref('int_years') }} y using (year)
), judged as (
    select
        s.*,
        e.evidence_points,
        e.evidence_max,
        e.detail,
        -- the most the records let the sheet claim: the points they do not decide, plus those they support
        s.max_points - e.evidence_max + e.evidence_points as supported_points,
        e.evidence_max is not null
            and s.points > s.max_points - e.evidence_max + e.evidence_points + 1e-9 as over_evidence
    from sheet_tasks s
    left join {{ ref('int_evidence') }} e
      on e.year = s.year and e.unit_id = s.unit_id and e.role = s.role and e.task_no = s.task_no
)
select
    year,
    unit_id,
    role,
    duty_no,
    task_no,
    max_points,
    self_points,
    verified_points,
    points,
    max_points - points as lost_points,
    evidence_points,
    evidence_max,
    -- claiming more than the records support takes precedence over the sheet's own flags
    case when over_evidence then 'evidence_shortfall' else flag end as flag,
    case when over_evidence
             then '申报' || {{ fmt_points('points') }} || '分，记录最多支持'
                  || {{ fmt_points('supported_points') }} || '分：' || coalesce(detail, '')
         when flag = 'missing_task' then '打分表缺少此项'
         when flag = 'blank_score' then '未填写得分'
         when flag = 'invalid_score' then '得分无效'
         when flag = 'not_applicable' then '不适用：不计入满分'
    end as flag_note,
    score_source,
    file,
    sheet,
    "row"
from judged
