"""Rank stability on small hand-made cases: the simulation over declared uncertainties, its bands, tiers,
stable changes and whether a last place can be told apart from the place above (pipelines/lib/stability.py).
The dbt model `int_rank_stability` calls the same function on the published marts."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines.lib import stability
from pipelines.lib.stability import (
    Settings,
    _median_and_band,
    _region_draws,
    _region_members,
    plans,
    rank_stability,
    simulate,
    tier_name,
    tiers,
)

SETTINGS = Settings(
    draws=1000,
    seed=7,
    band=(0.05, 0.95),
    distinct_probability=0.95,
    self_vs_verified=True,
    contradicted_points=True,
    weight_ranges={},
    region_roles=("party", "government"),
    require_all_region_roles=True,
)


def case(units: list[tuple], tasks: list[tuple], prev: dict[str, int] | None = None):
    """units: (unit_id, region, role, scaled_score, rank); tasks: (unit_id, role, points, self, verified, flag,
    supported). One task per unit carries the uncertainty; a second carries the rest of its points."""
    unit_frame = pd.DataFrame(
        [
            {
                "year": 2024,
                "unit_id": u,
                "unit_name": f"{region}{role}",
                "region": region,
                "role": role,
                "max_score": 100.0,
                "applicable_max": 100.0,
                "score": score,
                "scaled_score": score,
                "rank": rank,
                "rank_total": len(units),
                "prev_rank": (prev or {}).get(u),
            }
            for u, region, role, score, rank in units
        ]
    )
    rows = []
    for u, role, points, self_, verified, flag, supported in tasks:
        score = unit_frame.loc[unit_frame["unit_id"] == u, "scaled_score"].item()
        common = {"year": 2024, "unit_id": u, "role": role, "duty_no": 1}
        rows.append(
            {
                **common,
                "task_no": 1,
                "max_points": 10.0,
                "points": points,
                "self_points": self_,
                "verified_points": verified,
                "flag": flag,
                "evidence_max": None if supported is None else 10.0,
                "evidence_points": supported,
            }
        )
        rows.append(
            {
                **common,
                "task_no": 2,
                "max_points": 90.0,
                "points": score - points,
                "self_points": score - points,
                "verified_points": None,
                "flag": None,
                "evidence_max": None,
                "evidence_points": None,
            }
        )
    return unit_frame, pd.DataFrame(rows)


NO_REGIONS = pd.DataFrame(columns=["year", "region", "score", "rank", "rank_total", "prev_rank"])


def by_subject(out: pd.DataFrame) -> pd.DataFrame:
    return out.set_index("subject")


def test_a_last_place_within_reach_of_the_one_above_is_not_distinguishable():
    # C is last on 80 (verified) but self-assessed 90: half the draws put it at 90, above B's 85.
    units, tasks = case(
        [
            ("A", "甲", "department", 95.0, 1),
            ("B", "乙", "department", 85.0, 2),
            ("C", "丙", "department", 80.0, 3),
        ],
        [
            ("A", "department", 10.0, 10.0, None, None, None),
            ("B", "department", 10.0, 10.0, None, None, None),
            ("C", "department", 0.0, 10.0, 0.0, None, None),
        ],
        prev={"C": 2},
    )
    out = by_subject(rank_stability(units, tasks, NO_REGIONS, SETTINGS))
    c = out.loc["C"]
    assert (c["p05"], c["p95"]) == (2, 3)
    assert c["above_subject"] == "B" and 0.4 < c["p_below_above"] < 0.6 and not c["distinct_from_above"]
    assert c["stable_change"]  # last year's 2nd place lies inside this year's band 2–3
    assert out.loc["B", "tier"] == out.loc["C", "tier"]  # overlapping bands: one tier
    assert out.loc["A", "tier_name"] == "第一梯队" and out.loc["C", "tier_name"] == "第二梯队"
    assert pd.isna(out.loc["A", "above_subject"]) and pd.isna(out.loc["A", "distinct_from_above"])


def test_a_last_place_no_declared_uncertainty_reaches_is_distinguishable():
    units, tasks = case(
        [
            ("A", "甲", "department", 95.0, 1),
            ("B", "乙", "department", 85.0, 2),
            ("C", "丙", "department", 70.0, 3),
        ],
        [
            ("A", "department", 10.0, 10.0, None, None, None),
            ("B", "department", 10.0, 10.0, 8.0, None, None),  # B: 83 or 85
            ("C", "department", 10.0, 10.0, None, "evidence_shortfall", 5.0),  # C: 70 or 65
        ],
        prev={"C": 1},
    )
    out = by_subject(rank_stability(units, tasks, NO_REGIONS, SETTINGS))
    c = out.loc["C"]
    assert (c["p05"], c["p95"], c["median"]) == (3, 3, 3.0)
    assert c["p_below_above"] == 1.0 and c["distinct_from_above"]
    assert not c["stable_change"]  # from 1st to 3rd: outside the band, a real fall
    assert list(out["tier"].sort_index()) == [1, 2, 3]


def test_a_tie_inside_the_band_is_one_tier_and_the_simulation_is_seeded():
    # A and B tie on 85; B's verified 85 against a self-assessed 88 only ever lifts it.
    units, tasks = case(
        [("A", "甲", "party", 85.0, 1), ("B", "乙", "party", 85.0, 1), ("C", "丙", "party", 60.0, 3)],
        [
            ("A", "party", 10.0, 10.0, None, None, None),
            ("B", "party", 7.0, 10.0, 7.0, None, None),
            ("C", "party", 10.0, 10.0, None, None, None),
        ],
    )
    first = rank_stability(units, tasks, NO_REGIONS, SETTINGS)
    out = by_subject(first)
    assert (out.loc["A", "p05"], out.loc["A", "p95"]) == (1, 2)
    assert (out.loc["B", "p05"], out.loc["B", "p95"]) == (1, 1)
    assert out.loc["A", "tier"] == out.loc["B", "tier"] == 1 and out.loc["C", "tier"] == 2
    pd.testing.assert_frame_equal(first, rank_stability(units, tasks, NO_REGIONS, SETTINGS))
    other_seed = rank_stability(units, tasks, NO_REGIONS, Settings(**{**SETTINGS.__dict__, "seed": 8}))
    assert len(other_seed) == len(first)


def test_regions_rank_on_the_mean_of_their_region_roles_in_every_draw():
    units, tasks = case(
        [
            ("AP", "甲县", "party", 90.0, 1),
            ("AG", "甲县", "government", 80.0, 2),
            ("BP", "乙县", "party", 84.0, 2),
            ("BG", "乙县", "government", 84.0, 1),
        ],
        [
            ("AP", "party", 10.0, 10.0, None, None, None),
            ("AG", "government", 10.0, 10.0, None, None, None),
            ("BP", "party", 4.0, 10.0, 4.0, None, None),  # 84 or 90: the region 84 or 87
            ("BG", "government", 10.0, 10.0, None, None, None),
        ],
    )
    regions = pd.DataFrame(
        [
            {"year": 2024, "region": "甲县", "score": 85.0, "rank": 1, "rank_total": 2, "prev_rank": None},
            {"year": 2024, "region": "乙县", "score": 84.0, "rank": 2, "rank_total": 2, "prev_rank": None},
        ]
    )
    out = rank_stability(units, tasks, regions, SETTINGS)
    b = out[(out["scope"] == "region") & (out["subject"] == "乙县")].iloc[0]
    assert (b["p05"], b["p95"]) == (1, 2) and b["tier"] == 1 and not b["distinct_from_above"]
    assert 0.4 < b["p_below_above"] < 0.6


def test_weight_ranges_move_units_whose_duty_groups_differ():
    settings = Settings(**{**SETTINGS.__dict__, "weight_ranges": {"department": (0.5, 1.5)}})
    units, tasks = case(
        [("A", "甲", "department", 55.0, 1), ("B", "乙", "department", 54.0, 2)],
        [("A", "department", 10.0, 10.0, None, None, None), ("B", "department", 0.0, 0.0, None, None, None)],
    )
    # A is strong on duty 1 and weak on duty 2; B the other way round: the weights decide the order
    tasks.loc[tasks["task_no"] == 2, "duty_no"] = 2
    tasks.loc[(tasks["unit_id"] == "B") & (tasks["task_no"] == 2), "points"] = 54.0
    out = by_subject(rank_stability(units, tasks, NO_REGIONS, settings))
    assert (out.loc["A", "p05"], out.loc["A", "p95"]) == (1, 2)
    assert (out.loc["B", "p05"], out.loc["B", "p95"]) == (1, 2)


def test_tiers_chain_overlapping_bands_and_are_named():
    assert list(tiers([1, 2, 3, 4], [1, 1, 3, 4], [2, 3, 3, 4])) == [1, 1, 1, 2]
    assert [tier_name(n) for n in (1, 2, 10, 12, 20)] == [
        "第一梯队",
        "第二梯队",
        "第十梯队",
        "第十二梯队",
        "第二十梯队",
    ]


def test_the_bands_do_not_depend_on_the_order_the_rows_arrive_in():
    """DuckDB returns a large table's rows in no fixed order: the same scores must give the same bands
    (at nation scale a corrected year and a full rebuild of the same files published different ones)."""
    names = "ABCDEFGH"
    units, tasks = case(
        [(u, f"区{u}", "department", 80.0 + i, len(names) - i) for i, u in enumerate(names)],
        [(u, "department", 4.0, 4.0 + (i % 3) * 2, 4.0, None, None) for i, u in enumerate(names)],
    )
    first = rank_stability(units, tasks, NO_REGIONS, SETTINGS)
    shuffled = rank_stability(
        units.sample(frac=1, random_state=3), tasks.sample(frac=1, random_state=5), NO_REGIONS, SETTINGS
    )
    pd.testing.assert_frame_equal(first, shuffled)


def test_the_median_and_band_are_numpy_s_median_and_quantiles():
    """The bands come from one sort of each subject's draws; they must be what np.median and
    np.quantile (inverted_cdf) give, for any number of draws, odd or even, and any band."""
    rng = np.random.default_rng(3)
    for draws in (1, 2, 3, 19, 20, 100, 999, 1000):
        ranks = rng.integers(1, 40, size=(25, draws), dtype=np.int32)
        for band in ((0.05, 0.95), (0.1, 0.9), (0.0, 1.0), (0.025, 0.975), (0.5, 0.5)):
            median, low, high = _median_and_band(ranks, band)
            assert np.array_equal(median, np.median(ranks, axis=1))
            assert np.array_equal(low, np.quantile(ranks, band[0], axis=1, method="inverted_cdf").astype(int))
            assert np.array_equal(
                high, np.quantile(ranks, band[1], axis=1, method="inverted_cdf").astype(int)
            )


def _three_roles(department_self: float = 10.0, party_self: float = 10.0):
    """Two counties (party and government rank into the region score) and two departments."""
    units, tasks = case(
        [
            ("AP", "甲县", "party", 90.0, 1),
            ("AG", "甲县", "government", 80.0, 2),
            ("BP", "乙县", "party", 84.0, 2),
            ("BG", "乙县", "government", 84.0, 1),
            ("D1", "市直", "department", 88.0, 1),
            ("D2", "市直", "department", 86.0, 2),
        ],
        [
            ("AP", "party", 10.0, 10.0, None, None, None),
            ("AG", "government", 4.0, 10.0, 4.0, None, None),
            ("BP", "party", 4.0, party_self, 4.0, None, None),
            ("BG", "government", 10.0, 10.0, None, None, None),
            ("D1", "department", 10.0, 10.0, None, None, None),
            ("D2", "department", 6.0, department_self, 6.0, None, None),
        ],
    )
    regions = pd.DataFrame(
        [
            {"year": 2024, "region": "甲县", "score": 85.0, "rank": 1, "rank_total": 2, "prev_rank": None},
            {"year": 2024, "region": "乙县", "score": 84.0, "rank": 2, "rank_total": 2, "prev_rank": None},
        ]
    )
    return units, tasks, regions


DIGESTS = {
    (2024, "party"): "p1",
    (2024, "government"): "g1",
    (2024, "department"): "d1",
    (2024, "region"): "r1",
}


def _marked(out: pd.DataFrame) -> pd.DataFrame:
    """Rows of a previous simulation with a median no draw can give: kept rows show it."""
    return out.assign(median=-1.0)


def _kept_scopes(out: pd.DataFrame) -> set[str]:
    return set(out.loc[out["median"] == -1.0, "scope"])


@pytest.mark.parametrize(
    ("change", "changed", "kept_scopes", "drawn"),
    [
        # D2's self-assessment changes: only the departments are drawn again
        ({"department_self": 8.0}, "department", {"party", "government", "region"}, {"department"}),
        # BP's changes: the party and the regions are drawn again, the government's draws with them
        ({"party_self": 6.0}, "party", {"government", "department"}, {"party", "government"}),
    ],
    ids=["department", "region-role"],
)
def test_a_group_whose_inputs_are_unchanged_keeps_its_rows_and_the_result_is_a_whole_simulation(
    change, changed, kept_scopes, drawn
):
    units, tasks, regions = _three_roles()
    before = rank_stability(units, tasks, regions, SETTINGS, DIGESTS)
    units, tasks, regions = _three_roles(**change)
    digests = {**DIGESTS, (2024, changed): "changed"}
    whole = rank_stability(units, tasks, regions, SETTINGS, digests)
    assert not whole.equals(before)
    pd.testing.assert_frame_equal(rank_stability(units, tasks, regions, SETTINGS, digests, before), whole)
    kept = rank_stability(units, tasks, regions, SETTINGS, digests, _marked(before))
    assert _kept_scopes(kept) == kept_scopes
    redrawn = ~kept["scope"].isin(kept_scopes)
    pd.testing.assert_frame_equal(kept[redrawn], whole[redrawn])
    # the tasks of the groups drawn are all it reads
    planned = plans(units, regions, SETTINGS, digests, before)
    assert [(p.year, p.drawn) for p in planned] == [(2024, drawn)]
    pd.testing.assert_frame_equal(simulate(planned, tasks[tasks["role"].isin(drawn)], SETTINGS), whole)


@pytest.mark.parametrize("threads", [1, 3])
def test_chunks_scored_side_by_side_give_the_rows_one_after_the_other_gives(monkeypatch, threads):
    units, tasks, regions = _three_roles(department_self=8.0, party_self=6.0)
    weighted = Settings(**{**SETTINGS.__dict__, "weight_ranges": {"department": (0.8, 1.2)}})
    side_by_side = rank_stability(units, tasks, regions, weighted)
    monkeypatch.setattr(stability, "THREADS", threads)
    pd.testing.assert_frame_equal(
        rank_stability(units, tasks, regions, weighted), side_by_side, check_exact=True
    )


def test_without_digests_or_with_other_settings_nothing_is_kept():
    units, tasks, regions = _three_roles()
    before = _marked(rank_stability(units, tasks, regions, SETTINGS, DIGESTS))
    assert _kept_scopes(rank_stability(units, tasks, regions, SETTINGS, DIGESTS, before)) == {
        "party",
        "government",
        "department",
        "region",
    }
    assert _kept_scopes(rank_stability(units, tasks, regions, SETTINGS, None, before)) == set()
    other = Settings(**{**SETTINGS.__dict__, "draws": 999})
    assert _kept_scopes(rank_stability(units, tasks, regions, other, DIGESTS, before)) == set()


@pytest.mark.parametrize(
    "query",
    [
        # integers, booleans and text with and without missing values, floats, unsigned, an empty column
        "select * from (values (1::integer, null::integer, true, null::boolean, 'x', 2::bigint, 3::tinyint, "
        "null::utinyint, 1.0::double, null::varchar), (2, 5, false, true, null, null, 4, 7, null, 'y')) "
        "t(a, b, c, d, s, g, h, j, k, m)",
        "select null::varchar as n, null::integer as i, null::boolean as b, null::double as d from range(3)",
        "select 1::integer as a, 'x' as s where false",  # no rows
        "select 1.5 as decimal_number, current_date as day",  # other kinds
        "select 'u' || range::varchar as unit_id, (range % 3)::integer as rank from range(1000)",
    ],
)
def test_a_relation_s_frame_is_what_duckdb_s_df_gives(query):
    relation = duckdb.connect().sql(query)
    pd.testing.assert_frame_equal(stability.frame(relation), relation.df())


def test_the_commands_load_numpy_with_one_blas_thread():
    """The simulation's own threads are its parallelism: the package sets OpenBLAS to one thread before
    anything loads numpy (pipelines/__init__.py), unless the machine's administrator chose a number."""
    probe = "import os, sys, pipelines.cli; print('numpy' in sys.modules, os.environ['OPENBLAS_NUM_THREADS'])"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    run = [sys.executable, "-c", probe]
    assert subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout.split() == [
        "False",
        "1",
    ]
    chosen = subprocess.run(run, env={**env, "OPENBLAS_NUM_THREADS": "4"}, capture_output=True, text=True)
    assert chosen.stdout.split() == ["False", "4"]


def test_a_region_s_draws_are_numpy_s_mean_of_its_members():
    """A region's score in a draw is the mean of its region-role units' scores there, from the stacked
    draws: it must be bit for bit what np.mean gives member by member, which adds them one after the
    other (a county with several units of a role, with one role only, or with none: NaN)."""
    rng = np.random.default_rng(11)
    regions = pd.DataFrame({"region": ["甲县", "乙县", "丙县", "丁县"]})
    units = {
        "party": ["甲县", "乙县", "甲县", "丙县"],
        "government": ["乙县", "甲县", "甲县"],
    }
    roles = {
        role: stability._Role(
            pd.DataFrame({"region": where, "max_score": 100.0}),
            np.zeros((len(where), 1)),
            np.ones((len(where), 1)),
            np.zeros(0, dtype=int),
            np.zeros(0, dtype=int),
            np.zeros(0),
            None,
        )
        for role, where in units.items()
    }
    scores = {role: rng.normal(80, 10, size=(len(where), 50)) for role, where in units.items()}
    # 甲县's four units, in the members' order, where the order of adding shows: (1e16 + 1 − 1e16) + 3
    # is 3 one after the other, 4 in np.add.reduceat's order
    scores["party"][0], scores["party"][2] = 1e16, 1.0
    scores["government"][1], scores["government"][2] = -1e16, 3.0
    members = _region_members(regions, roles, SETTINGS)
    got = _region_draws(members, scores, 50)
    for i, region in enumerate(regions["region"]):
        mine = [
            scores[role][j]
            for role in SETTINGS.region_roles
            for j, r in enumerate(units[role])
            if r == region
        ]
        if mine:
            assert np.array_equal(got[i], np.round(np.mean(mine, axis=0), stability.DIGITS))
        else:
            assert np.isnan(got[i]).all()


@pytest.mark.parametrize("weights", [None, (0.8, 1.2)])
def test_a_unit_s_switched_points_are_added_one_after_the_other_in_its_tasks_order(weights):
    """A draw's score adds each unit's switched points task after task, in the tasks' order, bit for
    bit (units with one task and with many, their tasks interleaved with other units'; a weighted
    role multiplies each by its duty's factor first). The first unit's three tasks, of one duty, show
    the order: (1 + 1e17) − 1e17 is 0 one after the other, 1 when the last two are added first."""
    rng = np.random.default_rng(5)
    entry_unit = np.concatenate(([0, 0, 0], rng.integers(1, 40, size=300)))
    entry_duty = np.concatenate(([0, 0, 0], rng.integers(0, 3, size=300)))
    entry_delta = np.concatenate(([1.0, 1e17, -1e17], rng.normal(0, 3, size=300)))
    role = stability._Role(
        pd.DataFrame({"max_score": np.ones(45)}),
        np.zeros((45, 3)),
        np.ones((45, 3)),
        entry_unit,
        entry_duty,
        entry_delta,
        weights,
    )
    draws = stability._randoms(role, 20, np.random.default_rng(9))
    switch, factors = draws.switch, draws.factors
    assert switch is not None
    got = stability._scores(role, draws)
    for unit in range(45):
        for draw in range(20):
            total = 0.0
            for e in np.flatnonzero(entry_unit == unit):
                gained = entry_delta[e] * switch[e, draw]
                total += gained * factors[entry_duty[e], draw] if weights else gained
            denominator = factors[:, draw].sum()
            assert got[unit, draw] == np.round(total / denominator, stability.DIGITS)
    all_three = switch[:3].all(axis=0)
    assert all_three.any() and not got[0, all_three].any()
