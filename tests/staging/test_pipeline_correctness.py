"""Correctness of the whole pipeline, pinned on small hand-made data with hand-computed results.

Every scenario writes a tiny data/raw tree with tests/builders.py (real .xlsx written by openpyxl,
GBK meeting CSVs, UTF-8 registers), runs the real pipeline (Dagster materialize in-process via
pipelines.cli.run_pipeline, real DuckDB work database, atomic publication) and asserts on the
published marts, read read-only the way analysts read them. The arithmetic behind each expected
number is written next to it.

Scenarios (module-scoped, each run once):
- SHEETS  — score-sheet reading: verified vs self, blank/invalid/text scores, 合计 row, re-submission,
            year written inside vs folder, unknown unit, corrupt files.
- RANKING — two years of region rankings: mean of party and government, ties, unranked region,
            prev_rank / rank_change, bottom flags with a tie.
- RECORDS — meetings, filings, normative documents and the evidence they give to score-sheet tasks;
            run twice (idempotency, parse cache), and once more under the `lushan` rulebook.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from tests.builders import (
    city_units,
    full_verified,
    losing,
    write_corrupt,
    write_filings,
    write_meetings,
    write_normative,
    write_score_sheet,
    write_units,
)
from tests.conftest import Warehouse, run_fazhi

Y = 2024


def ts(y: int, m: int, d: int) -> float:
    return datetime(y, m, d, 12, 0, 0).timestamp()


def assert_every_row_accounted_for(wh: Warehouse) -> None:
    """SPEC §5: rows_read = rows_loaded + rows_rejected for every file, and every rejected row has an
    ingest_issues row (an error naming that file, sheet and row)."""
    bad = wh.rows(
        "select file, year, rows_read, rows_loaded, rows_rejected from marts.submissions "
        "where rows_read is distinct from rows_loaded + rows_rejected"
    )
    assert bad == [], f"files whose rows do not add up: {bad}"
    short = wh.rows("""
        select s.file, s.year, s.rows_rejected, coalesce(i.n, 0)
        from marts.submissions s
        left join (select file, year, count(distinct (coalesce(sheet, ''), "row")) as n from marts.ingest_issues
                   where severity = 'error' and "row" is not null group by all) i
          on i.file = s.file and i.year = s.year
        where s.rows_rejected > coalesce(i.n, 0)""")
    assert short == [], f"files with rejected rows that have no issue row: {short}"


# =============================================================================================
# SHEETS: score-sheet reading
# =============================================================================================

SHEET_REGIONS = ["清丰县", "南乐县", "范县", "台前县"]
OLD_RESUBMISSION = "2024/score_sheets/z_范县政府_旧.xlsx"
NEW_RESUBMISSION = "2024/score_sheets/a_范县政府_新.xlsx"
YEAR_MISMATCH_FILE = "2023/score_sheets/台前县_party_2024.xlsx"
UNKNOWN_UNIT_FILE = "2024/score_sheets/清风县_party_2024.xlsx"
RANDOM_FILE = "2024/score_sheets/损坏_随机字节.xlsx"
TRUNCATED_FILE = "2024/score_sheets/损坏_截断.xlsx"
ERRORS_FILE = "2024/score_sheets/南乐县_party_2024.xlsx"
BAD_LEDGER = "2024/meetings/损坏台账.xlsx"


@pytest.fixture(scope="module")
def sheets(tmp_path_factory) -> Warehouse:
    root = tmp_path_factory.mktemp("sheets")
    raw = root / "raw"
    write_units(raw, city_units(SHEET_REGIONS))
    # 清丰县 party: 督察得分 filled for tasks 1 and 2 only; self-assessed full marks (100).
    write_score_sheet(raw, Y, "清丰县", "party", verified={1: 4, 2: 3})
    # 清丰县 government: 督察得分 filled for every task; full except task 1 (7 → 5) and task 10 (6 → 4).
    write_score_sheet(raw, Y, "清丰县", "government", verified=full_verified("government", {1: 5, 10: 4}))
    # 南乐县 party (no 合计 row): task 3 blank, 4 '优', 5 '-1', 6 99 (max 6), 8 '4.5分', 12 '４．５'.
    write_score_sheet(
        raw, Y, "南乐县", "party", {3: None, 4: "优", 5: "-1", 6: 99, 8: "4.5分", 12: "４．５"}, total=None
    )
    # 南乐县 government: tasks sum to 100 but the 合计 row says 90.
    write_score_sheet(raw, Y, "南乐县", "government", total=90)
    # 范县 party: 合计 row written as the true sum (100).
    write_score_sheet(raw, Y, "范县", "party")
    # 范县 government sent twice: the older file (June, 90 points) sorts after the newer (July, 100)
    # by name, so only the modification time can make the newer one win.
    write_score_sheet(
        raw,
        Y,
        "范县",
        "government",
        losing("government", 10),
        name="z_范县政府_旧.xlsx",
        mtime=ts(2024, 6, 1),
    )
    write_score_sheet(raw, Y, "范县", "government", name="a_范县政府_新.xlsx", mtime=ts(2024, 7, 1))
    # 台前县 party: filed in the 2023 folder, but the sheet says 年度：2024.
    write_score_sheet(raw, Y, "台前县", "party", file_year=2023)
    # A region the registry does not know (typo of 清丰县).
    write_score_sheet(raw, Y, "清风县", "party")
    # Two unreadable files.
    write_corrupt(raw, Y, "损坏_随机字节.xlsx", "random")
    write_corrupt(raw, Y, "损坏_截断.xlsx", "truncated")
    # A meeting ledger that cannot be read beside one that can.
    write_corrupt(raw, Y, "损坏台账.xlsx", "random", kind="meetings")
    write_meetings(raw, Y, "台账.csv", [("清丰县委", "2024-03-05", "常委会", "听取法治建设工作汇报")])
    return run_fazhi(raw, root / "marts" / "fazhi.duckdb")


def _unit_score(wh: Warehouse, region: str, role: str, year: int = Y) -> dict:
    df = wh.df(
        "select * from marts.unit_scores where year = ? and region = ? and role = ?", [year, region, role]
    )
    assert len(df) == 1, df
    return df.iloc[0].to_dict()


def _tasks(wh: Warehouse, region: str, role: str, year: int = Y) -> pd.DataFrame:
    return wh.df(
        """select t.* from marts.task_scores t join marts.units u using (unit_id)
                    where t.year = ? and u.region = ? and t.role = ? order by task_no""",
        [year, region, role],
    ).set_index("task_no")


def _issues(wh: Warehouse, file: str, code: str | None = None) -> pd.DataFrame:
    sql = "select * from marts.ingest_issues where file = ?" + (" and code = ?" if code else "")
    return wh.df(sql + ' order by "row"', [file, code] if code else [file])


def test_score_source_verified_over_self(sheets):
    # 清丰县 party: task 1 verified 4 (self 6), task 2 verified 3 (self 6); others self, full.
    # score = 100 − (6 − 4) − (6 − 3) = 95; self_score = 100; verified_score = 4 + 3 = 7.
    p = _unit_score(sheets, "清丰县", "party")
    assert p["score"] == pytest.approx(95.0)
    assert p["self_score"] == pytest.approx(100.0)
    assert p["verified_score"] == pytest.approx(7.0)
    assert p["score_source"] == "mixed"
    assert p["status"] == "scored"
    t = _tasks(sheets, "清丰县", "party")
    assert (t.loc[1, "points"], t.loc[1, "self_points"], t.loc[1, "verified_points"]) == (4.0, 6.0, 4.0)
    assert t.loc[1, "score_source"] == "verified" and t.loc[2, "score_source"] == "verified"
    assert t.loc[3, "points"] == 4.0 and t.loc[3, "score_source"] == "self"
    assert pd.isna(t.loc[3, "verified_points"])
    assert t.loc[1, "lost_points"] == pytest.approx(2.0)

    # 清丰县 government: every task verified: score = verified = 100 − (7 − 5) − (6 − 4) = 96; self 100.
    g = _unit_score(sheets, "清丰县", "government")
    assert (g["score"], g["self_score"], g["verified_score"]) == pytest.approx((96.0, 100.0, 96.0))
    assert g["score_source"] == "verified"
    assert g["score_rate"] == pytest.approx(0.96)

    # 范县 party: no 督察得分 column at all: self only.
    f = _unit_score(sheets, "范县", "party")
    assert (f["score"], f["self_score"], f["score_source"]) == (100.0, 100.0, "self")
    assert pd.isna(f["verified_score"])


def test_blank_invalid_and_text_scores(sheets):
    # Rows: title 1, 责任人 2, 被考核单位 3, 年度 4, header 5, task n on row 5 + n.
    t = _tasks(sheets, "南乐县", "party")
    for task_no in (3, 4, 5, 6):
        assert t.loc[task_no, "points"] == 0.0, task_no
    assert t.loc[3, "flag"] == "blank_score"
    assert t.loc[4, "flag"] == "invalid_score" and pd.isna(t.loc[4, "self_points"])
    assert t.loc[5, "flag"] == "invalid_score" and pd.isna(t.loc[5, "self_points"])
    # '4.5分' and full-width '４．５' are read as 4.5 (tasks 8 and 12 are worth 5).
    assert t.loc[8, "points"] == pytest.approx(4.5) and pd.isna(t.loc[8, "flag"])
    assert t.loc[12, "points"] == pytest.approx(4.5) and pd.isna(t.loc[12, "flag"])
    # score = 100 − 4 (t3) − 3 (t4) − 4 (t5) − 6 (t6) − 0.5 (t8) − 0.5 (t12) = 82
    u = _unit_score(sheets, "南乐县", "party")
    assert u["score"] == pytest.approx(82.0)
    assert u["status"] == "incomplete"

    blank = _issues(sheets, ERRORS_FILE, "score_blank")
    assert list(zip(blank["row"], blank["severity"], strict=False)) == [(8, "warning")]
    nan = _issues(sheets, ERRORS_FILE, "score_not_number")
    assert list(zip(nan["row"], nan["severity"], strict=False)) == [(9, "error")]
    assert "优" in nan["message"].iloc[0]
    neg = _issues(sheets, ERRORS_FILE, "score_negative")
    assert list(zip(neg["row"], neg["severity"], strict=False)) == [(10, "error")]
    assert "-1" in neg["message"].iloc[0]
    above = _issues(sheets, ERRORS_FILE, "score_above_max")
    assert list(zip(above["row"], above["severity"], strict=False)) == [(11, "error")]
    assert "99" in above["message"].iloc[0]
    # Nothing complains about the text scores of rows 13 (task 8) and 17 (task 12).
    assert not set(_issues(sheets, ERRORS_FILE)["row"].dropna().astype(int)) & {13, 17}
    # An above-max score is an invalid score, like '优' and '-1': its task says so.
    assert t.loc[6, "flag"] == "invalid_score"


def test_total_row_cross_check(sheets):
    # 南乐县 government: tasks sum to 100, 合计 says 90 → one warning on the 合计 row (row 5 + 30 + 1 = 36).
    gov = _issues(sheets, "2024/score_sheets/南乐县_government_2024.xlsx", "total_mismatch")
    assert list(zip(gov["row"], gov["severity"], strict=False)) == [(36, "warning")]
    assert "90" in gov["message"].iloc[0] and "100" in gov["message"].iloc[0]
    # The 合计 row is not a task: the unit still scores the task sum.
    assert _unit_score(sheets, "南乐县", "government")["score"] == 100.0
    # Matching totals raise nothing (范县 party 100 = 100; 清丰县 sheets 100 = 100 self).
    assert sheets.rows("select file from marts.ingest_issues where code = 'total_mismatch'") == [
        ("2024/score_sheets/南乐县_government_2024.xlsx",)
    ]


def test_resubmission_supersedes_older_file(sheets):
    subs = sheets.df(
        "select * from marts.submissions where file in (?, ?) order by file",
        [OLD_RESUBMISSION, NEW_RESUBMISSION],
    ).set_index("file")
    assert subs.loc[OLD_RESUBMISSION, "status"] == "superseded"
    assert subs.loc[OLD_RESUBMISSION, "superseded_by"] == NEW_RESUBMISSION
    assert subs.loc[NEW_RESUBMISSION, "status"] == "loaded"
    assert pd.isna(subs.loc[NEW_RESUBMISSION, "superseded_by"])
    assert subs.loc[OLD_RESUBMISSION, "unit_id"] == subs.loc[NEW_RESUBMISSION, "unit_id"]
    assert (subs["year"] == Y).all()
    # The newer file (100) scores, not the older (100 − 10 = 90); no task row comes from the older.
    g = _unit_score(sheets, "范县", "government")
    assert g["score"] == 100.0 and g["source_file"] == NEW_RESUBMISSION
    files = sheets.rows(
        "select distinct file from marts.task_scores t join marts.units u using (unit_id) "
        "where u.region = '范县' and t.role = 'government'"
    )
    assert files == [(NEW_RESUBMISSION,)]
    assert sheets.rows("select count(*) from marts.task_scores where file = ?", [OLD_RESUBMISSION]) == [(0,)]


def test_inner_year_wins_over_folder(sheets):
    # Folder 2023, 年度：2024 → scored in 2024, with a year_mismatch warning; nothing in 2023.
    u = _unit_score(sheets, "台前县", "party")
    assert u["score"] == 100.0 and u["source_file"] == YEAR_MISMATCH_FILE
    w = _issues(sheets, YEAR_MISMATCH_FILE, "year_mismatch")
    assert list(zip(w["year"], w["severity"], strict=False)) == [(2024, "warning")]
    assert sheets.rows("select year, status from marts.submissions where file = ?", [YEAR_MISMATCH_FILE]) == [
        (2024, "loaded")
    ]
    assert _unit_score(sheets, "台前县", "party", 2023)["status"] == "missing"


def test_unknown_unit_on_a_score_sheet(sheets):
    # 清风县 is not in the registry: one error naming the closest names, all 27 task rows rejected.
    err = _issues(sheets, UNKNOWN_UNIT_FILE, "unknown_unit")
    assert len(err) == 1 and err["severity"].iloc[0] == "error"
    assert "清风县" in err["message"].iloc[0] and "中共清丰县委员会" in err["message"].iloc[0]
    sub = sheets.one(
        "select rows_read, rows_loaded, rows_rejected, status from marts.submissions where file = ?",
        [UNKNOWN_UNIT_FILE],
    )
    assert sub == (27, 0, 27, "rejected")
    rows = sheets.rows(
        'select distinct "row" from marts.ingest_issues where file = ? and "row" is not null '
        "and severity = 'error' order by 1",
        [UNKNOWN_UNIT_FILE],
    )
    assert [r for (r,) in rows] == list(range(6, 33))  # task rows 6..32
    assert sheets.rows("select count(*) from marts.task_scores where file = ?", [UNKNOWN_UNIT_FILE]) == [(0,)]
    assert_every_row_accounted_for(sheets)


def test_corrupt_files_one_error_each_others_load(sheets):
    for f in (RANDOM_FILE, TRUNCATED_FILE):
        issues = _issues(sheets, f)
        assert len(issues) == 1, issues
        assert issues["severity"].iloc[0] == "error"
        assert sheets.one("select status, rows_read from marts.submissions where file = ?", [f]) == (
            "rejected",
            0,
        )
    # Every other score sheet of a registered unit loaded (or was superseded by design).
    others = sheets.rows(
        """select file, status from marts.submissions where kind = 'score_sheet'
                            and file not in (?, ?, ?)""",
        [RANDOM_FILE, TRUNCATED_FILE, UNKNOWN_UNIT_FILE],
    )
    assert len(others) == 8
    assert {s for _, s in others} <= {"loaded", "superseded"}
    # The same for ledgers: the unreadable one is one error, the readable one loads its row.
    assert len(_issues(sheets, BAD_LEDGER)) == 1
    assert sheets.one("select status, rows_read from marts.submissions where file = ?", [BAD_LEDGER]) == (
        "rejected",
        0,
    )
    assert sheets.one(
        "select status, rows_read, rows_loaded from marts.submissions where file = ?",
        ["2024/meetings/台账.csv"],
    ) == ("loaded", 1, 1)
    assert _issues(sheets, "2024/meetings/台账.csv").empty
    assert sheets.one(
        "select count(*) from marts.requirement_compliance where year = 2024 and actual > 0"
    ) == (1,)
    # 4 regions × 2 roles; only 台前县 government sent nothing.
    scored = sheets.rows("select region, role, status from marts.unit_scores where year = 2024 order by all")
    assert [(r, ro) for r, ro, s in scored if s == "missing"] == [("台前县", "government")]


# =============================================================================================
# RANKING: two years of region rankings
# =============================================================================================

# region → (party score, government score), built with builders.losing(role, 100 − score).
RANK_2023 = {
    "清丰县": (90, 90),
    "南乐县": (100, 100),
    "范县": (80, 80),
    "台前县": (85, 85),
    "濮阳县": (80, 90),
    "华龙区": (70, 70),
}
RANK_2024 = {
    "清丰县": (100, 100),
    "南乐县": (98, 92),
    "范县": (95, 95),
    "台前县": (90, 90),
    "濮阳县": (88, 92),
    "华龙区": (100, None),
}  # 华龙区 government sent nothing in 2024


@pytest.fixture(scope="module")
def ranking(tmp_path_factory) -> Warehouse:
    root = tmp_path_factory.mktemp("ranking")
    raw = root / "raw"
    write_units(raw, city_units(list(RANK_2024)))
    for year, table in ((2023, RANK_2023), (2024, RANK_2024)):
        for region, (party, gov) in table.items():
            write_score_sheet(raw, year, region, "party", losing("party", 100 - party))
            if gov is not None:
                write_score_sheet(raw, year, region, "government", losing("government", 100 - gov))
    return run_fazhi(raw, root / "marts" / "fazhi.duckdb")


def test_region_ranking_ties_unranked_and_bottom(ranking):
    df = ranking.df("select * from marts.region_rankings where year = 2024").set_index("region")
    # score = (party + government) / 2
    #   清丰县 (100+100)/2 = 100 → 1
    #   南乐县 (98+92)/2 = 95  → 2  (tie)
    #   范县   (95+95)/2 = 95  → 2  (tie)
    #   台前县 (90+90)/2 = 90  → 4  (tie, last)
    #   濮阳县 (88+92)/2 = 90  → 4  (tie, last)
    #   华龙区 government missing → not ranked, still listed
    expected = {
        "清丰县": (100.0, 1),
        "南乐县": (95.0, 2),
        "范县": (95.0, 2),
        "台前县": (90.0, 4),
        "濮阳县": (90.0, 4),
    }
    for region, (score, rank) in expected.items():
        assert df.loc[region, "score"] == pytest.approx(score), region
        assert df.loc[region, "rank"] == rank, region
    assert (df.loc["南乐县", "party_score"], df.loc["南乐县", "government_score"]) == (98.0, 92.0)
    assert "华龙区" in df.index
    assert pd.isna(df.loc["华龙区", "rank"]) and pd.isna(df.loc["华龙区", "score"])
    assert df.loc["华龙区", "party_score"] == 100.0 and pd.isna(df.loc["华龙区", "government_score"])
    assert not df.loc["华龙区", "is_bottom"]
    # Bottom place 4 is shared: both flagged, nobody else.
    assert sorted(df.index[df["is_bottom"].astype(bool)]) == sorted(["台前县", "濮阳县"])
    assert (df["rank_total"] == 5).all()
    # The weak-spot list names both last places.
    last = ranking.rows(
        "select scope_id from marts.weak_spots where year = 2024 and item = '综合排名末位' order by 1"
    )
    assert [r for (r,) in last] == sorted(["台前县", "濮阳县"])


def test_prev_rank_and_rank_change(ranking):
    # 2023: 南乐县 100 → 1; 清丰县 90 → 2; 台前县 85, 濮阳县 (80+90)/2 = 85 → 3, 3; 范县 80 → 5; 华龙区 70 → 6.
    y23 = ranking.df("select region, rank, is_bottom from marts.region_rankings where year = 2023").set_index(
        "region"
    )
    assert y23["rank"].to_dict() == {
        "南乐县": 1,
        "清丰县": 2,
        "台前县": 3,
        "濮阳县": 3,
        "范县": 5,
        "华龙区": 6,
    }
    assert list(y23.index[y23["is_bottom"].astype(bool)]) == ["华龙区"]
    df = ranking.df("select * from marts.region_rankings where year = 2024").set_index("region")
    # rank_change = prev_rank − rank (positive: moved up)
    expected = {
        "清丰县": (2, 1, 1),
        "南乐县": (1, 2, -1),
        "范县": (5, 2, 3),
        "台前县": (3, 4, -1),
        "濮阳县": (3, 4, -1),
    }
    for region, (prev, rank, change) in expected.items():
        assert (df.loc[region, "prev_rank"], df.loc[region, "rank"], df.loc[region, "rank_change"]) == (
            prev,
            rank,
            change,
        )
    assert df.loc["华龙区", "prev_rank"] == 6 and pd.isna(df.loc["华龙区", "rank_change"])
    assert df.loc["范县", "prev_score"] == 80.0 and df.loc["范县", "score_change"] == pytest.approx(15.0)


def test_unit_rankings_within_role(ranking):
    # 2024 party: 清丰县 100, 华龙区 100, 南乐县 98, 范县 95, 台前县 90, 濮阳县 88 → 1, 1, 3, 4, 5, 6
    party = dict(
        ranking.rows("select region, rank from marts.unit_scores where year = 2024 and role = 'party'")
    )
    assert party == {"清丰县": 1, "华龙区": 1, "南乐县": 3, "范县": 4, "台前县": 5, "濮阳县": 6}
    # 2024 government: 清丰县 100, 范县 95, 南乐县 92, 濮阳县 92, 台前县 90 → 1, 2, 3, 3, 5; 华龙区 missing
    gov = ranking.df(
        "select region, rank, status, rank_total, is_bottom from marts.unit_scores "
        "where year = 2024 and role = 'government'"
    ).set_index("region")
    assert gov["rank"].dropna().astype(int).to_dict() == {
        "清丰县": 1,
        "范县": 2,
        "南乐县": 3,
        "濮阳县": 3,
        "台前县": 5,
    }
    assert gov.loc["华龙区", "status"] == "missing" and pd.isna(gov.loc["华龙区", "rank"])
    assert (gov["rank_total"] == 5).all()
    assert list(gov.index[gov["is_bottom"].astype(bool)]) == ["台前县"]
    assert_every_row_accounted_for(ranking)


# =============================================================================================
# RECORDS: meetings, filings, normative documents, evidence; rerun; second rulebook
# =============================================================================================

RECORD_REGIONS = ["清丰县", "南乐县", "范县"]
MEETINGS_FILE = "2024/meetings/会议台账.csv"
MEETINGS = [
    # 清丰县委 (party): one hearing (H1), central-group study Q1 (习近平法治思想, listed twice), Q2, Q3 (习…)
    ("清丰县委", "2024-01-10", "常委会", "听取2023年度法治建设工作汇报"),  # row 2
    ("清丰县委", "2024/3/15", "中心组学习", "学习习近平法治思想"),  # row 3
    ("中共清丰县委员会", "2024-03-15", "中心组学习", "学习习近平法治思想"),  # row 4: duplicate of row 3
    ("清丰县委", "2024年5月20日", "中心组学习", "学习《中华人民共和国行政复议法》"),  # row 5
    ("清丰县委", "2024-05-28", "专题讲座", "法治专题讲座"),  # row 6: lecture (study)
    ("清丰县委", "2024.8.8", "中心组学习", "深入学习习近平法治思想专题研讨"),  # row 7
    # 南乐县委: a hearing in each half-year
    ("南乐县委", "2024-03-20", "常委会", "听取上半年法治建设工作汇报"),  # row 8
    ("南乐县委", "2024-09-20", "常委会", "听取下半年法治建设工作情况汇报"),  # row 9
    # 清丰县政府: special meetings in Q1, Q2 (both H1) and Q4 (H2)
    ("清丰县政府", "2024-02-10", "政府常务会", "研究法治政府建设工作"),  # row 10
    ("清丰县政府", "2024-05-10", "政府常务会", "专题研究依法行政工作"),  # row 11
    ("清丰县政府", "2024-10-10", "专题会", "法治政府建设推进会"),  # row 12
    # 市司法局 (department): enforcement training 20 + 16 hours, one pre-meeting study (Q2)
    ("市司法局", "2024-04-02", "执法人员培训", "行政执法人员法治培训", 20),  # row 13
    ("市司法局", "2024-11-05", "执法人员培训", "执法人员法律知识培训", 16),  # row 14
    ("市司法局", "2024-06-06", "会前学法", "学习《行政处罚法》"),  # row 15
    # a unit the registry does not know (typo of 中共清丰县委)
    ("中共清风县委", "2024-06-01", "常委会", "听取法治建设工作汇报"),  # row 16
]
FILINGS = [
    ("清丰县委", "2024年度述法报告", 2024, "2025-01-31"),  # due 2025-01-31: on time
    ("南乐县委", "年度述法报告", 2024, "2025-02-01"),  # one day late
    ("清丰县政府", "法治政府建设年度报告", 2024, "2025-04-01"),  # due 2025-03-31: one day late
    ("清丰县政府", "督察自查报告", 2024, "2024-08-15", "2024-08-20"),  # rule Aug 10, register Aug 20
]
NORMATIVE = [
    # 清丰县政府: 5 issued, 4 filed, 3 within 30 days, 3 of the filed compliant
    ("清丰县政府", "文件一", "清政〔2024〕1号", "2024-03-01", "2024-03-31", "是"),  # 30 days: on time
    ("清丰县政府", "文件二", "清政〔2024〕2号", "2024-04-01", "2024-05-02", "是"),  # 31 days: late
    ("清丰县政府", "文件三", "清政〔2024〕3号", "2024-06-01", "", "是"),  # not filed
    ("清丰县政府", "文件四", "清政〔2024〕4号", "2024-07-01", "2024-07-10", "否"),  # on time, not compliant
    ("清丰县政府", "文件五", "清政〔2024〕5号", "2024-09-01", "2024-09-05", "是"),  # on time
    # 南乐县政府: 5 issued, 5 filed on time, 4 compliant
    *[
        (
            "南乐县政府",
            f"南文{i}",
            f"南政〔2024〕{i}号",
            f"2024-0{i}-01",
            f"2024-0{i}-15",
            "否" if i == 5 else "是",
        )
        for i in range(1, 6)
    ],
    # 范县政府: 2 issued, both filed on time and compliant
    ("范县政府", "范文一", "范政〔2024〕1号", "2024-02-01", "2024-02-20", "是"),
    ("范县政府", "范文二", "范政〔2024〕2号", "2024-10-01", "2024-10-31", "是"),  # 30 days: on time
]


def _snapshot(wh: Warehouse) -> dict[str, pd.DataFrame]:
    """Every published marts table, rows sorted; run timestamps (loaded_at, publication, the publication's
    time in rulebook_years) left out."""
    tables = [
        t
        for (t,) in wh.rows(
            "select table_name from duckdb_tables() where schema_name = 'marts' "
            "and table_name <> 'publication' order by 1"
        )
    ]
    out = {}
    for t in tables:
        df = wh.df(f"select * from marts.{t}")
        df = df.drop(columns=[c for c in ("loaded_at", "published_at") if c in df.columns]).astype(str)
        out[t] = df.sort_values(list(df.columns)).reset_index(drop=True)
    return out


def _parsed_files(wh: Warehouse) -> list[tuple]:
    import duckdb

    from pipelines.lib.warehouse import Paths

    con = duckdb.connect(str(Paths.from_env(wh.raw, wh.path).work_db), read_only=True)
    try:
        return con.execute("select sha256, kind, parsed_at from parsed_files order by 1, 2").fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    raw = root / "raw"
    write_units(raw, city_units(RECORD_REGIONS, ["市司法局"]))
    for region in ("清丰县", "南乐县"):
        write_score_sheet(raw, Y, region, "party")
    for region in RECORD_REGIONS:
        write_score_sheet(raw, Y, region, "government")
    write_meetings(raw, Y, "会议台账.csv", MEETINGS, encoding="gbk")
    write_filings(raw, Y, FILINGS, name="报送登记.csv")
    write_normative(raw, Y, NORMATIVE, name="规范性文件.csv")
    warehouse = root / "marts" / "fazhi.duckdb"
    first = run_fazhi(raw, warehouse)
    snap1, parsed1 = _snapshot(first), _parsed_files(first)
    second = run_fazhi(raw, warehouse)  # same files, same year: nothing may change
    return {
        "wh": second,
        "raw": raw,
        "snap1": snap1,
        "snap2": _snapshot(second),
        "parsed1": parsed1,
        "parsed2": _parsed_files(second),
    }


@pytest.fixture(scope="module")
def recs(records) -> Warehouse:
    return records["wh"]


def _uid(wh: Warehouse, name: str) -> str:
    return wh.one("select unit_id from marts.units where unit_name = ?", [name])[0]


def _compliance(wh: Warehouse, unit_name: str, requirement: str) -> dict[str, tuple]:
    rows = wh.rows(
        "select period, required, actual, met from marts.requirement_compliance "
        "where year = 2024 and unit_id = ? and requirement_id = ? order by period",
        [_uid(wh, unit_name), requirement],
    )
    return {p: (req, act, met) for p, req, act, met in rows}


def test_requirement_periods_every_unit_every_row(recs):
    # 范县 party recorded nothing: still one row per requirement and period, all actual 0, not met.
    fan = recs.df(
        "select requirement_id, period, actual, met from marts.requirement_compliance "
        "where year = 2024 and unit_id = ? order by 1, 2",
        [_uid(recs, "中共范县委员会")],
    )
    periods = fan.groupby("requirement_id")["period"].apply(list).to_dict()
    assert periods == {
        "central_group_study": ["2024"],
        "collective_study": ["2024Q1", "2024Q2", "2024Q3", "2024Q4"],
        "committee_hearing": ["2024H1", "2024H2"],
        "xi_thought_study": ["2024"],
    }
    assert (fan["actual"] == 0).all() and not fan["met"].any()
    # Government: collective 4 + special meeting 2 + leading group 1 + lecture 1 = 8 rows; department 3.
    gov = recs.df(
        "select requirement_id, period from marts.requirement_compliance where year = 2024 and unit_id = ?",
        [_uid(recs, "范县人民政府")],
    )
    assert gov.groupby("requirement_id")["period"].apply(sorted).to_dict() == {
        "collective_study": ["2024Q1", "2024Q2", "2024Q3", "2024Q4"],
        "gov_rol_meeting": ["2024H1", "2024H2"],
        "law_lecture": ["2024"],
        "leading_group_meeting": ["2024"],
    }
    # 7 units: 3 party × 8 + 3 government × 8 + 1 department × 3 = 51 rows
    assert recs.one("select count(*) from marts.requirement_compliance where year = 2024") == (51,)

    # 清丰县委: hearing only in H1.
    assert _compliance(recs, "中共清丰县委员会", "committee_hearing") == {
        "2024H1": (1.0, 1.0, True),
        "2024H2": (1.0, 0.0, False),
    }
    # 南乐县委: one hearing in each half-year.
    assert _compliance(recs, "中共南乐县委员会", "committee_hearing") == {
        "2024H1": (1.0, 1.0, True),
        "2024H2": (1.0, 1.0, True),
    }
    # 清丰县委 collective study (central-group study counts): Q1 1 (duplicate not counted), Q2 1, Q3 1, Q4 0.
    assert _compliance(recs, "中共清丰县委员会", "collective_study") == {
        "2024Q1": (1.0, 1.0, True),
        "2024Q2": (1.0, 1.0, True),
        "2024Q3": (1.0, 1.0, True),
        "2024Q4": (1.0, 0.0, False),
    }
    # 清丰县政府 special meetings: H1 = 2 (Feb, May), H2 = 1 (Oct).
    assert _compliance(recs, "清丰县人民政府", "gov_rol_meeting") == {
        "2024H1": (1.0, 2.0, True),
        "2024H2": (1.0, 1.0, True),
    }
    # 市司法局: training hours 20 + 16 = 36 < 60; pre-meeting study 1 < 4; lectures 0 < 2.
    assert _compliance(recs, "市司法局", "enforcement_training_hours") == {"2024": (60.0, 36.0, False)}
    assert _compliance(recs, "市司法局", "pre_meeting_study") == {"2024": (4.0, 1.0, False)}
    assert _compliance(recs, "市司法局", "law_lecture") == {"2024": (2.0, 0.0, False)}


def test_xi_thought_and_duplicate_meetings(recs):
    # Central-group study 清丰县委: 3/15 (习…), 5/20 (行政复议法), 8/8 (习…) = 3; the 3/15 duplicate once.
    assert _compliance(recs, "中共清丰县委员会", "central_group_study") == {"2024": (4.0, 3.0, False)}
    # 习近平法治思想 topics: 3/15 and 8/8 = 2 ≥ 2.
    assert _compliance(recs, "中共清丰县委员会", "xi_thought_study") == {"2024": (2.0, 2.0, True)}
    dup = _issues(recs, MEETINGS_FILE, "duplicate_meeting")
    assert list(zip(dup["row"], dup["severity"], strict=False)) == [(4, "warning")]
    m = recs.df("select * from marts.meetings where file = ? order by row", [MEETINGS_FILE]).set_index("row")
    assert m.loc[4, "is_duplicate"] and not m.loc[3, "is_duplicate"]
    assert set(m.loc[3, "meeting_types"]) >= {"central_group_study", "xi_thought_study"}
    assert m.loc[5, "date"].date() == date(2024, 5, 20) and m.loc[7, "date"].date() == date(2024, 8, 8)


def test_study_sessions_quarterly(recs):
    # 清丰县委 study meetings (central group, collective, pre-meeting, lecture), each counted once:
    #   Q1: 3/15 (central group + 习…: one meeting; the duplicate row not counted)   → 1
    #   Q2: 5/20 central group, 5/28 lecture                                            → 2
    #   Q3: 8/8 central group + 习…                                                     → 1
    #   Q4: none                                                                         → 0
    # required per quarter for party: max(4/yr ÷ 4, 2/yr ÷ 4, 1/quarter) rounded up = 1
    rows = recs.rows(
        "select quarter, sessions, required, met from marts.study_sessions_quarterly "
        "where year = 2024 and unit_id = ? order by quarter",
        [_uid(recs, "中共清丰县委员会")],
    )
    assert rows == [(1, 1, 1, True), (2, 2, 1, True), (3, 1, 1, True), (4, 0, 1, False)]
    # The hearing (1/10) is not study; 清丰县政府's special meetings are not study either.
    gov = recs.rows(
        "select quarter, sessions from marts.study_sessions_quarterly where year = 2024 and unit_id = ? "
        "order by quarter",
        [_uid(recs, "清丰县人民政府")],
    )
    assert gov == [(1, 0), (2, 0), (3, 0), (4, 0)]
    # 市司法局: the 6/6 pre-meeting study in Q2; training is not study.
    dept = recs.rows(
        "select quarter, sessions from marts.study_sessions_quarterly where year = 2024 and unit_id = ? "
        "order by quarter",
        [_uid(recs, "市司法局")],
    )
    assert dept == [(1, 0), (2, 1), (3, 0), (4, 0)]
    # every unit × 4 quarters: 7 × 4 = 28
    assert recs.one("select count(*) from marts.study_sessions_quarterly where year = 2024") == (28,)


def test_filing_and_on_time_rates(recs):
    def rates(unit_name: str) -> dict[str, tuple]:
        rows = recs.rows(
            "select report_type, required, filed, on_time, filing_rate, on_time_rate, due_date "
            "from marts.filing_rates where year = 2024 and unit_id = ?",
            [_uid(recs, unit_name)],
        )
        return {r[0]: r[1:] for r in rows}

    qf_party = rates("中共清丰县委员会")
    # party files: 述法, 自查, 整改 (not the rule-of-law government report)
    assert set(qf_party) == {"shufa_report", "self_inspection_report", "rectification_report"}
    assert qf_party["shufa_report"] == (1, 1, 1, 1.0, 1.0, date(2025, 1, 31))  # filed on the due date
    assert qf_party["self_inspection_report"][:3] == (1, 0, 0)  # nothing filed: row kept
    assert rates("中共南乐县委员会")["shufa_report"] == (
        1,
        1,
        0,
        1.0,
        0.0,
        date(2025, 1, 31),
    )  # 2/1: a day late
    gov = rates("清丰县人民政府")
    assert set(gov) == {
        "shufa_report",
        "rol_gov_annual_report",
        "self_inspection_report",
        "rectification_report",
    }
    assert gov["rol_gov_annual_report"] == (1, 1, 0, 1.0, 0.0, date(2025, 3, 31))  # 4/1: a day late
    # 应报日期 2024-08-20 in the register overrides the rule's Aug 10: 8/15 is on time.
    assert gov["self_inspection_report"] == (1, 1, 1, 1.0, 1.0, date(2024, 8, 20))
    assert gov["rectification_report"] == (1, 0, 0, 0.0, 0.0, date(2024, 9, 5))
    assert gov["shufa_report"][:3] == (1, 0, 0)
    # 3 party × 3 + 3 government × 4 + 1 department × 4 = 25 rows
    assert recs.one("select count(*) from marts.filing_rates where year = 2024") == (25,)


def test_normative_document_rates_and_task_10(recs):
    def nd(unit_name: str) -> tuple:
        return recs.one(
            "select issued, filed, filed_on_time, compliant, filing_rate, timely_rate, compliance_rate "
            "from marts.normative_doc_rates where year = 2024 and unit_id = ?",
            [_uid(recs, unit_name)],
        )

    # 清丰县政府: issued 5, filed 4, within 30 days 3 (30 days counts, 31 not), compliant 3 of the 4 filed
    #   报备率 4/5 = 0.8, 及时率 3/5 = 0.6, 规范率 3/4 = 0.75 → lowest 0.6 < 0.8 → task 10 evidence 0
    assert nd("清丰县人民政府") == pytest.approx((5, 4, 3, 3, 0.8, 0.6, 0.75))
    # 南乐县政府: 5, 5, 5, 4 → 1.0, 1.0, 0.8 → lowest 0.8 ≥ 0.8 → 1 point
    assert nd("南乐县人民政府") == pytest.approx((5, 5, 5, 4, 1.0, 1.0, 0.8))
    # 范县政府: 2, 2, 2, 2 → 1.0, 1.0, 1.0 → 2 points
    assert nd("范县人民政府") == pytest.approx((2, 2, 2, 2, 1.0, 1.0, 1.0))

    t10 = {
        r[0]: r[1:]
        for r in recs.rows(
            "select u.unit_name, t.points, t.evidence_points, t.evidence_max, t.flag from marts.task_scores t "
            "join marts.units u using (unit_id) where t.year = 2024 and t.role = 'government' and t.task_no = 10"
        )
    }
    # task 10 is worth 6, of which the records decide 2; each sheet claims the full 6.
    assert t10["清丰县人民政府"] == (6.0, 0.0, 2.0, "evidence_shortfall")  # 6 > 6 − 2 + 0
    assert t10["南乐县人民政府"] == (6.0, 1.0, 2.0, "evidence_shortfall")  # 6 > 6 − 2 + 1
    assert t10["范县人民政府"] == (6.0, 2.0, 2.0, None)


def test_evidence_links_committee_hearings(recs):
    def task1(unit_name: str) -> dict:
        df = recs.df(
            "select * from marts.task_scores where year = 2024 and unit_id = ? and task_no = 1",
            [_uid(recs, unit_name)],
        )
        assert len(df) == 1
        return df.iloc[0].to_dict()

    # 清丰县委: 1 hearing (H1), 6 of 6 claimed; evidence 2 − 1 × (1 period short) = 1 of 2.
    t = task1("中共清丰县委员会")
    assert (t["points"], t["evidence_points"], t["evidence_max"], t["flag"]) == (
        6.0,
        1.0,
        2.0,
        "evidence_shortfall",
    )
    assert "2024H2" in t["flag_note"] and "2024H1" not in t["flag_note"]
    # 南乐县委: a hearing in each half-year: 2 of 2, no flag.
    t = task1("中共南乐县委员会")
    assert (t["points"], t["evidence_points"], t["evidence_max"]) == (6.0, 2.0, 2.0)
    assert t["flag"] is None or pd.isna(t["flag"])
    # 清丰县政府 task 4 (special meetings): H1 2, H2 1 → nothing short → 2 of 2, no flag.
    t4 = recs.one(
        "select evidence_points, evidence_max, flag from marts.task_scores where year = 2024 "
        "and unit_id = ? and task_no = 4",
        [_uid(recs, "清丰县人民政府")],
    )
    assert t4 == (2.0, 2.0, None)


def test_unknown_unit_in_a_ledger(recs):
    err = _issues(recs, MEETINGS_FILE, "unknown_unit")
    assert list(zip(err["row"], err["severity"], strict=False)) == [(16, "error")]
    assert "中共清风县委" in err["message"].iloc[0] and "中共清丰县委员会" in err["message"].iloc[0]
    # 15 rows read: 14 loaded (the duplicate is loaded, flagged), 1 rejected.
    assert recs.one(
        "select rows_read, rows_loaded, rows_rejected, status from marts.submissions where file = ?",
        [MEETINGS_FILE],
    ) == (15, 14, 1, "partially_loaded")
    assert recs.rows(
        'select count(*) from marts.meetings where file = ? and "row" = 16', [MEETINGS_FILE]
    ) == [(0,)]
    assert recs.one(
        "select rows_read, rows_rejected from marts.submissions where file = ?", ["2024/filings/报送登记.csv"]
    ) == (4, 0)
    assert recs.one(
        "select rows_read, rows_rejected from marts.submissions where file = ?",
        ["2024/normative_docs/规范性文件.csv"],
    ) == (12, 0)
    assert_every_row_accounted_for(recs)


def test_second_run_parses_nothing_and_gives_identical_marts(records):
    # Parse cache: the second run re-parsed no file (parsed_at of every content unchanged).
    assert records["parsed1"] and records["parsed1"] == records["parsed2"]
    # Idempotency: every published table row for row the same (loaded_at is the run's own clock).
    snap1, snap2 = records["snap1"], records["snap2"]
    assert set(snap1) == set(snap2)
    assert {
        "unit_scores",
        "region_rankings",
        "task_scores",
        "requirement_compliance",
        "study_sessions_quarterly",
        "filing_rates",
        "normative_doc_rates",
        "weak_spots",
        "ingest_issues",
        "submissions",
    } <= set(snap1)
    for table in snap1:
        pd.testing.assert_frame_equal(snap1[table], snap2[table], obj=table)
    assert len(snap1["task_scores"]) == 2 * 27 + 3 * 30

    # Calling the ingest step again reports the same: everything cached, nothing parsed, even
    # for a file whose modification time changed but whose content did not.
    from pipelines.lib import pipeline
    from pipelines.lib.warehouse import Paths

    wh: Warehouse = records["wh"]
    touched = records["raw"] / "2024" / "meetings" / "会议台账.csv"
    os.utime(touched, (ts(2025, 1, 2), ts(2025, 1, 2)))
    paths = Paths.from_env(wh.raw, wh.path)
    pipeline.scan_raw_files(paths)
    stats = pipeline.parse_raw_files(paths)
    assert stats["files_parsed"] == 0
    assert stats["files_cached"] == 9  # units + 5 sheets + meetings + filings + normative


def test_second_rulebook_changes_results(records, tmp_path):
    # Same data/raw, rulebook 'lushan': the government special meeting is due every quarter.
    lushan = run_fazhi(records["raw"], tmp_path / "lushan.duckdb", [2024], rulebook="lushan")
    default = records["wh"]
    # Default: 清丰县政府 H1 2 (met), H2 1 (met).
    assert _compliance(default, "清丰县人民政府", "gov_rol_meeting") == {
        "2024H1": (1.0, 2.0, True),
        "2024H2": (1.0, 1.0, True),
    }
    # Lushan: Q1 1 (2/10), Q2 1 (5/10), Q3 0, Q4 1 (10/10).
    assert _compliance(lushan, "清丰县人民政府", "gov_rol_meeting") == {
        "2024Q1": (1.0, 1.0, True),
        "2024Q2": (1.0, 1.0, True),
        "2024Q3": (1.0, 0.0, False),
        "2024Q4": (1.0, 1.0, True),
    }

    def counts(wh):
        return wh.one(
            "select count(*), count(*) filter (where met) from marts.requirement_compliance "
            "where year = 2024 and requirement_id = 'gov_rol_meeting'"
        )

    assert counts(default) == (3 * 2, 2)  # 3 governments × 2 half-years; only 清丰县's 2 met
    assert counts(lushan) == (3 * 4, 3)  # 3 governments × 4 quarters; 清丰县's Q1, Q2, Q4 met
    # The evidence of government task 4 follows: default 2 of 2; lushan 2 − 1 × 1 short quarter = 1.
    t4 = lushan.one(
        "select evidence_points, flag, flag_note from marts.task_scores where year = 2024 "
        "and unit_id = ? and task_no = 4",
        [_uid(lushan, "清丰县人民政府")],
    )
    assert t4[:2] == (1.0, "evidence_shortfall") and "2024Q3" in t4[2]


# =============================================================================================
# Dagster definitions: checks pass; a failing blocking check stops publication
# =============================================================================================


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _with_a_duplicate_task_row(monkeypatch) -> None:
    """Make score-sheet staging write one task row twice, as a defect would."""
    import pyarrow as pa

    from pipelines.lib import pipeline

    real = pipeline.STAGERS["score_sheets"]

    def stage_with_duplicate(*args, **kwargs):
        frames = real(*args, **kwargs)
        rows = frames["stg_task_scores"]
        frames["stg_task_scores"] = pa.concat_tables([rows, rows.slice(0, 1)])
        return frames

    monkeypatch.setitem(pipeline.STAGERS, "score_sheets", stage_with_duplicate)


def test_dagster_definitions_checks_pass_and_failing_check_blocks_publication(tmp_path, monkeypatch, capsys):
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.defs.resources import FazhiWarehouse

    raw, warehouse = tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb"
    write_units(raw, city_units(["清丰县"]))
    write_score_sheet(raw, Y, "清丰县", "party")
    write_score_sheet(raw, Y, "清丰县", "government", losing("government", 4))  # 96
    resources = {**defs.resources, "fazhi": FazhiWarehouse(raw_dir=str(raw), warehouse=str(warehouse))}
    instance = dg.DagsterInstance.ephemeral()
    assets = list(defs.assets)
    expected_checks = {
        (key.to_user_string(), spec.name)
        for a in assets
        for key, spec in ((spec.asset_key, spec) for spec in a.check_specs)
    }
    assert len(expected_checks) >= 40

    r1 = dg.materialize(assets, resources=resources, instance=instance)
    assert r1.success
    evaluations = r1.get_asset_check_evaluations()
    assert {(e.asset_key.to_user_string(), e.check_name) for e in evaluations} == expected_checks
    assert all(e.passed for e in evaluations), [e.check_name for e in evaluations if not e.passed]
    assert "published_warehouse" in {
        e.asset_key.to_user_string() for e in r1.get_asset_materialization_events()
    }
    wh = Warehouse(raw, warehouse)
    assert wh.one("select score from marts.region_rankings where year = 2024") == (98.0,)  # (100 + 96) / 2
    published = _sha(warehouse)

    # Now the government sends a corrected sheet (100), and staging is made to write one task row
    # twice. The blocking check on the staging table's key must fail and stop the marts and publication.
    write_score_sheet(raw, Y, "清丰县", "government", mtime=ts(2030, 1, 1))
    _with_a_duplicate_task_row(monkeypatch)
    r2 = dg.materialize(assets, resources=resources, instance=instance, raise_on_error=False)
    assert not r2.success
    failed = {
        (e.asset_key.to_user_string(), e.check_name) for e in r2.get_asset_check_evaluations() if not e.passed
    }
    assert len(failed) == 1 and next(iter(failed))[0] == "stg_task_scores", failed
    assert "unique_combination" in next(iter(failed))[1]
    materialized = {e.asset_key.to_user_string() for e in r2.get_asset_materialization_events()}
    assert "published_warehouse" not in materialized and "marts/unit_scores" not in materialized
    # The published file is untouched: same bytes, still the old score, no temp file left behind.
    assert _sha(warehouse) == published
    assert wh.one("select score from marts.region_rankings where year = 2024") == (98.0,)
    assert [p.name for p in warehouse.parent.iterdir() if ".tmp" in p.name] == []

    # Materialized without its checks (as `fazhi run` does), the marts step still runs the tests its
    # models stand on, and fails: nothing is published.
    r3 = dg.materialize(
        assets,
        selection=dg.AssetSelection.all().without_checks(),
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    assert not r3.success and r3.get_asset_check_evaluations() == []
    assert "published_warehouse" not in {
        e.asset_key.to_user_string() for e in r3.get_asset_materialization_events()
    }
    assert _sha(warehouse) == published

    # The CLI path names the failed check in a sentence, exits non-zero and publishes nothing either.
    from pipelines.cli import run_pipeline

    capsys.readouterr()
    assert run_pipeline(str(raw), str(warehouse), [Y], quiet=True) == 1
    said = capsys.readouterr().err
    assert (
        said.startswith("有阻断性检查未通过，marts 未发布")
        and "stg_task_scores: source_unique_combination" in said
    ), said
    assert "Traceback" not in said
    assert _sha(warehouse) == published


def test_a_failing_test_of_two_staging_tables_blocks_publication_though_it_is_no_dagster_check(
    tmp_path, monkeypatch, capsys
):
    # dagster-dbt makes no asset check of a test on two sources (a ledger's rejected rows each have an
    # issue); the marts step runs it all the same, and a run whose staging lost an issue publishes nothing.
    from pipelines.cli import run_pipeline
    from pipelines.lib import pipeline

    raw, warehouse = tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb"
    write_units(raw, city_units(["清丰县"]))
    write_score_sheet(raw, Y, "清丰县", "party")
    write_meetings(raw, Y, "台账.csv", [("清丰县委", "2024-03-05", "常委会", "听取法治建设工作汇报")])
    assert run_pipeline(str(raw), str(warehouse), [Y], quiet=True) == 0
    published = _sha(warehouse)

    real = pipeline.STAGERS["meetings"]

    def losing_issues(*args, **kwargs):
        frames = real(*args, **kwargs)
        frames["stg_meeting_issues"] = frames["stg_meeting_issues"].slice(0, 0)
        return frames

    monkeypatch.setitem(pipeline.STAGERS, "meetings", losing_issues)
    write_meetings(
        raw,
        Y,
        "台账.csv",
        [
            ("清丰县委", "2024-03-05", "常委会", "听取法治建设工作汇报"),
            ("清丰县委", "不是日期", "常委会", "学法"),
        ],
    )
    capsys.readouterr()
    assert run_pipeline(str(raw), str(warehouse), [Y], quiet=True) == 1
    said = capsys.readouterr().err
    assert "source_rejected_rows_have_issues_staging_stg_meeting_files" in said, said
    assert _sha(warehouse) == published


@pytest.mark.slow  # the rule is the unit test unit_scores_bottom_cut_with_ties; end to end in the slow suite
def test_no_last_place_among_those_tied_for_first(tmp_path):
    # Two regions with identical sheets: both rank 1 (competition ranking), and nobody is "last":
    # a 末位 flag on a region tied for first would send a city leader to interview the leaders.
    raw = tmp_path / "raw"
    write_units(raw, city_units(["甲县", "乙县"]))
    for region in ("甲县", "乙县"):
        write_score_sheet(raw, Y, region, "party", losing("party", 3))
        write_score_sheet(raw, Y, region, "government", losing("government", 5))
    wh = run_fazhi(raw, tmp_path / "fazhi.duckdb", [Y])
    rows = wh.rows(
        "select region, rank, is_bottom from marts.region_rankings where year = ? order by region", [Y]
    )
    assert rows == [("乙县", 1, False), ("甲县", 1, False)]
    flagged = wh.rows("select count(*) from marts.unit_scores where year = ? and is_bottom", [Y])
    assert flagged == [(0,)]


@pytest.mark.slow  # blocking checks stay in the default suite (test_dagster_definitions_checks_pass_…)
def test_failed_year_blocks_publication_of_all_years_and_stray_files_are_reported(tmp_path, monkeypatch):
    # A file dropped at the root of data/raw belongs to no year: it is still listed, with a reason.
    raw = tmp_path / "raw"
    write_units(raw, city_units(["甲县"]))
    for year in (2023, 2024):
        write_score_sheet(raw, year, "甲县", "party")
        write_score_sheet(raw, year, "甲县", "government")
    (raw / "打分表_甲县.xlsx").write_bytes(b"not here")
    warehouse = tmp_path / "fazhi.duckdb"
    wh = run_fazhi(raw, warehouse, [2023, 2024])
    stray = wh.rows("select year, severity, code from marts.ingest_issues where file = '打分表_甲县.xlsx'")
    assert stray == [(None, "error", "unknown_location")]
    before = _sha(warehouse)

    # Now a blocking check fails: nothing of any year may be published. A corrected sheet arrives, so
    # that the score sheets are staged again (unchanged inputs are not) and the defect shows.
    from pipelines.cli import run_pipeline

    write_score_sheet(raw, 2024, "甲县", "government", losing("government", 1))
    _with_a_duplicate_task_row(monkeypatch)
    assert run_pipeline(str(raw), str(warehouse), [2023, 2024], quiet=True) == 1
    assert _sha(warehouse) == before
