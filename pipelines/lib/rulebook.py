"""Load and validate a rulebook: the declarative scoring rules of one city configuration.

A rulebook is a folder under pipelines/rules/ (or any path) holding rulebook.yaml and the score-sheet
templates it names. `extends: <name>` starts from another rulebook and deep-merges this one over it:
mappings keyed by id (requirements, meeting types, …) merge per key, anything else is replaced.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from pipelines.lib.schema import YAML_LOADER
from pipelines.lib.text import to_halfwidth

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
PERIODS = ("quarter", "half_year", "year")


class RulebookError(ValueError):
    """The rulebook itself is wrong: a configuration error, reported before any data is touched."""


@dataclass(frozen=True)
class Task:
    role: str
    task_no: int
    duty_no: int
    duty: str
    text: str
    responsible: str
    check_standard: str
    points: float


@dataclass(frozen=True)
class Template:
    role: str
    name: str
    title: str
    weights_are_assumption: bool
    tasks: tuple[Task, ...]

    @property
    def max_total(self) -> float:
        return sum(t.points for t in self.tasks)


@dataclass(frozen=True)
class MeetingType:
    id: str
    name: str
    all_of: tuple[tuple[str, ...], ...]
    none_of: tuple[str, ...]
    study: bool
    _compiled: tuple = field(default=(), compare=False, repr=False)

    def matches(self, text: str) -> bool:
        any_group, none_group = self._compiled
        if any(_hit(k, text) for k in none_group):
            return False
        return all(any(_hit(k, text) for k in group) for group in any_group)


def _hit(keyword: str | re.Pattern, text: str) -> bool:
    return bool(keyword.search(text)) if isinstance(keyword, re.Pattern) else keyword in text


def _compile(keyword: str) -> str | re.Pattern:
    return re.compile(keyword[3:]) if keyword.startswith("re:") else keyword


@dataclass(frozen=True)
class Role:
    id: str
    name: str
    unit_type: str  # the registry's 单位类型 of units in this role
    level: str  # region | department | township: how the dashboard groups roles
    side: str  # party | government | department
    sheet_line: MeetingType  # how a score sheet's 责任人 line names this role


@dataclass(frozen=True)
class FrequencyRequirement:
    id: str
    name: str
    roles: tuple[str, ...]
    meeting_types: tuple[str, ...]
    period: str
    min: float
    measure: str  # count | hours
    source: str


@dataclass(frozen=True)
class FilingRequirement:
    id: str
    name: str
    roles: tuple[str, ...]
    keywords: tuple[str, ...]
    due_year_offset: int
    due_month: int
    due_day: int
    source: str

    def due_date(self, year: int) -> date:
        return date(year + self.due_year_offset, self.due_month, self.due_day)


@dataclass(frozen=True)
class EvidenceLink:
    role: str
    task_no: int
    rule: str  # deduct_per_missing | threshold | filed | normative_rates
    points: float
    requirement: str | None = None
    filing: str | None = None
    deduct: float = 0.0
    min: float = 0.0
    tiers: tuple[tuple[float, float], ...] = ()  # (min_rate, points), best first
    source: str = ""


# Which score column counts, in words (the ranking policy's footnote, the rulebook history).
SCORE_BASIS_WORDS = {
    "verified_else_self": "以督察核定分为准，未核定的以自评分计",
    "self": "以自评分计",
    "verified": "以督察核定分计",
}


@dataclass(frozen=True)
class RankingPolicy:
    region_roles: tuple[str, ...]
    require_all_region_roles: bool
    score_basis: str
    ties: str
    bottom_places: int

    def describe(self, role_names: dict[str, str]) -> str:
        """The policy in words, for the footnote of the ranking circular (通报)."""
        # a role's name is its duty holder (县（区）党委主要负责人): name the units, then the holders once
        roles = "、".join(role_names.get(r, r).removesuffix("主要负责人") for r in self.region_roles)
        basis = SCORE_BASIS_WORDS[self.score_basis]
        parts = [
            f"区县综合得分为{roles}主要负责人得分的平均值（{basis}）",
            "得分相同者并列同一名次，其后名次顺延（如1、2、2、4）",
        ]
        if self.require_all_region_roles:
            parts.append(f"{roles}任一缺报的，不参与排名")
        parts.append(f"排名最后{self.bottom_places}位（含并列）列为末位")
        return "；".join(parts) + "。"


@dataclass(frozen=True)
class CalendarPhase:
    """One phase of the year's inspection calendar (督察): month-day dates within the year."""

    id: str
    name: str
    start: tuple[int, int]
    end: tuple[int, int]
    source: str

    def dates(self, year: int) -> tuple[date, date]:
        return date(year, *self.start), date(year, *self.end)


@dataclass(frozen=True)
class RectificationRules:
    problem_list_filing: str | None  # the filing whose report must come with a problem list
    problem_list_source: str  # the 问题来源 of that list (a ledger source code)
    feedback_source: str  # the 问题来源 whose problems each need a rectification measure


@dataclass(frozen=True)
class EarlyWarning:
    days_per_missing: int  # an open period is at risk with fewer days left than this per missing meeting
    session_hours: float  # hours requirements: one "missing meeting" per this many hours short
    filing_due_soon_days: int  # an unfiled report is due soon within this many days of its due date


@dataclass(frozen=True)
class NotApplicable:
    """A task that does not apply (不适用) to some units of a role: it leaves their denominator."""

    role: str
    task_no: int
    units: tuple[str, ...]  # registry names; empty = every unit of the role
    reason: str
    source: str


@dataclass(frozen=True)
class Stability:
    """The rank-stability simulation: how many draws, its seed, and the uncertainties it draws over."""

    draws: int
    seed: int
    band: tuple[float, float]  # the quantiles of simulated ranks that bound a subject's band
    distinct_probability: float  # a place is distinguishable from the one above in this share of draws
    self_vs_verified: bool
    contradicted_points: bool
    weight_ranges: dict[str, tuple[float, float]]  # role → duty-group weight factor range


@dataclass(frozen=True)
class Provenance:
    """Where a rule comes from: its `source:` line, and whether its values are marked `assumption: true`."""

    source: str
    assumption: bool


IMPROVEMENT_KINDS = ("filing", "record", "meeting", "task")


# 问题来源 codes of the rectification ledger (the reader maps the words offices write onto these).
RECTIFICATION_SOURCES = ("self_check", "inspection_feedback", "shufa_review", "other")


@dataclass(frozen=True)
class Rulebook:
    id: str
    name: str
    version: int
    fingerprint: str  # changes whenever any rule changes: part of what makes a result reproducible
    roles: dict[str, Role]
    templates: dict[str, Template]
    meeting_types: dict[str, MeetingType]
    frequency_requirements: dict[str, FrequencyRequirement]
    filing_requirements: dict[str, FilingRequirement]
    normative_deadline_days: int
    evidence_links: tuple[EvidenceLink, ...]
    ranking: RankingPolicy
    inspection_calendar: tuple[CalendarPhase, ...]
    rectification: RectificationRules
    early_warning: EarlyWarning
    resubmit_days: int  # a notice gives a unit this many days to resubmit
    not_applicable: tuple[NotApplicable, ...]
    score_sheet_due: tuple[int, int, int]  # (year offset, month, day): 待审 before, 缺报 after
    stability: Stability
    peer_margin: float  # weak spot: this far below the peer group's median duty score rate
    effort: dict[str, int]  # improvement item kind → effort, easiest first
    # Path in the YAML → its source and assumption flag, for every mapping that has either: a section
    # ("stability"), an item ("filing_requirements.shufa_report", "evidence_links.0"), a score-sheet
    # template ("templates.party", "templates.party.tasks.0").
    provenance: dict[str, Provenance] = field(default_factory=dict)

    def score_sheet_due_date(self, year: int) -> date:
        offset, month, day = self.score_sheet_due
        return date(year + offset, month, day)

    @property
    def role_names(self) -> dict[str, str]:
        return {r.id: r.name for r in self.roles.values()}

    @property
    def unit_type_roles(self) -> dict[str, str]:
        """党委 → party …"""
        return {r.unit_type: r.id for r in self.roles.values()}

    def role_of_sheet_line(self, text: str | None) -> str | None:
        """The role a score sheet's 责任人 line names (县（区）党委主要负责人 → party); the first that matches."""
        if not text:
            return None
        line = to_halfwidth(text)
        return next((r.id for r in self.roles.values() if r.sheet_line.matches(line)), None)

    def classify_meeting(self, type_text: str, topic: str) -> list[str]:
        text = f"{type_text}｜{topic}"
        return [m.id for m in self.meeting_types.values() if m.matches(text)]

    def classify_report(self, text: str) -> str | None:
        """The filing requirement a register's 报告类型 names, by its first keyword hit in rulebook order."""
        for req in self.filing_requirements.values():
            if any(k in text for k in req.keywords):
                return req.id
        return None


def _deep_merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _deep_merge(base.get(key), value) if key in base else value
        return out
    return over


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
    except (OSError, yaml.YAMLError) as exc:
        raise RulebookError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise RulebookError(f"{path} is not a mapping")
    return data


def _resolve_dir(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.is_dir():
        return path
    candidate = RULES_DIR / str(name_or_path)
    if candidate.is_dir():
        return candidate
    raise RulebookError(f"rulebook not found: {name_or_path}")


def _raw_rulebook(folder: Path, seen: tuple[Path, ...] = ()) -> tuple[dict, dict[str, dict]]:
    """The merged rulebook mapping and its templates (role → template mapping)."""
    if folder in seen:
        raise RulebookError(f"rulebook extends itself: {folder}")
    data = _read_yaml(folder / "rulebook.yaml")
    templates: dict[str, dict] = {}
    if "extends" in data:
        base, templates = _raw_rulebook(_resolve_dir(data["extends"]), (*seen, folder))
        data = _deep_merge(base, {k: v for k, v in data.items() if k != "extends"})
    for role, spec in (data.get("roles") or {}).items():
        template_file = folder / spec.get("template", "")
        if spec.get("template") and template_file.is_file():
            templates[role] = _read_yaml(template_file)
    return data, templates


def load_rulebook(name_or_path: str | Path = "default") -> Rulebook:
    folder = _resolve_dir(name_or_path).resolve()
    # The cache key holds every rule file's mtime (a folder may extend the bundled rulebooks).
    files = sorted({*RULES_DIR.rglob("*.yaml"), *folder.rglob("*.yaml")})
    return _load_cached(folder, tuple((p.as_posix(), p.stat().st_mtime_ns) for p in files))


@functools.lru_cache(maxsize=8)
def _load_cached(folder: Path, stamps: tuple) -> Rulebook:
    """Parsed once per content version: an edited rule file is read again."""
    data, raw_templates = _raw_rulebook(folder)
    fingerprint = hashlib.sha256(
        json.dumps([data, raw_templates], sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()[:16]
    return _build(data, raw_templates, fingerprint)


def _matcher(mid: str, spec: dict) -> MeetingType:
    return MeetingType(
        id=mid,
        name=spec.get("name", mid),
        all_of=tuple(tuple(g) for g in spec["all_of"]),
        none_of=tuple(spec.get("none_of", ())),
        study=bool(spec.get("study", False)),
        _compiled=(
            tuple(tuple(_compile(k) for k in g) for g in spec["all_of"]),
            tuple(_compile(k) for k in spec.get("none_of", ())),
        ),
    )


def _provenance(node: Any, path: str = "") -> dict[str, Provenance]:
    """Every mapping under `node` with a `source:` or `assumption: true`, by its dotted path."""
    out: dict[str, Provenance] = {}
    children: Any
    if isinstance(node, dict):
        source, assumption = node.get("source"), node.get("assumption") is True
        if isinstance(source, str) or assumption:
            out[path] = Provenance(source if isinstance(source, str) else "", assumption)
        children = node.items()
    elif isinstance(node, list):
        children = enumerate(node)
    else:
        return out
    for key, value in children:
        out.update(_provenance(value, f"{path}.{key}" if path else str(key)))
    return out


def _build(data: dict, raw_templates: dict[str, dict], fingerprint: str) -> Rulebook:
    roles_spec = data.get("roles") or {}
    roles = {}
    for rid, spec in roles_spec.items():
        missing = [
            k for k in ("name", "unit_type", "template", "level", "side", "sheet_line") if k not in spec
        ]
        if missing:
            raise RulebookError(f"role {rid}: missing {missing}")
        roles[rid] = Role(
            rid,
            spec["name"],
            spec["unit_type"],
            spec["level"],
            spec["side"],
            _matcher(rid, spec["sheet_line"]),
        )
    templates = {role: _template(role, raw_templates[role]) for role in roles if role in raw_templates}

    meeting_types = {mid: _matcher(mid, spec) for mid, spec in (data.get("meeting_types") or {}).items()}

    frequency = {}
    for rid, spec in (data.get("frequency_requirements") or {}).items():
        req = FrequencyRequirement(
            id=rid,
            name=spec["name"],
            roles=tuple(spec["roles"]),
            meeting_types=tuple(spec["meeting_types"]),
            period=spec["period"],
            min=float(spec["min"]),
            measure=spec.get("measure", "count"),
            source=spec.get("source", ""),
        )
        if req.period not in PERIODS:
            raise RulebookError(f"{rid}: period must be one of {PERIODS}")
        if req.measure not in ("count", "hours"):
            raise RulebookError(f"{rid}: measure must be count or hours")
        unknown = set(req.meeting_types) - set(meeting_types)
        if unknown:
            raise RulebookError(f"{rid}: unknown meeting types {sorted(unknown)}")
        _check_roles(rid, req.roles, roles_spec)
        frequency[rid] = req

    filings = {}
    for fid, spec in (data.get("filing_requirements") or {}).items():
        due = spec["due"]
        filings[fid] = FilingRequirement(
            id=fid,
            name=spec["name"],
            roles=tuple(spec["roles"]),
            keywords=tuple(spec["keywords"]),
            due_year_offset=int(due.get("year_offset", 0)),
            due_month=int(due["month"]),
            due_day=int(due["day"]),
            source=spec.get("source", ""),
        )
        _check_roles(fid, filings[fid].roles, roles_spec)
        filings[fid].due_date(2024)  # an impossible date fails here, not mid-run

    links = []
    for spec in data.get("evidence_links") or []:
        link = EvidenceLink(
            role=spec["role"],
            task_no=int(spec["task_no"]),
            rule=spec["rule"],
            points=float(spec["points"]),
            requirement=spec.get("requirement"),
            filing=spec.get("filing"),
            deduct=float(spec.get("deduct", 0)),
            min=float(spec.get("min", 0)),
            tiers=tuple((float(t["min_rate"]), float(t["points"])) for t in spec.get("tiers", ())),
            source=spec.get("source", ""),
        )
        _check_link(link, templates, frequency, filings)
        links.append(link)

    rank = data.get("ranking") or {}
    ranking = RankingPolicy(
        region_roles=tuple(rank["region_roles"]),
        require_all_region_roles=bool(rank.get("require_all_region_roles", True)),
        score_basis=rank.get("score_basis", "verified_else_self"),
        ties=rank.get("ties", "competition"),
        bottom_places=int(rank.get("bottom_places", 1)),
    )
    _check_roles("ranking.region_roles", ranking.region_roles, roles_spec)
    if ranking.score_basis not in ("verified_else_self", "self", "verified"):
        raise RulebookError("ranking.score_basis must be verified_else_self, self or verified")
    if ranking.ties != "competition":
        raise RulebookError("ranking.ties: only competition ranking (1,2,2,4) is implemented")

    rect = data.get("rectification") or {}
    rectification = RectificationRules(
        problem_list_filing=rect.get("problem_list_filing"),
        problem_list_source=rect.get("problem_list_source", "self_check"),
        feedback_source=rect.get("feedback_source", "inspection_feedback"),
    )
    if rectification.problem_list_filing and rectification.problem_list_filing not in filings:
        raise RulebookError(f"rectification: unknown filing {rectification.problem_list_filing}")
    for code in (rectification.problem_list_source, rectification.feedback_source):
        if code not in RECTIFICATION_SOURCES:
            raise RulebookError(f"rectification: source must be one of {RECTIFICATION_SOURCES}")
    warn = data.get("early_warning") or {}
    early_warning = EarlyWarning(
        days_per_missing=int(warn.get("days_per_missing", 30)),
        session_hours=float(warn.get("session_hours", 8)),
        filing_due_soon_days=int(warn.get("filing_due_soon_days", 14)),
    )
    if (
        early_warning.days_per_missing < 0
        or early_warning.session_hours <= 0
        or early_warning.filing_due_soon_days < 0
    ):
        raise RulebookError("early_warning: days must be ≥ 0 and session_hours > 0")

    not_applicable = []
    for spec in data.get("not_applicable") or []:
        na = NotApplicable(
            role=spec["role"],
            task_no=int(spec["task_no"]),
            units=tuple(spec.get("units") or ()),
            reason=str(spec.get("reason", "")),
            source=str(spec.get("source", "")),
        )
        known = {t.task_no for t in templates[na.role].tasks} if na.role in templates else set()
        if na.task_no not in known:
            raise RulebookError(f"not_applicable: {na.role} has no score-sheet task {na.task_no}")
        not_applicable.append(na)

    due = (data.get("submission") or {}).get("score_sheet_due") or {"year_offset": 1, "month": 1, "day": 31}
    score_sheet_due = (int(due.get("year_offset", 1)), int(due["month"]), int(due["day"]))
    date(2025, *score_sheet_due[1:])  # an impossible date fails here, not mid-run

    stab = data.get("stability") or {}
    band = tuple(float(q) for q in stab.get("band", (0.05, 0.95)))
    stability = Stability(
        draws=int(stab.get("draws", 1000)),
        seed=int(stab.get("seed", 0)),
        band=(band[0], band[1]),
        distinct_probability=float(stab.get("distinct_probability", 0.95)),
        self_vs_verified=bool(stab.get("self_vs_verified", True)),
        contradicted_points=bool(stab.get("contradicted_points", True)),
        weight_ranges={
            w["role"]: (float(w["factor"][0]), float(w["factor"][1])) for w in stab.get("weight_ranges") or ()
        },
    )
    if stability.draws < 1 or not 0 <= band[0] < band[1] <= 1 or len(band) != 2:
        raise RulebookError("stability: draws ≥ 1 and band [low, high] within 0..1")
    _check_roles("stability.weight_ranges", tuple(stability.weight_ranges), roles_spec)
    if any(not 0 < lo <= hi for lo, hi in stability.weight_ranges.values()):
        raise RulebookError("stability.weight_ranges: factor [low, high] with 0 < low ≤ high")

    effort = {k: int(v) for k, v in ((data.get("improvement") or {}).get("effort") or {}).items()}
    effort = {k: effort.get(k, n) for n, k in enumerate(IMPROVEMENT_KINDS, start=1)}

    return Rulebook(
        id=str(data.get("id", "default")),
        name=str(data.get("name", "")),
        version=int(data.get("version", 1)),
        fingerprint=fingerprint,
        roles=roles,
        templates=templates,
        meeting_types=meeting_types,
        frequency_requirements=frequency,
        filing_requirements=filings,
        normative_deadline_days=int((data.get("normative_documents") or {}).get("filing_deadline_days", 30)),
        evidence_links=tuple(links),
        ranking=ranking,
        inspection_calendar=tuple(_phase(p) for p in data.get("inspection_calendar") or ()),
        rectification=rectification,
        early_warning=early_warning,
        resubmit_days=int((data.get("notices") or {}).get("resubmit_days", 10)),
        not_applicable=tuple(not_applicable),
        score_sheet_due=score_sheet_due,
        stability=stability,
        peer_margin=float((data.get("weak_spots") or {}).get("peer_margin", 0.10)),
        effort=effort,
        provenance=_provenance({**data, "templates": raw_templates}),
    )


def _month_day(owner: str, text: object) -> tuple[int, int]:
    try:
        month, day = (int(x) for x in str(text).split("-"))
        date(2024, month, day)  # 2024: a leap year, so 02-29 is allowed
    except ValueError:
        raise RulebookError(f"{owner}: dates are MM-DD, got {text!r}") from None
    return month, day


def _phase(spec: dict) -> CalendarPhase:
    where = f"inspection_calendar {spec.get('id')}"
    phase = CalendarPhase(
        id=str(spec["id"]),
        name=str(spec["name"]),
        start=_month_day(where, spec["start"]),
        end=_month_day(where, spec["end"]),
        source=str(spec.get("source", "")),
    )
    if phase.end < phase.start:
        raise RulebookError(f"{where}: ends before it starts")
    return phase


def _check_roles(owner: str, used: tuple[str, ...], roles: dict) -> None:
    unknown = set(used) - set(roles)
    if unknown:
        raise RulebookError(f"{owner}: unknown roles {sorted(unknown)}")


def _check_link(link: EvidenceLink, templates, frequency, filings) -> None:
    where = f"evidence link {link.role} task {link.task_no}"
    template = templates.get(link.role)
    task = next((t for t in template.tasks if t.task_no == link.task_no), None) if template else None
    if task is None:
        raise RulebookError(f"{where}: no such task in the {link.role} template")
    if link.points > task.points:
        raise RulebookError(f"{where}: evidence points {link.points} exceed the task's {task.points}")
    if link.rule in ("deduct_per_missing", "threshold") and link.requirement not in frequency:
        raise RulebookError(f"{where}: unknown requirement {link.requirement}")
    if link.rule == "filed" and link.filing not in filings:
        raise RulebookError(f"{where}: unknown filing {link.filing}")
    if link.rule == "normative_rates" and not link.tiers:
        raise RulebookError(f"{where}: normative_rates needs tiers")
    if link.rule not in ("deduct_per_missing", "threshold", "filed", "normative_rates"):
        raise RulebookError(f"{where}: unknown rule {link.rule}")


def _template(role: str, raw: dict) -> Template:
    duties = {int(d["duty_no"]): str(d["text"]) for d in raw.get("duties", [])}
    tasks = []
    for t in raw.get("tasks", []):
        duty_no = int(t["duty_no"])
        if duty_no not in duties:
            raise RulebookError(f"{role} task {t['task_no']}: unknown duty_no {duty_no}")
        tasks.append(
            Task(
                role=role,
                task_no=int(t["task_no"]),
                duty_no=duty_no,
                duty=duties[duty_no],
                text=str(t["text"]),
                responsible=str(t.get("responsible") or ""),
                check_standard=str(t.get("check_standard") or ""),
                points=float(t["points"]),
            )
        )
    numbers = [t.task_no for t in tasks]
    if len(numbers) != len(set(numbers)):
        raise RulebookError(f"{role}: duplicate task numbers")
    return Template(
        role=role,
        name=str(raw.get("name", "")),
        title=str(raw.get("title", "")),
        weights_are_assumption=bool(raw.get("weights_are_assumption", False)),
        tasks=tuple(sorted(tasks, key=lambda t: t.task_no)),
    )
