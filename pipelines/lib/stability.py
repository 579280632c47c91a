"""Rank stability: how far a place can be trusted, from a seeded simulation over the uncertainties the
rulebook declares (its `stability` section).

Each draw re-scores every ranked unit: per task, the verified or the self score where both exist and
differ; the claimed or the supported points where the records contradict a claim; and, for the roles
with a weight range, one weight factor per duty group (the same for every unit in the draw: the weights
are a policy, not a unit's doing). Units are ranked within their role in every draw, and regions on
the mean of their region roles' draws, by the same competition rule as the published ranking. A
subject's band is the quantiles of its simulated ranks; subjects whose bands overlap form a tier.

Each (year, role) is drawn from its own seeded generator, and a year's regions from the draws of its
region roles: a group's rows are a function of what it reads alone. Given what each group reads
(`digests`) and the rows a previous simulation made (`previous`), a group whose inputs are the same
(its `inputs` column) keeps its rows and is not drawn again: a corrected score sheet re-draws its own
role's year (and the year's regions, for a region role), not every year and role. The rows are the
same as a whole simulation's, to the bit (tests/models/test_stability.py).

Plain functions over data frames, so the rules are tested without a warehouse; the dbt model
`int_rank_stability` calls `rank_stability` with the published marts.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pipelines.lib.fingerprints import code_version

# The simulation's columns, in order, each in one type whether its group was drawn now or kept from a
# previous simulation.
TYPES = {
    "year": "int64",
    "scope": "str",
    "subject": "str",
    "subject_name": "str",
    "region": "str",
    "score": "float64",
    "rank": "Int32",
    "rank_total": "Int32",
    "median": "float64",
    "p05": "int64",
    "p95": "int64",
    "tier": "int64",
    "tier_name": "str",
    "prev_rank": "Int32",
    "stable_change": "boolean",
    "above_subject": "str",
    "p_below_above": "float64",
    "distinct_from_above": "boolean",
    "draws": "int64",
    "inputs": "str",  # what the subject's group (year and role, or year's regions) was drawn from
}
COLUMNS = list(TYPES)
REGION = "region"  # the scope of a year's region rows
# What rank_stability reads of each mart; the model hands it no other column (at nation scale the
# marts' other columns, texts mostly, took seconds to turn into frames).
UNIT_COLUMNS = (
    "year",
    "unit_id",
    "unit_name",
    "region",
    "role",
    "max_score",
    "score",
    "scaled_score",
    "rank",
    "rank_total",
    "prev_rank",
)
TASK_COLUMNS = (
    "year",
    "unit_id",
    "role",
    "task_no",
    "duty_no",
    "max_points",
    "self_points",
    "verified_points",
    "points",
    "flag",
    "evidence_points",
    "evidence_max",
)
REGION_COLUMNS = ("year", "region", "score", "rank", "rank_total", "prev_rank")
CHUNK = 100  # draws simulated at once: bounds memory at nation scale; fixed, so results do not depend on it
# Chunks scored and ranked at once, beside the thread drawing the next: one. The simulation runs beside
# the marts build's SQL models (pipelines/lib/marts_build.py), which use the other core; with two, a
# corrected nation score sheet's build took 2.08–2.36 s against 1.99–2.32 s, a province year's
# 1.89–2.01 s against 1.81–1.94 s (alone, a nation year's simulation takes 3.7–4.8 s against 3.4–3.7 s).
THREADS = 1
DIGITS = 9  # scores are compared rounded, so that sums in another order still tie


def frame(relation: Any) -> pd.DataFrame:
    """A DuckDB relation's rows as DuckDB's `df()` gives them — the same columns, types and values —
    made through Arrow: at nation scale the units, their tasks and the previous simulation's rows took
    0.31 s by `df()` and 0.08 s so, most of it Python strings turned back into Arrow by pandas. An
    integer or boolean column with a missing value is nullable, as `df()` makes it; a text column
    without any text is of objects. A relation without rows, or with a column of another kind (a
    decimal, a date), is left to `df()`."""
    table = relation.to_arrow_table()
    kinds = [field.type for field in table.schema]
    plain = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_string)
    if not table.num_rows or not all(any(test(kind) for test in plain) for kind in kinds):
        return relation.df()
    out = table.to_pandas()
    for name, kind, column in zip(table.column_names, kinds, table.columns, strict=True):
        if column.null_count and pa.types.is_integer(kind):
            nullable = f"{'UInt' if pa.types.is_unsigned_integer(kind) else 'Int'}{kind.bit_width}"
            out[name] = out[name].astype(nullable)
        elif column.null_count and pa.types.is_boolean(kind):
            out[name] = out[name].astype("boolean")
        elif column.null_count == len(column) and pa.types.is_string(kind):  # no text at all
            out[name] = pd.Series([None] * len(column), index=out.index, dtype=object)
    return out


@dataclass(frozen=True)
class Settings:
    draws: int
    seed: int
    band: tuple[float, float]
    distinct_probability: float
    self_vs_verified: bool
    contradicted_points: bool
    weight_ranges: dict[str, tuple[float, float]]
    region_roles: tuple[str, ...]  # in the rulebook's order
    require_all_region_roles: bool


@dataclass
class _Role:
    """One role's ranked units in one year, as arrays the draws work on."""

    units: pd.DataFrame  # unit_id, unit_name, region, scaled_score, rank, prev_rank, max_score
    base: np.ndarray  # unit × duty: points counted
    applicable: np.ndarray  # unit × duty: points of the tasks that apply
    entry_unit: np.ndarray  # uncertain task → unit index
    entry_duty: np.ndarray  # uncertain task → duty index
    entry_delta: np.ndarray  # uncertain task → points the alternative adds (may be negative)
    weights: tuple[float, float] | None
    # The uncertain tasks in the order a draw adds them up (`_scores`), the same in every draw: level
    # by level, each unit's first task, then the second of those that have two, and so on, the units
    # with the most tasks first, so that each level is a block added to the start of the sums. Where
    # each task of that order is in the tasks' own order, its duty and points, the units in the sums'
    # order, and how many units each level has. (np.add.reduceat over each unit's rows took 19 ms of
    # a nation department's 34 ms chunk, and held the interpreter: the chunks' threads took turns.)
    entry_order: np.ndarray = field(init=False)
    added_duty: np.ndarray = field(init=False)
    added_delta: np.ndarray = field(init=False)
    entry_units: np.ndarray = field(init=False)
    level_sizes: np.ndarray = field(init=False)
    max_score: np.ndarray = field(init=False)  # unit × 1: the scale a unit's score is on

    def __post_init__(self) -> None:
        grouped = np.argsort(self.entry_unit, kind="stable")  # each unit's tasks in their own order
        units, starts, counts = np.unique(self.entry_unit[grouped], return_index=True, return_counts=True)
        most_first = np.argsort(-counts, kind="stable")
        starts, counts = starts[most_first], counts[most_first]
        self.entry_units = units[most_first]
        self.level_sizes = np.array([np.count_nonzero(counts > k) for k in range(int(counts.max(initial=0)))])
        levels = [starts[:n] + k for k, n in enumerate(self.level_sizes)]
        self.entry_order = grouped[np.concatenate(levels)] if levels else grouped
        self.added_duty = self.entry_duty[self.entry_order]
        self.added_delta = self.entry_delta[self.entry_order]
        self.max_score = self.units["max_score"].to_numpy(float)[:, None]


def rank_stability(
    units: pd.DataFrame,
    tasks: pd.DataFrame,
    regions: pd.DataFrame,
    settings: Settings,
    digests: Mapping[tuple[int, str], str] | None = None,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per ranked subject (region, or unit within its role) and year: `simulate` of `plans`.

    units: unit_scores (year, unit_id, unit_name, region, role, max_score, scaled_score, rank,
    rank_total, prev_rank); tasks: task_scores (year, unit_id, role, task_no, duty_no, max_points,
    self_points, verified_points, points, flag, evidence_points, evidence_max); regions: region_rankings
    (year, region, score, rank, rank_total, prev_rank).

    digests: per (year, role), a digest of every row of `units` and `tasks` of that year and role, and
    per (year, "region"), of `regions`' rows of that year; without it every group is drawn. previous:
    rows this function returned before; a group whose `inputs` are the same keeps them."""
    return simulate(plans(units, regions, settings, digests, previous), tasks, settings)


def simulate(planned: list[YearPlan], tasks: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The rows of each year's plan. `tasks` must hold the tasks of every role a plan draws (`drawn`),
    and need hold no others."""
    frames = [_year(plan, tasks[tasks["year"] == plan.year], settings) for plan in planned]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=COLUMNS).astype(TYPES)
    return pd.concat(frames, ignore_index=True)[COLUMNS]


@dataclass
class YearPlan:
    """What a year's simulation does: which groups keep their previous rows, which are drawn."""

    year: int
    groups: dict[str, pd.DataFrame]  # ranked role → its ranked units, the roles in order
    region_rows: pd.DataFrame
    inputs: dict[str, str | None]  # scope (role, or REGION) → what its rows are made from
    kept: dict[str, pd.DataFrame | None]  # scope → its previous rows, when they can be kept
    summarised: list[str]  # roles whose rows are made again
    with_regions: bool  # the regions' rows are made again
    drawn: set[str]  # roles drawn: those made again, and a year's region roles with its regions


def plans(
    units: pd.DataFrame,
    regions: pd.DataFrame,
    s: Settings,
    digests: Mapping[tuple[int, str], str] | None = None,
    previous: pd.DataFrame | None = None,
) -> list[YearPlan]:
    """Per year with ranked units, which groups keep their previous rows and which are drawn (the
    arguments as `rank_stability`'s); the tasks a simulation of them reads are the drawn roles'."""
    planned = []
    for year in sorted(units.loc[units["scaled_score"].notna(), "year"].unique()):
        ranked = units[(units["year"] == year) & units["scaled_score"].notna()]
        groups = {str(role): group for role, group in sorted(ranked.groupby("role"))}
        names = list(groups)
        before = previous[previous["year"] == year] if previous is not None and "inputs" in previous else None
        inputs = _inputs(int(year), names, digests, s)
        kept = {scope: _kept(before, scope, inputs[scope]) for scope in (*names, REGION)}
        region_rows = regions[(regions["year"] == year) & regions["score"].notna()].sort_values("region")
        summarised = [role for role in names if kept[role] is None]
        with_regions = bool(len(region_rows)) and kept[REGION] is None
        # a year's regions are drawn from its region roles' draws: those roles are drawn again with them
        drawn = set(summarised) | ({r for r in s.region_roles if r in groups} if with_regions else set())
        planned.append(
            YearPlan(int(year), groups, region_rows, inputs, kept, summarised, with_regions, drawn)
        )
    return planned


def _inputs(
    year: int, names: list[str], digests: Mapping[tuple[int, str], str] | None, s: Settings
) -> dict[str, str | None]:
    """Per role of the year (in `names`, ranked roles in order: a role's generator is its place there)
    and for the regions: a fingerprint of everything its rows are made from."""
    if digests is None:
        return dict.fromkeys((*names, REGION))
    common = repr(
        (code_version(), {**s.__dict__, "weight_ranges": sorted(s.weight_ranges.items())}, year, names)
    )

    def key(*parts: str) -> str:
        return hashlib.sha256("\x1e".join((common, *parts)).encode()).hexdigest()[:32]

    out: dict[str, str | None] = {role: key(role, digests.get((year, role), "")) for role in names}
    region_roles = [out[role] or "" for role in s.region_roles if role in names]
    out[REGION] = key(REGION, digests.get((year, REGION), ""), *region_roles)
    return out


def _kept(previous: pd.DataFrame | None, scope: str, inputs: str | None) -> pd.DataFrame | None:
    """The previous rows of a group, when they were made from the same inputs."""
    if previous is None or inputs is None:
        return None
    rows = previous[previous["scope"] == scope]
    return rows if len(rows) and (rows["inputs"] == inputs).all() else None


def _year(plan: YearPlan, tasks: pd.DataFrame, s: Settings) -> pd.DataFrame:
    year, names, region_rows, summarised = plan.year, list(plan.groups), plan.region_rows, plan.summarised
    # each role's tasks taken once: every role looking its units up among all the year's tasks took
    # 0.86 s of a nation year's 3.3 s simulation
    of_role = tasks.groupby("role", sort=False).indices
    roles = {
        role: _role(plan.groups[role], tasks.iloc[of_role.get(role, _NO_ROWS)], s)
        for role in names
        if role in plan.drawn
    }
    members = _region_members(region_rows, roles, s) if plan.with_regions else None

    ranks = {role: np.empty((len(roles[role].units), s.draws), dtype=np.int32) for role in summarised}
    below = {role: np.zeros(len(roles[role].units)) for role in summarised}
    above_of = {role: _above(roles[role].units["scaled_score"].to_numpy()) for role in summarised}
    region_ranks = np.empty((len(region_rows), s.draws), dtype=np.int32)
    region_below = np.zeros(len(region_rows))
    region_above = _above(region_rows["score"].to_numpy())
    generators = {
        role: np.random.default_rng([s.seed, int(year), n]) for n, role in enumerate(names) if role in roles
    }

    def rank(
        start: int, size: int, drawn: dict[str, _Randoms]
    ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """One chunk of draws ranked, into its columns of `ranks`; how often each subject fell below."""
        scores = {role: _scores(r, drawn[role]) for role, r in roles.items()}
        lower = {}
        for role in summarised:
            ranks[role][:, start : start + size] = _competition_ranks(scores[role])
            lower[role] = _lower_than_above(scores[role], above_of[role])
        if members is None:  # the year's regions are not drawn
            return lower, None
        region_scores = _region_draws(members, scores, size)
        region_ranks[:, start : start + size] = _competition_ranks(region_scores)
        return lower, _lower_than_above(region_scores, region_above)

    # The random numbers are drawn here, chunk after chunk, as one generator per role must give them;
    # scoring and ranking a chunk (array work, which frees the interpreter) runs beside the next.
    ranked: list[tuple[dict[str, np.ndarray], np.ndarray | None]] = []
    with ThreadPoolExecutor(THREADS) as pool:
        pending: deque[Future[tuple[dict[str, np.ndarray], np.ndarray | None]]] = deque()
        for start in range(0, s.draws if roles else 0, CHUNK):
            size = min(CHUNK, s.draws - start)
            drawn = {role: _randoms(r, size, generators[role]) for role, r in roles.items()}
            pending.append(pool.submit(rank, start, size, drawn))
            while len(pending) > THREADS:  # at most a chunk ahead of each thread: memory stays bounded
                ranked.append(pending.popleft().result())
        ranked.extend(future.result() for future in pending)
    for lower, region_lower in ranked:  # added in draw order, as one chunk after the other would
        for role in summarised:
            below[role] += lower[role]
        if region_lower is not None:
            region_below += region_lower

    out = [
        plan.kept[role]
        if role not in ranks
        else _summary(
            year,
            role,
            roles[role]
            .units.drop(columns="score")
            .rename(columns={"unit_id": "subject", "unit_name": "subject_name", "scaled_score": "score"}),
            ranks[role],
            below[role],
            above_of[role],
            s,
            plan.inputs[role],
        )
        for role in names
    ]
    if plan.with_regions:
        subjects = region_rows.assign(subject=region_rows["region"], subject_name=region_rows["region"])
        out.append(
            _summary(year, REGION, subjects, region_ranks, region_below, region_above, s, plan.inputs[REGION])
        )
    elif len(region_rows):
        out.append(plan.kept[REGION])
    return pd.concat([frame[COLUMNS].astype(TYPES) for frame in out if frame is not None], ignore_index=True)


_NO_ROWS = np.empty(0, dtype=np.intp)


def _role(units: pd.DataFrame, tasks: pd.DataFrame, s: Settings) -> _Role:
    """One role's ranked units (`units`) and their tasks (`tasks`: the role's, of the year)."""
    units = units.sort_values("unit_id").reset_index(drop=True)
    # each task's unit as its row in `units` (-1: not one of them), by one lookup of the ids: testing
    # their membership, then looking them up, took 0.07 s of a nation department's 0.12 s set-up
    row = pd.Index(units["unit_id"]).get_indexer(tasks["unit_id"])
    mine = (row >= 0) & (tasks["flag"].fillna("") != "not_applicable").to_numpy(bool)
    # Draws are handed out in row order: the rows in a fixed order (unit, then task number, as
    # `units` is in unit order), whatever order DuckDB returned them in.
    order = np.flatnonzero(mine)
    order = order[np.lexsort((tasks["task_no"].to_numpy()[order], row[order]))]
    mine, row = tasks.iloc[order], row[order]
    weights = s.weight_ranges.get(units["role"].iloc[0])
    # without a weight range the duty groups do not matter: one column keeps the arrays small
    duty_codes, duty_index = np.unique(mine["duty_no"].to_numpy(), return_inverse=True)
    duty = duty_index if weights else np.zeros(len(mine), dtype=int)
    n_duties = len(duty_codes) if weights else 1
    base = np.zeros((len(units), n_duties))
    applicable = np.zeros((len(units), n_duties))
    np.add.at(base, (row, duty), mine["points"].fillna(0).to_numpy(float))
    np.add.at(applicable, (row, duty), mine["max_points"].to_numpy(float))
    deltas = _alternatives(mine, s)
    keep = deltas != 0
    return _Role(units, base, applicable, row[keep], duty[keep], deltas[keep], weights)


def _alternatives(tasks: pd.DataFrame, s: Settings) -> np.ndarray:
    """Per task, the points its declared uncertainty could add instead (0: none): the other of the
    verified and self score, or the supported points when the claim exceeds what the records support."""
    points = tasks["points"].fillna(0).to_numpy(float)
    delta = np.zeros(len(tasks))
    if s.self_vs_verified:
        self_, verified = tasks["self_points"].to_numpy(float), tasks["verified_points"].to_numpy(float)
        both = ~np.isnan(self_) & ~np.isnan(verified) & (np.abs(self_ - verified) > 1e-9)
        other = np.where(np.abs(points - verified) <= 1e-9, self_, verified)
        other = np.minimum(other, tasks["max_points"].to_numpy(float))
        delta = np.where(both, other - points, delta)
    if s.contradicted_points:
        supported = (tasks["max_points"] - tasks["evidence_max"] + tasks["evidence_points"]).to_numpy(float)
        over = (tasks["flag"].fillna("") == "evidence_shortfall").to_numpy()
        delta = np.where(over & (delta == 0), supported - points, delta)
    return delta


@dataclass(frozen=True)
class _Randoms:
    """What a chunk of draws takes from a role's generator."""

    switch: np.ndarray | None  # uncertain task × draw: the alternative taken
    factors: np.ndarray  # duty × draw: its weight factor (1 without a weight range)


def _randoms(r: _Role, size: int, rng: np.random.Generator) -> _Randoms:
    # the switches are drawn before the weights: the draws are a function of the seed alone
    switch = rng.random((len(r.entry_delta), size)) < 0.5 if len(r.entry_delta) else None
    if r.weights:
        factors = rng.uniform(r.weights[0], r.weights[1], size=(r.base.shape[1], size))
    else:
        factors = np.ones((r.base.shape[1], size))
    return _Randoms(switch, factors)


def _scores(r: _Role, drawn: _Randoms) -> np.ndarray:
    """unit × draw: each unit's score on the whole sheet's scale in these draws. A task's alternative
    never takes it below 0 (the other score, or what the records support), so sums stay linear."""
    switch, factors = drawn.switch, drawn.factors
    numerator = r.base @ factors
    if switch is not None:
        # a unit's switched points added one after the other, in the tasks' order: level by level
        if r.weights:  # without a weight range every factor is 1: nothing to multiply
            gained = factors.take(r.added_duty, axis=0)
            gained *= r.added_delta[:, None]
        else:
            gained = np.repeat(r.added_delta[:, None], switch.shape[1], axis=1)
        gained *= switch[r.entry_order]
        sums, start = gained[: r.level_sizes[0]], r.level_sizes[0]
        for size in r.level_sizes[1:]:
            sums[:size] += gained[start : start + size]
            start += size
        numerator[r.entry_units] += sums
    # in place, in the same order of operations as max_score * numerator / denominator
    numerator *= r.max_score
    with np.errstate(invalid="ignore", divide="ignore"):
        numerator /= r.applicable @ factors
    return np.round(numerator, DIGITS, out=numerator)


@dataclass(frozen=True)
class _RegionMembers:
    """Per ranked region, its region-role units: as rows of its roles' draws stacked in `roles` order
    (`rows`, region after region, each region's units in role then row order), where each region's
    rows start, and how many it has."""

    roles: tuple[str, ...]
    rows: np.ndarray
    starts: np.ndarray
    counts: np.ndarray


def _region_members(regions: pd.DataFrame, roles: dict[str, _Role], s: Settings) -> _RegionMembers:
    rows_of: dict[str, dict[str, list[int]]] = {}  # role → region → its rows, in row order
    offset: dict[str, int] = {}  # role → where its rows start in the stacked draws
    stacked = 0
    for role in s.region_roles:
        if role in roles:
            by_region = rows_of[role] = {}
            for i, region in enumerate(roles[role].units["region"].tolist()):
                by_region.setdefault(region, []).append(i)
            offset[role] = stacked
            stacked += len(roles[role].units)
    members = [
        [offset[role] + i for role, by_region in rows_of.items() for i in by_region.get(region, ())]
        for region in regions["region"]
    ]
    counts = np.array([len(m) for m in members], dtype=np.intp)
    return _RegionMembers(
        tuple(rows_of),
        np.array([i for m in members for i in m], dtype=np.intp),
        np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.intp) if len(counts) else counts,
        counts,
    )


def _region_draws(members: _RegionMembers, scores: dict[str, np.ndarray], size: int) -> np.ndarray:
    """region × draw: the mean of its region roles' draws (the published region score's rule). Summed
    row after row in the members' order and divided by their count, as np.mean sums and divides; a
    region without any is NaN, as np.mean of nothing."""
    out = np.full((len(members.counts), size), np.nan)
    filled = np.flatnonzero(members.counts)
    if len(filled):
        stacked = np.concatenate([scores[role] for role in members.roles])
        first, counts = members.starts[filled], members.counts[filled]  # where each region's rows start
        # np.add.reduceat would add a region's rows in another order (not the same sums in the last bit)
        sums = stacked[members.rows[first]]
        for k in range(1, int(counts.max())):
            more = counts > k
            sums[more] += stacked[members.rows[first[more] + k]]
        out[filled] = sums / counts[:, None]
    return np.round(out, DIGITS)


def _competition_ranks(scores: np.ndarray) -> np.ndarray:
    """subject × draw → rank 1 + the number of subjects scoring more (1, 2, 2, 4), per draw."""
    by_draw = np.ascontiguousarray(-scores.T)  # one row per draw: sorting along rows is the fast way
    n = by_draw.shape[1]
    order = np.argsort(by_draw, axis=1)
    ordered = np.take_along_axis(by_draw, order, axis=1)
    # best first: a place starts a new rank where its score differs from the one before it
    starts = np.ones(by_draw.shape, dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first = np.maximum.accumulate(np.where(starts, np.arange(n, dtype=np.int32), 0), axis=1)
    ranks = np.empty(by_draw.shape, dtype=np.int32)
    np.put_along_axis(ranks, order, first + 1, axis=1)
    return ranks.T


def _above(scores: np.ndarray) -> np.ndarray:
    """Per subject, the index of the subject just above it (the first with the lowest score above its
    own), or -1 for those in first place."""
    scores = np.round(scores.astype(float), DIGITS)
    distinct, first = np.unique(scores, return_index=True)
    nxt = np.searchsorted(distinct, scores, side="right")
    return np.where(nxt < len(distinct), first[np.minimum(nxt, len(distinct) - 1)], -1)


def _lower_than_above(scores: np.ndarray, above: np.ndarray) -> np.ndarray:
    """Per subject, in how many of these draws it scores lower than the subject just above it."""
    has = above >= 0
    counts = np.zeros(len(above))
    counts[has] = (scores[has] < scores[above[has]]).sum(axis=1)
    return counts


def _summary(
    year: int,
    scope: str,
    subjects: pd.DataFrame,
    ranks: np.ndarray,
    below: np.ndarray,
    above: np.ndarray,
    s: Settings,
    inputs: str | None,
) -> pd.DataFrame:
    median, p05, p95 = _median_and_band(ranks, s.band)
    names = subjects["subject"].to_numpy()
    share = below / ranks.shape[1]
    # One frame made at once: inserting its columns one by one cost a tenth of the simulation.
    return pd.DataFrame(
        {
            "year": int(year),
            "scope": scope,
            **{
                c: subjects[c]
                for c in ("subject", "subject_name", "region", "score", "rank", "rank_total", "prev_rank")
            },
            "median": median,
            "p05": p05,
            "p95": p95,
            "stable_change": [
                None if pd.isna(p) else bool(lo <= p <= hi)
                for p, lo, hi in zip(subjects["prev_rank"], p05, p95, strict=True)
            ],
            "above_subject": [names[a] if a >= 0 else None for a in above],
            "p_below_above": np.where(above >= 0, share, np.nan),
            "distinct_from_above": [
                None if a < 0 else bool(p >= s.distinct_probability - 1e-12)
                for a, p in zip(above, share, strict=True)
            ],
            "draws": ranks.shape[1],
            "tier": (tier := tiers(subjects["rank"].to_numpy(), p05, p95)),
            "tier_name": [tier_name(t) for t in tier],
            "inputs": inputs,
        },
        index=subjects.index,
    )


def _median_and_band(ranks: np.ndarray, band: tuple[float, float]) -> tuple[np.ndarray, ...]:
    """Per subject (row), its median rank and the band's quantiles, as np.median and np.quantile
    (method "inverted_cdf": a rank some draw gave) compute them, from one sort of the draws rather than
    three (at nation scale, about 46,000 subjects × 1,000 draws). A whole sort, not a partial one: numpy
    sorts integers with vector instructions, and it took half the time of np.partition here."""
    draws = ranks.shape[1]
    # Where each value lies in a sorted row: numpy's own rule, asked of a row that holds its positions.
    low, high = (int(np.quantile(np.arange(draws), q, method="inverted_cdf")) for q in band)
    middle = ((draws - 1) // 2, draws // 2)  # the same place twice when the count is odd
    part = np.sort(ranks, axis=1)
    median = (part[:, middle[0]].astype(float) + part[:, middle[1]]) / 2
    return median, part[:, low].astype(int), part[:, high].astype(int)


def tiers(rank: np.ndarray, p05: np.ndarray, p95: np.ndarray) -> np.ndarray:
    """Tier per subject: in the published order, a subject starts a new tier when its band does not
    reach the band of any subject of the tier above (overlapping bands chain into one tier)."""
    order = np.lexsort((p05, rank))
    tier = np.zeros(len(rank), dtype=int)
    current, reach = 0, -1
    for i in order:
        if current == 0 or p05[i] > reach:
            current += 1
            reach = p95[i]
        reach = max(reach, p95[i])
        tier[i] = current
    return tier


_DIGITS = "零一二三四五六七八九"


def tier_name(n: int) -> str:
    """1 → 第一梯队, 12 → 第十二梯队."""
    tens, ones = divmod(int(n), 10)
    word = ("" if tens < 2 else _DIGITS[tens]) + ("十" if tens else "") + (_DIGITS[ones] if ones else "")
    return f"第{word}梯队"
