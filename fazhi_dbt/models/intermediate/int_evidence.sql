-- What the records support, per year × unit × evidence-linked task: the points the evidence allows
-- (at most the link's evidence_max) and, for the note, what the records show.
with links as (
    select * from {{ source('reference', 'rulebook_evidence_links') }}
), requirement_evidence as (
    select
        c.year,
        c.unit_id,
        l.role,
        l.task_no,
        l.rule,
        l.evidence_max,
        l.deduct,
        l.min_count,
        sum(greatest(c.required - c.actual, 0)) as shortfall,
        sum(c.actual) as year_actual,
        string_agg(case when not c.met then c.period || '实有' || c.actual::int || '次' end, '，'
                   order by c.period) as missing
    from links l
    join {{ ref('requirement_compliance') }} c on c.requirement_id = l.requirement_id and c.role = l.role
    where l.rule in ('deduct_per_missing', 'threshold')
    group by all
), filing_evidence as (
    select f.year, f.unit_id, l.role, l.task_no, l.evidence_max, f.filed
    from links l
    join {{ ref('filing_rates') }} f on f.report_type = l.filing_id and f.role = l.role
    where l.rule = 'filed'
), normative_evidence as (
    select
        n.year,
        n.unit_id,
        l.role,
        l.task_no,
        l.evidence_max,
        l.tier_rates,
        l.tier_points,
        -- the tier is decided by the worst of the three rates; no document at all is rate 0
        least(coalesce(n.filing_rate, 0), coalesce(n.timely_rate, 0), coalesce(n.compliance_rate, 0)) as worst,
        n.issued
    from links l
    join {{ ref('normative_doc_rates') }} n on n.role = l.role
    where l.rule = 'normative_rates'
)
select
    year,
    unit_id,
    role,
    task_no,
    evidence_max,
    -- each missing period costs `deduct`, never below 0; a threshold gives all or nothing
    case when rule = 'deduct_per_missing' then greatest(evidence_max - deduct * shortfall, 0)
         else case when year_actual >= min_count then evidence_max else 0 end
    end as evidence_points,
    case when rule = 'deduct_per_missing' then missing
         else '全年实有' || year_actual::int || '次，要求不少于' || min_count::int || '次'
    end as detail
from requirement_evidence
union all
select
    year,
    unit_id,
    role,
    task_no,
    evidence_max,
    case when filed = 1 then evidence_max else 0 end,
    case when filed = 1 then '已报送' else '未见报送记录' end
from filing_evidence
union all
select
    year,
    unit_id,
    role,
    task_no,
    evidence_max,
    -- the best tier whose minimum rate is reached (1e-9: a rate computed as 0.7999… still reaches 0.8)
    coalesce((select max(p) from (select unnest(tier_points) as p, unnest(tier_rates) as r) t
              where worst >= r - 1e-9), 0),
    case when issued = 0 then '本年度无规范性文件记录'
         else '报备率、及时率、规范率最低为' || round(worst * 100, 1)::varchar || '%'
    end
from normative_evidence
