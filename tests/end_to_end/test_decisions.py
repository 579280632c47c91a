"""Decisions a leader must defend, end to end on hand-made files (tests/decisions_case.py): a task that
does not apply changes a unit's rate and place, a region without its sheet is 待审 before the due date
and 缺报 after it, the coverage of each ranking, the rank-stability mart beside the ranking, and the
path of a region one point behind the next. The rules themselves are pinned by the models' unit tests
and tests/models/test_stability.py; this checks they hold together on a real run.
"""

from __future__ import annotations

import pytest
from conftest import Warehouse
from decisions_case import (
    AFTER_DUE,
    BEFORE_DUE,
    FINANCE,
    JUSTICE,
    POLICE,
    YEAR,
    write_decisions_tree,
    write_rulebook,
)

from pipelines.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same files computed before the sheet's due date and after it."""
    root = tmp_path_factory.mktemp("decisions")
    raw = write_decisions_tree(root / "raw")
    rules = write_rulebook(root / "rules")
    out = {}
    for name, as_of in (("before", BEFORE_DUE), ("after", AFTER_DUE)):
        target = root / name / "fazhi.duckdb"
        args = [
            "run",
            "--raw",
            str(raw),
            "--warehouse",
            str(target),
            "--as-of",
            as_of,
            "--rulebook",
            str(rules),
        ]
        assert main(args) == 0
        out[name] = Warehouse(raw, target)
    return out


def _unit(wh: Warehouse, name: str) -> dict:
    frame = wh.df(
        "select s.* from marts.unit_scores s join marts.units u using (unit_id) where s.year = ? and u.unit_name = ?",
        [YEAR, name],
    )
    assert len(frame) == 1, name
    return frame.iloc[0].to_dict()


def test_a_task_that_does_not_apply_leaves_the_denominator(runs):
    wh = runs["after"]
    finance, justice, police = (_unit(wh, n) for n in (FINANCE, JUSTICE, POLICE))
    # 市财政局: the rulebook exempts task 12; 90 of 92
    assert (finance["score"], finance["applicable_max"]) == (90.0, 92.0)
    assert finance["scaled_score"] == pytest.approx(90 / 92 * 100)
    # 市司法局 wrote 不适用 itself: 88 of 92, and the office is asked to confirm
    assert (justice["score"], justice["applicable_max"]) == (88.0, 92.0)
    assert justice["score_rate"] == pytest.approx(88 / 92)
    # on the rate, not the raw score: 92 of 100 is third
    assert (police["score"], police["applicable_max"], police["scaled_score"]) == (92.0, 100.0, 92.0)
    assert [finance["rank"], justice["rank"], police["rank"]] == [1, 2, 3]
    flags = wh.rows(
        """select u.unit_name, t.flag, t.points from marts.task_scores t join marts.units u using (unit_id)
           where t.year = ? and t.task_no = 12 and t.role = 'department' order by u.unit_name""",
        [YEAR],
    )
    assert flags == [
        (POLICE, None, 8.0),
        (JUSTICE, "not_applicable", None),
        (FINANCE, "not_applicable", None),
    ]
    warned = wh.rows(
        "select code, severity from marts.ingest_issues where code = 'task_not_applicable' and message like '第12项%'"
    )
    assert warned == [("task_not_applicable", "warning")]


def test_pending_before_the_due_date_and_missing_after(runs):
    before = runs["before"].one(
        "select status, rank, is_bottom, note from marts.region_rankings where year = ? and region = '丙县'",
        [YEAR],
    )
    assert before == ("pending", None, False, "丙县人民政府待审（打分表未到应报日期 2025-01-31）")
    after = runs["after"].one(
        "select status, rank, is_bottom, note from marts.region_rankings where year = ? and region = '丙县'",
        [YEAR],
    )
    assert after == ("missing", None, False, "丙县人民政府缺报")
    assert _unit(runs["before"], "丙县人民政府")["status"] == "pending"
    assert _unit(runs["after"], "丙县人民政府")["status"] == "missing"
    # 缺报 is a finding; 待审 is not
    finding = "select count(*) from marts.weak_spots where item = '未报送打分表' and year = ?"
    assert runs["before"].one(finding, [YEAR]) == (0,) and runs["after"].one(finding, [YEAR]) == (1,)


def test_every_ranking_states_its_coverage(runs):
    coverage = runs["after"].rows(
        "select distinct rank_total, subject_total from marts.region_rankings where year = ?", [YEAR]
    )
    assert coverage == [(2, 3)]
    departments = runs["after"].rows(
        "select distinct rank_total, subject_total from marts.unit_scores where year = ? and role = 'department'",
        [YEAR],
    )
    assert departments == [(3, 3)]


def test_stability_stands_beside_every_published_rank(runs):
    wh = runs["after"]
    published = wh.rows(
        "select region, rank from marts.region_rankings where year = ? and rank is not null order by region",
        [YEAR],
    )
    simulated = wh.rows(
        """select subject, rank from marts.rank_stability where year = ? and scope = 'region'
           order by subject""",
        [YEAR],
    )
    assert simulated == published  # 丙县, not ranked, has no band
    rows = wh.df("select * from marts.rank_stability where year = ?", [YEAR])
    assert set(rows["draws"]) == {1000}
    assert ((rows["p05"] <= rows["rank"]) | (rows["p95"] >= rows["rank"])).all()
    assert set(rows["scope"]) == {"region", "party", "government", "department"}
    # a second computation on the same files draws the same bands
    again = runs["before"].df(
        "select subject, p05, p95, tier from marts.rank_stability where year = ? and scope = 'department'",
        [YEAR],
    )
    first = rows[rows["scope"] == "department"][["subject", "p05", "p95", "tier"]]
    assert sorted(map(tuple, again.values)) == sorted(map(tuple, first.values))


def test_the_path_of_a_region_one_point_behind_the_next(runs):
    path = runs["after"].df(
        """select step, kind, item, points, score_after, rank, rank_after, in_smallest_lift
           from marts.improvement_paths where year = ? and scope = 'region' and subject = '乙县' order by step""",
        [YEAR],
    )
    first = path.iloc[0]
    # easiest first: a record of the hearings restores the 2 points the records decide on party task 1,
    # one point on the region's mean: level with 甲县's 90, which ties it for first
    assert (first["kind"], first["points"], first["score_after"], first["rank"], first["rank_after"]) == (
        "record",
        1.0,
        90.0,
        2,
        1,
    )
    assert "第1项" in first["item"]
    # the smallest set that lifts it: the single largest item (government task 1, 7 points: 3.5)
    lift = path[path["in_smallest_lift"]]
    assert len(lift) == 1 and lift.iloc[0]["points"] == 3.5 and "第1项" in lift.iloc[0]["item"]
    assert path["rank_after"].is_monotonic_decreasing


# The same warehouse on the dashboard (AppTest): coverage, band and tier beside each rank, the last place
# and whether it stands apart, a unit's rate when a task does not apply, and what it would take.


@pytest.fixture
def open_page(runs, monkeypatch):
    from sessions import signed_in, user_of
    from streamlit.testing.v1 import AppTest
    from test_dashboard_app import APP, _no_traceback

    monkeypatch.setenv("FAZHI_WAREHOUSE", str(runs["after"].path))

    def open_(page: str, user: str = "leader") -> AppTest:
        at = signed_in(AppTest.from_file(APP, default_timeout=60), user_of(user))
        at.session_state["f_year"] = YEAR
        at.run()
        at.switch_page(page)
        at.run()
        _no_traceback(at)
        return at

    return open_


def _shown(at) -> str:
    from test_dashboard_app import _texts

    return _texts(at) + "\n".join(str(df.value.to_dict()) for df in at.dataframe)


def test_the_ranking_shows_coverage_bands_tiers_and_the_last_place(open_page, runs):
    at = open_page("app_pages/ranking.py")
    assert "2/3 个县区参与排名" in _shown(at)
    regions = at.dataframe[0].value.set_index("区县")
    bands = runs["after"].rows(
        "select subject, p05, p95, tier_name from marts.rank_stability where year = ? and scope = 'region'",
        [YEAR],
    )
    for region, low, high, tier in bands:
        assert regions.loc[region, "名次区间"] == f"{low}–{high}" and regions.loc[region, "梯队"] == tier
    assert "缺报" in regions.loc["丙县", "备注"] and "丙县人民政府缺报" in regions.loc["丙县", "备注"]
    (distinct,) = runs["after"].one(
        "select distinct_from_above from marts.rank_stability where year = ? and subject = '乙县'", [YEAR]
    )
    assert regions.loc["乙县", "备注"] == (
        "末位（与上一名可区分）" if distinct else "末位（与上一名差距在模拟误差内）"
    )
    assert "3/3 个单位参与排名" in _shown(at)
    labels = [b.label for b in at.get("download_button")]
    assert "下载正式通报（Word）" in labels


def test_a_units_page_shows_its_rate_and_what_it_would_take(open_page):
    at = open_page("app_pages/unit.py")
    pick = at.selectbox(key="unit_pick")
    pick.select_index(next(i for i, o in enumerate(pick.options) if o.startswith(JUSTICE))).run()
    shown = _shown(at)
    assert "适用满分 92.0（满分 100.0），得分率 95.7%，折算得分 95.7" in shown
    assert "名次区间 2–2，第二梯队" in shown and "提分路径" in [h.value for h in at.subheader]
    # 市司法局 lost 4 on task 4, which no record decides: 4 of its 92 applicable points, 4.3 on the
    # ranking's scale (4 × 100 / 92), enough to pass 市财政局's 97.8
    path = next(df.value for df in at.dataframe if "可达名次" in df.value.columns)
    assert list(path["可提分"]) == ["4.3"] and list(path["可达名次"]) == [1]


def test_the_weak_spot_page_answers_what_it_would_take_for_a_region(open_page):
    at = open_page("app_pages/weak_spots.py")
    assert at.selectbox(key="weak_path_region").value == "乙县"  # the weakest ranked region first
    path = next(df.value for df in at.dataframe if "可达名次" in df.value.columns)
    assert path.iloc[0]["步骤"] == 1 and path.iloc[0]["可达名次"] == 1
    assert "最少 1 项（3.5 分）即可前进至少一名" in _shown(at)
