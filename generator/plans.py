"""What each unit does and submits in a year: its quality level, meetings, report filings,
normative documents and the scores of its sheet.

The numbers hang together: each region (or department) has a quality level that drifts over the
years; the part of a task's points that the records decide (the rulebook's evidence links) is
derived from the meetings, filings and documents planned here, so the verified score agrees with the
records while some self-scores claim more.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta

from generator.draws import choice_w, clamp, day_in, frac, half, periods, seeded, weekday
from generator.registry import Unit
from generator.vocabulary import (
    DOC_TOPICS_DEPT,
    DOC_TOPICS_GOV,
    INSPECTION_FEEDBACK_PROBLEMS,
    LAWS,
    MEETING_TEXTS,
    OTHER_PROBLEMS,
    RECTIFICATION_OWNER_TITLES,
    REMARKS_LOST,
    SELF_CHECK_PROBLEMS,
    SHUFA_REVIEW_PROBLEMS,
    meeting_texts,
    other_meeting_texts,
    person,
)
from pipelines.lib.rulebook import Rulebook, Task, Template

# Target meeting rows per unit and year (SPEC §8: ~3,000 a year at city scale, ~50 a unit).
ROWS_PER_UNIT = {
    "party": 35,
    "government": 40,
    "department": 55,
    "township_party": 55,
    "township_government": 55,
}
VERIFIED_SHARE = {"region": 0.6, "department": 0.55, "township": 0.4}  # sheets with 督察 scores

# Meetings besides the required ones, by role: (kind, weight). Kinds a role's own requirements
# count are left out at run time, so filler never turns a missed period into a met one.
FILLER_KINDS = {
    "party": (("pre_meeting_study", 3), ("law_lecture", 2), ("other", 4)),
    "government": (
        ("pre_meeting_study", 3),
        ("central_group_study", 2),
        ("enforcement_training", 2),
        ("other", 4),
    ),
    "department": (
        ("central_group_study", 2),
        ("xi_thought_study", 1),
        ("collective_study", 4),
        ("other", 4),
    ),
    "township_party": (("collective_study", 4), ("law_lecture", 1), ("pre_meeting_study", 2), ("other", 4)),
    "township_government": (
        ("collective_study", 4),
        ("law_lecture", 2),
        ("pre_meeting_study", 2),
        ("enforcement_training", 1),
        ("other", 4),
    ),
}
PRINCIPAL_KINDS = {
    "committee_hearing",
    "central_group_study",
    "xi_thought_study",
    "gov_rol_meeting",
    "leading_group_meeting",
    "collective_study",
}
ATTENDEES = {
    "committee_hearing": (9, 15),
    "central_group_study": (12, 30),
    "xi_thought_study": (12, 30),
    "law_lecture": (40, 200),
    "enforcement_training": (30, 150),
    "leading_group_meeting": (15, 35),
}


def scope(unit: Unit) -> str:
    """Which share of VERIFIED_SHARE applies: a region's units, a department or a township."""
    if unit.role == "department":
        return "department"
    return "township" if unit.role.startswith("township") else "region"


def inspected(seed: int, unit: Unit, year: int) -> bool:
    """Whether the year's on-site inspection (督察) visited the unit: its score sheet then carries
    verified scores and its rectification ledger the inspection's feedback. Inspections visit a
    region's party committee and government together."""
    where = scope(unit)
    key = unit.quality_key if where == "region" else unit.name
    return seeded(seed, year, "inspected", key).random() < VERIFIED_SHARE[where]


def quality(seed: int, unit: Unit, year: int) -> float:
    """The unit's quality level this year (0.55–0.99): a base and a trend per region or department,
    drifting over the years with noise, plus a small offset per unit."""
    base_rng = seeded(seed, "quality", unit.quality_key)
    base = base_rng.uniform(0.74, 0.95)
    trend = base_rng.gauss(0, 0.022)
    year_noise = seeded(seed, year, "quality", unit.quality_key).gauss(0, 0.022)
    own = seeded(seed, "quality-unit", unit.name).gauss(0, 0.02)
    own_year = seeded(seed, year, "quality-unit", unit.name).gauss(0, 0.012)
    return clamp(base + trend * (year - 2023) + year_noise + own + own_year, 0.55, 0.99)


def leader(seed: int, unit: Unit, year: int) -> str:
    # Leaders serve terms of about three years, staggered between units.
    offset = int(frac(seed, "term", unit.name) * 3)
    return person(seeded(seed, "leader", unit.name, (year - 2000 + offset) // 3))


@dataclass
class Meeting:
    day: date
    kind: str
    type_text: str
    topic: str
    host: str
    principal: bool
    attendees: int
    hours: float | None


def _fill(text: str, unit: Unit, year: int, law: str) -> str:
    if "{" not in text:
        return text
    w = unit.words
    return text.format(CW=w["CW"], RW=w["RW"], GW=w["GW"], Y=year, law=law)


def _meeting(
    rng: random.Random,
    kind: str,
    unit: Unit,
    year: int,
    day: date,
    leader: str,
    deputy: str,
    hours: float | None = None,
) -> Meeting:
    law = rng.choice(LAWS)
    if kind == "other":
        type_text, topic = rng.choice(other_meeting_texts(unit.role))
    else:
        types, topics = meeting_texts(kind, unit.role)
        type_text, topic = rng.choice(types), rng.choice(topics)
    principal = rng.random() < (0.9 if kind in PRINCIPAL_KINDS else 0.4)
    lo, hi = ATTENDEES.get(kind, (8, 45))
    if kind == "law_lecture" and hours is None and rng.random() < 0.5:
        hours = rng.choice((2, 2, 3))
    return Meeting(
        day,
        kind,
        _fill(type_text, unit, year, law),
        _fill(topic, unit, year, law),
        leader if principal else deputy,
        principal,
        rng.randint(lo, hi),
        hours,
    )


def plan_meetings(
    rb: Rulebook, unit: Unit, year: int, q: float, rng: random.Random, leader: str
) -> list[Meeting]:
    """The year's meetings: each period of each frequency requirement met with a chance that grows
    with q, then meetings no requirement of the role counts, up to about ROWS_PER_UNIT."""
    deputy = person(rng)
    p_met = clamp(1 - (1 - q) * 1.3, 0.35, 0.99)  # chance one period's requirement is met
    out: list[Meeting] = []
    counted: set[str] = set()
    for req in rb.frequency_requirements.values():
        if unit.role not in req.roles:
            continue
        counted.update(req.meeting_types)
        kind = req.meeting_types[0]
        if kind not in MEETING_TEXTS:
            continue  # a meeting type this generator has no wording for (custom rulebook)
        for _, start, end in periods(year, req.period):
            met = rng.random() < p_met
            if req.measure == "hours":
                target = req.min * (rng.uniform(1.0, 1.6) if met else rng.uniform(0.35, 0.95))
                total = 0.0
                while True:
                    h = rng.choice((2, 3, 4, 4, 6, 8))
                    if not met and total + h >= req.min:
                        break
                    out.append(_meeting(rng, kind, unit, year, day_in(rng, start, end), leader, deputy, h))
                    total += h
                    if total >= target:
                        break
                continue
            need = math.ceil(req.min)
            if met:
                n = need + (int(rng.random() < 0.25) if need == 1 else rng.choice((0, 0, 1, 1, 2)))
            else:
                n = rng.randint(0, need - 1)
            out += [
                _meeting(rng, kind, unit, year, day_in(rng, start, end), leader, deputy) for _ in range(n)
            ]
    fillers = [(k, w) for k, w in FILLER_KINDS[unit.role] if k == "other" or k not in counted]
    target = round(ROWS_PER_UNIT[unit.role] * rng.uniform(0.75, 1.25))
    jan1, dec31 = date(year, 1, 1), date(year, 12, 31)
    while len(out) < target:
        kind = choice_w(rng, fillers)
        hours = rng.choice((2, 3, 4)) if kind == "enforcement_training" else None
        out.append(_meeting(rng, kind, unit, year, day_in(rng, jan1, dec31), leader, deputy, hours))
    out.sort(key=lambda m: m.day)
    return out


def plan_filings(
    rb: Rulebook, unit: Unit, year: int, q: float, rng: random.Random
) -> dict[str, tuple[str, date | None]]:
    """requirement id → ("on_time" | "late" | "missing", filing date)."""
    out: dict[str, tuple[str, date | None]] = {}
    for req in rb.filing_requirements.values():
        if unit.role not in req.roles:
            continue
        due = req.due_date(year)
        r = rng.random()
        p_missing, p_late = (1 - q) * 0.2, (1 - q) * 0.6
        if r < p_missing:
            out[req.id] = ("missing", None)
        elif r < p_missing + p_late:
            out[req.id] = ("late", weekday(due + timedelta(days=rng.randint(1, 45))))
        else:
            out[req.id] = (
                "on_time",
                weekday(
                    due - timedelta(days=rng.choice((0, 0, 1, 2, 3, 5, 8, 12, 15, 20, 25))), backwards=True
                ),
            )
    return out


@dataclass
class NormativeDoc:
    title: str
    number: str
    issued: date
    filed: date | None
    compliant: bool


def plan_docs(unit: Unit, year: int, q: float, rng: random.Random) -> list[NormativeDoc]:
    """The normative documents a government or department issued, filed in time or late or not at all."""
    topics: tuple[str, ...]
    if unit.role == "government":
        n = rng.randint(2, 7)
        topics, place = DOC_TOPICS_GOV, unit.place
    elif unit.role == "department":
        n = rng.choice((0, 1, 1, 2, 2, 3, 4))
        topics, place = DOC_TOPICS_DEPT, unit.name.replace("局", "").replace("委员会", "")
    else:
        return []
    days = sorted(day_in(rng, date(year, 1, 1), date(year, 12, 20)) for _ in range(n))
    docs = []
    for i, issued in enumerate(days, 1):
        r = rng.random()
        if r < (1 - q) * 0.25:
            filed = None
        elif r < (1 - q) * 0.75:
            filed = weekday(issued + timedelta(days=rng.randint(31, 75)))
        else:
            filed = weekday(issued + timedelta(days=rng.randint(3, 27)))
            if (filed - issued).days > 30:
                filed = weekday(issued + timedelta(days=26), backwards=True)
        compliant = filed is None or rng.random() > (1 - q) * 0.25
        title = f"{unit.name}关于印发《{place}{rng.choice(topics)}》的通知"
        docs.append(NormativeDoc(title, f"{unit.doc_abbr}规〔{year}〕{i}号", issued, filed, compliant))
    return docs


def requirement_counts(
    rb: Rulebook, meetings: list[Meeting], year: int, classify
) -> dict[str, dict[int, float]]:
    """What the records show per requirement and period (rows the pipeline can date, once each)."""
    out: dict[str, dict[int, float]] = {}
    seen = set()
    for m in meetings:
        key = (m.day, m.type_text, m.topic)
        if m.day.year != year or key in seen:
            continue
        seen.add(key)
        types = classify(m.type_text, m.topic)
        for req in rb.frequency_requirements.values():
            if not types.intersection(req.meeting_types):
                continue
            months = {"quarter": 3, "half_year": 6, "year": 12}[req.period]
            k = (m.day.month - 1) // months + 1
            bucket = out.setdefault(req.id, {})
            bucket[k] = bucket.get(k, 0) + ((m.hours or 0) if req.measure == "hours" else 1)
    return out


def evidence(rb: Rulebook, role: str, counts, filings, docs, year: int) -> dict[int, tuple[float, float]]:
    """task_no → (points the records earn, points the records decide), per the rulebook's links."""
    out: dict[int, tuple[float, float]] = {}
    for link in rb.evidence_links:
        if link.role != role:
            continue
        earned = link.points
        if link.rule in ("deduct_per_missing", "threshold"):
            assert link.requirement is not None  # the rulebook loader checks these rules name one
            req = rb.frequency_requirements[link.requirement]
            got = counts.get(req.id, {})
            if link.rule == "deduct_per_missing":
                short = sum(max(0.0, req.min - got.get(k, 0)) for k, _, _ in periods(year, req.period))
                earned = max(0.0, link.points - link.deduct * short)
            else:
                earned = link.points if sum(got.values()) >= link.min else 0.0
        elif link.rule == "filed":
            earned = link.points if filings.get(link.filing, ("missing", None))[0] != "missing" else 0.0
        elif link.rule == "normative_rates" and docs:
            issued = len(docs)
            filed = [d for d in docs if d.filed]
            timely = [d for d in filed if (d.filed - d.issued).days <= rb.normative_deadline_days]
            rates = (
                len(filed) / issued,
                len(timely) / issued,
                (sum(d.compliant for d in filed) / len(filed)) if filed else 0.0,
            )
            earned = next((p for min_rate, p in link.tiers if min(rates) >= min_rate), 0.0)
        prev = out.get(link.task_no, (0.0, 0.0))
        out[link.task_no] = (prev[0] + earned, prev[1] + link.points)
    return out


@dataclass
class TaskScore:
    task: Task
    self_points: float
    verified_points: float
    remark: str


def plan_scores(template: Template, q: float, rng: random.Random, evidence) -> list[TaskScore]:
    """Self and verified points per template task: the records decide their share (evidence), the
    inspectors take off some of the rest, and the office often claims more than it got."""
    out = []
    p_loss = clamp((1 - q) * 2.5, 0.02, 0.9)
    for task in sorted(template.tasks, key=lambda t: (t.duty_no, t.task_no)):
        earned, decided = evidence.get(task.task_no, (0.0, 0.0))
        free = task.points - decided
        lost = 0.0
        if free > 0 and rng.random() < p_loss:
            lost = min(free, rng.choice((0.5, 1, 1, 1, 2, 2, 3)))
        verified = half(task.points - lost - (decided - earned))
        # Offices claim more than the inspectors grant, mostly where something was lost.
        if lost or earned < decided:
            r = rng.random()
            claim_free = free if r < 0.35 else free - lost if r < 0.8 else min(free, free - lost + 0.5)
            claim_evidence = decided if rng.random() < 0.4 else earned  # a claim the records contradict
            self_points = half(claim_free + claim_evidence)
        else:
            self_points = task.points if rng.random() > 0.03 else max(0.0, task.points - rng.choice((0.5, 1)))
        remark = rng.choice(REMARKS_LOST) if verified < task.points and rng.random() < 0.5 else ""
        out.append(TaskScore(task, self_points, max(0.0, verified), remark))
    return out


# --- the running year -------------------------------------------------------------------------------


def filings_as_of(
    rb: Rulebook, filings: dict[str, tuple[str, date | None]], year: int, cut: date
) -> dict[str, tuple[str, date | None]]:
    """The filings a register compiled on `cut` shows: those made by then; those due by then and not
    made are missing (as yet); those due later and not made are left out."""
    out: dict[str, tuple[str, date | None]] = {}
    for req_id, (status, filed) in filings.items():
        if filed is not None and filed <= cut:
            out[req_id] = (status, filed)
        elif rb.filing_requirements[req_id].due_date(year) < cut:
            out[req_id] = ("missing", None)
    return out


def docs_as_of(docs: list[NormativeDoc], cut: date) -> list[NormativeDoc]:
    """The documents issued by `cut`, with a filing made after it not made yet."""
    return [
        NormativeDoc(
            d.title, d.number, d.issued, d.filed if d.filed and d.filed <= cut else None, d.compliant
        )
        for d in docs
        if d.issued <= cut
    ]


def fall_behind(
    rb: Rulebook, unit: Unit, meetings: list[Meeting], cut: date, which: str, rng: random.Random, classify
) -> tuple[list[Meeting], str | None]:
    """A unit behind on one of its meeting requirements in the running year: nothing yet in the
    current period ("current"), or the last closed quarter or half year left short ("past").
    Returns the meetings left and "requirement:period" (None when the role has no such period)."""
    reqs = [
        r
        for r in sorted(rb.frequency_requirements.values(), key=lambda r: r.id)
        if unit.role in r.roles and r.measure != "hours" and (which == "current" or r.period != "year")
    ]
    if not reqs:
        return meetings, None
    req = rng.choice(reqs)
    spans = periods(cut.year, req.period)
    k = next(n for n, start, end in spans if start <= cut <= end) - (which == "past")
    if k < 1:
        return meetings, None
    _, start, end = spans[k - 1]
    types = set(req.meeting_types)
    kept = [m for m in meetings if not (start <= m.day <= end and types & classify(m.type_text, m.topic))]
    return kept, f"{req.id}:{k}"


# --- rectification ledgers (整改台账) --------------------------------------------------------------

# Month-end deadlines an office sets after the self-inspection and the inspection feedback:
# (month, day, weight). Sep 5 is when the rectification report is due (seeds 004 四(四)).
SELF_CHECK_DEADLINES = ((9, 5, 3), (9, 30, 4), (10, 31, 3), (11, 30, 2), (12, 31, 3))
FEEDBACK_DEADLINES = ((9, 5, 2), (9, 30, 3), (10, 31, 3), (11, 30, 2), (12, 31, 2))
SHUFA_DEADLINES = ((4, 30, 2), (5, 31, 2), (6, 30, 3), (9, 30, 1))
# Rates of row-level problems and variety (per item of the kind named).
RECT_ROW_RATES = {
    "long_term": 0.03,  # a self-check item whose deadline is 长期坚持 instead of a date
    "no_measure": 0.08,  # a feedback item without a 整改措施
    "on_deadline": 0.02,  # completed on the very day of the deadline
}


@dataclass
class Rectification:
    """One problem to fix. `raised` (when it was found) is no column: it decides whether the item
    exists yet on a date. `started`/`done` are None when it never was, by any date."""

    source: str  # self_check | inspection_feedback | shufa_review | other
    problem: str
    measure: str  # "" when the unit gave none
    owner: str
    raised: date
    deadline: date | None  # None: 长期坚持
    started: date | None
    done: date | None

    def status(self, on: date) -> str:
        """已完成 / 整改中 / 未启动 as the ledger compiled on `on` says."""
        if self.done is not None and self.done <= on:
            return "已完成"
        return "整改中" if self.started is not None and self.started <= on else "未启动"

    def overdue(self, on: date) -> bool:
        return self.deadline is not None and self.deadline < on and self.status(on) != "已完成"


def _deadline(rng: random.Random, year: int, options) -> date:
    month, day = choice_w(rng, [((m, d), w) for m, d, w in options])
    return date(year, month, day)


def plan_rectifications(
    unit: Unit,
    year: int,
    q: float,
    rng: random.Random,
    self_check_filed: date | None,
    problem_list: bool,
    was_inspected: bool,
) -> list[Rectification]:
    """The unit's problems of the year and how their rectification goes.

    Self-check (自查) problems come with the self-inspection report (its filing date; none without a
    report or when the unit sent no problem list); the inspection's feedback (督察反馈) is issued on
    Aug 25; the review of last year's 述法 (述法评议) in February; now and then a problem from
    elsewhere (其他). The better the unit, the more it finishes in time; nothing is finished after
    Dec 31 of the year (what is open then stays open in the year's ledger).
    """
    found: list[tuple[str, tuple[str, str], date, date | None]] = []
    if self_check_filed is not None and problem_list:
        for pair in rng.sample(SELF_CHECK_PROBLEMS, rng.randint(2, 6)):
            long_term = rng.random() < RECT_ROW_RATES["long_term"]
            deadline = None if long_term else _deadline(rng, year, SELF_CHECK_DEADLINES)
            if deadline is not None and deadline <= self_check_filed:  # a report filed very late
                deadline = date(year, 12, 31)
            found.append(("self_check", pair, self_check_filed, deadline))
    if was_inspected:
        n = rng.choice((1, 1, 2, 2, 3)) + int(rng.random() < (1 - q) * 2)
        for pair in rng.sample(INSPECTION_FEEDBACK_PROBLEMS, n):
            found.append(
                ("inspection_feedback", pair, date(year, 8, 25), _deadline(rng, year, FEEDBACK_DEADLINES))
            )
    if rng.random() < 0.25 + (1 - q):
        for pair in rng.sample(SHUFA_REVIEW_PROBLEMS, rng.choice((1, 1, 2))):
            raised = day_in(rng, date(year, 2, 1), date(year, 2, 28))
            found.append(("shufa_review", pair, raised, _deadline(rng, year, SHUFA_DEADLINES)))
    if rng.random() < 0.15:
        raised = day_in(rng, date(year, 1, 10), date(year, 10, 31))
        deadline = min(raised + timedelta(days=rng.choice((30, 45, 60, 90))), date(year, 12, 31))
        found.append(("other", rng.choice(OTHER_PROBLEMS), raised, deadline))
    dec31 = date(year, 12, 31)
    p_open, p_late = (1 - q) * 0.8, (1 - q) * 1.0
    out = []
    for source, (problem, measure), raised, deadline in found:
        if source == "inspection_feedback" and rng.random() < RECT_ROW_RATES["no_measure"]:
            measure = ""
        owner = person(rng)
        if rng.random() < 0.3:
            owner += f"（{rng.choice(RECTIFICATION_OWNER_TITLES)}）"
        started: date | None = weekday(raised + timedelta(days=rng.randint(1, 15)))
        done: date | None = None
        r = rng.random()
        if deadline is None:
            pass  # long-term: in hand, never ticked off
        elif r < p_open:
            started = started if rng.random() < 0.7 else None  # some never started
        elif r < p_open + p_late:
            done = weekday(deadline + timedelta(days=rng.randint(3, 45)))
            done = done if done <= dec31 else None
        elif r < p_open + p_late + RECT_ROW_RATES["on_deadline"]:
            done = deadline
        else:
            last = deadline - timedelta(days=1)
            lo = max(raised + timedelta(days=3), deadline - timedelta(days=40))
            done = day_in(rng, lo, last) if lo <= last else deadline
        if started is not None and done is not None and started > done:
            started = raised
        out.append(Rectification(source, problem, measure, owner, raised, deadline, started, done))
    return out
