select
    t.role,
    t.duty_no,
    t.duty,
    t.task_no,
    t.text,
    t.responsible,
    t.check_standard,
    t.points as max_points,
    l.rule as evidence_rule,
    l.evidence_max,
    -- what the evidence is: a frequency requirement, a filing, or the normative documents
    case when l.role is not null then coalesce(l.requirement_id, l.filing_id, 'normative_documents') end
        as evidence_source
from {{ source('reference', 'rulebook_tasks') }} t
left join {{ source('reference', 'rulebook_evidence_links') }} l
  on l.role = t.role and l.task_no = t.task_no
