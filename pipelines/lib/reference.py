"""The rulebook in force as tables (sources `reference.rulebook_*`), for the SQL models to read.

Rules stay data all the way down: the marts join these tables instead of naming roles, periods or
thresholds in SQL.
"""

from __future__ import annotations

import math

import pandas as pd

from pipelines.lib.rulebook import Rulebook


def study_required_per_quarter(rules: Rulebook, role: str) -> int:
    """Study sessions a role needs per quarter: the strictest of its study requirements, spread over
    the quarters of its period and rounded up (e.g. 4 a year → 1; 2 a year → 1; 1 a quarter → 1)."""
    study = {m.id for m in rules.meeting_types.values() if m.study}
    share = {"quarter": 1, "half_year": 2, "year": 4}
    needs = [
        r.min / share[r.period]
        for r in rules.frequency_requirements.values()
        if role in r.roles and r.measure == "count" and set(r.meeting_types) <= study
    ]
    return math.ceil(max(needs)) if needs else 0


RULEBOOK_TABLES = (
    "rulebook_info",
    "rulebook_roles",
    "rulebook_tasks",
    "rulebook_evidence_links",
    "rulebook_frequency_requirements",
    "rulebook_filing_requirements",
    "rulebook_meeting_types",
    "rulebook_calendar",
    "rulebook_weight_ranges",
    "rulebook_not_applicable",
)


def rulebook_tables(rules: Rulebook) -> dict[str, pd.DataFrame]:
    """Table name → rows, one frame per `reference.rulebook_*` source."""
    policy = rules.ranking
    region_roles = list(policy.region_roles)
    info = pd.DataFrame(
        [
            {
                "rulebook_id": rules.id,
                "name": rules.name,
                "version": rules.version,
                "fingerprint": rules.fingerprint,
                "score_basis": policy.score_basis,
                "require_all_region_roles": policy.require_all_region_roles,
                "bottom_places": policy.bottom_places,
                "normative_deadline_days": rules.normative_deadline_days,
                "ranking_policy": policy.describe(rules.role_names),
                "problem_list_filing": rules.rectification.problem_list_filing,
                "problem_list_source": rules.rectification.problem_list_source,
                "feedback_source": rules.rectification.feedback_source,
                "days_per_missing": rules.early_warning.days_per_missing,
                "session_hours": rules.early_warning.session_hours,
                "filing_due_soon_days": rules.early_warning.filing_due_soon_days,
                "resubmit_days": rules.resubmit_days,
                "score_sheet_due_year_offset": rules.score_sheet_due[0],
                "score_sheet_due_month": rules.score_sheet_due[1],
                "score_sheet_due_day": rules.score_sheet_due[2],
                "stability_draws": rules.stability.draws,
                "stability_seed": rules.stability.seed,
                "band_low": rules.stability.band[0],
                "band_high": rules.stability.band[1],
                "distinct_probability": rules.stability.distinct_probability,
                "self_vs_verified": rules.stability.self_vs_verified,
                "contradicted_points": rules.stability.contradicted_points,
                "peer_margin": rules.peer_margin,
                **{f"effort_{kind}": n for kind, n in rules.effort.items()},
            }
        ]
    )
    weight_ranges = pd.DataFrame(
        [
            {"role": role, "factor_low": lo, "factor_high": hi}
            for role, (lo, hi) in rules.stability.weight_ranges.items()
        ],
        columns=["role", "factor_low", "factor_high"],
    )
    not_applicable = pd.DataFrame(
        [
            {
                "role": na.role,
                "task_no": na.task_no,
                "unit_name": unit,
                "reason": na.reason,
                "source": na.source,
            }
            for na in rules.not_applicable
            for unit in (na.units or (None,))
        ],
        columns=["role", "task_no", "unit_name", "reason", "source"],
    )
    calendar = pd.DataFrame(
        [
            {
                "phase_no": n,
                "phase_id": p.id,
                "name": p.name,
                "start_month": p.start[0],
                "start_day": p.start[1],
                "end_month": p.end[0],
                "end_day": p.end[1],
                "source": p.source,
            }
            for n, p in enumerate(rules.inspection_calendar, start=1)
        ],
        columns=[
            "phase_no",
            "phase_id",
            "name",
            "start_month",
            "start_day",
            "end_month",
            "end_day",
            "source",
        ],
    )
    roles = pd.DataFrame(
        [
            {
                "role": r.id,
                "name": r.name,
                "unit_type": r.unit_type,
                "level": r.level,
                "side": r.side,
                "template_name": rules.templates[r.id].name if r.id in rules.templates else None,
                "max_score": rules.templates[r.id].max_total if r.id in rules.templates else None,
                "in_region_score": r.id in region_roles,
                "region_position": region_roles.index(r.id) + 1 if r.id in region_roles else None,
                "study_required_per_quarter": study_required_per_quarter(rules, r.id),
                "display_order": n,
            }
            for n, r in enumerate(rules.roles.values(), start=1)
        ]
    )
    tasks = pd.DataFrame(
        [
            {
                "role": t.role,
                "duty_no": t.duty_no,
                "duty": t.duty,
                "task_no": t.task_no,
                "text": t.text,
                "responsible": t.responsible,
                "check_standard": t.check_standard,
                "points": t.points,
            }
            for tpl in rules.templates.values()
            for t in tpl.tasks
        ]
    )
    links = pd.DataFrame(
        [
            {
                "role": lk.role,
                "task_no": lk.task_no,
                "rule": lk.rule,
                "evidence_max": lk.points,
                "requirement_id": lk.requirement,
                "filing_id": lk.filing,
                "deduct": lk.deduct,
                "min_count": lk.min,
                "tier_rates": [t[0] for t in lk.tiers],
                "tier_points": [t[1] for t in lk.tiers],
                "source": lk.source,
            }
            for lk in rules.evidence_links
        ]
    )
    frequency = pd.DataFrame(
        [
            {
                "requirement_id": r.id,
                "name": r.name,
                "roles": list(r.roles),
                "meeting_types": list(r.meeting_types),
                "period": r.period,
                "required": r.min,
                "measure": r.measure,
                "source": r.source,
            }
            for r in rules.frequency_requirements.values()
        ]
    )
    filings = pd.DataFrame(
        [
            {
                "requirement_id": f.id,
                "name": f.name,
                "roles": list(f.roles),
                "due_year_offset": f.due_year_offset,
                "due_month": f.due_month,
                "due_day": f.due_day,
                "source": f.source,
            }
            for f in rules.filing_requirements.values()
        ]
    )
    meeting_types = pd.DataFrame(
        [{"meeting_type": m.id, "name": m.name, "is_study": m.study} for m in rules.meeting_types.values()]
    )
    frames = (
        info,
        roles,
        tasks,
        links,
        frequency,
        filings,
        meeting_types,
        calendar,
        weight_ranges,
        not_applicable,
    )
    return dict(zip(RULEBOOK_TABLES, frames, strict=True))
