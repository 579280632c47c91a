-- What the records support per evidence-linked task, whether or not a score sheet has arrived: what
-- an upload's check compares a sheet's claims with, and what a unit can still do.
select
    e.year,
    e.unit_id,
    u.region,
    e.role,
    e.task_no,
    e.evidence_max,
    e.evidence_points,
    e.detail
from {{ ref('int_evidence') }} e
join {{ source('reference', 'stg_units') }} u using (unit_id)
