"""A corrected file is staged again with the files it is weighed against, not with every file of its
kind: a score sheet with the sheets of its unit, role and year; a meeting ledger with the ledgers
holding meetings of the same unit and year; a filing or normative-document register alone. The tables are then what staging every file makes of the
same files."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from builders import (
    city_units,
    losing,
    ready_to_stage,
    rows_without_times,
    write_corrupt,
    write_filings,
    write_meetings,
    write_normative,
    write_score_sheet,
    write_units,
)

from pipelines.defs.staging import KINDS, kind_deps
from pipelines.lib import pipeline
from pipelines.lib.rulebook import Rulebook
from pipelines.lib.warehouse import Paths

Y = 2024


def at(month: int) -> float:
    return datetime(Y + 1, month, 1).timestamp()


def _stage_kind(paths: Paths, rules: Rulebook, kind: str) -> None:
    pipeline.stage_kind(paths, rules, kind, owns=KINDS[kind][0], reads=kind_deps(kind))


def _stage(paths: Paths, rules: Rulebook, kind: str) -> None:
    """What a run does before staging the kinds, then this kind's staging."""
    pipeline.scan_raw_files(paths)
    pipeline.parse_raw_files(paths, workers=1)
    pipeline.stage_registry(paths, rules)
    _stage_kind(paths, rules, kind)


def _tables(work_db: Path, kind: str) -> dict[str, list[str]]:
    """The kind's tables' rows (as sorted text), without the time each was loaded at."""
    with duckdb.connect(str(work_db), read_only=True) as con:
        return {table: rows_without_times(con, table) for table in KINDS[kind][0]}


def _staged_whole(paths: Paths, rules: Rulebook, kind: str, root: Path) -> dict[str, list[str]]:
    """The same tables made from every file: a copy of the work database, staged with no record of
    what its tables were made from."""
    copy = Paths(paths.raw_dir, root / "marts" / "fazhi.duckdb")
    copy.work_db.parent.mkdir(parents=True)
    shutil.copy(paths.work_db, copy.work_db)
    with duckdb.connect(str(copy.work_db)) as con:
        for table in KINDS[kind][0]:
            con.execute(f"comment on table {table} is NULL")
    _stage_kind(copy, rules, kind)
    return _tables(copy.work_db, kind)


@pytest.fixture
def restaged(monkeypatch) -> list[list[str]]:
    """The files each restaging of changed files replaced the rows of, one list per restaging."""
    calls: list[list[str]] = []
    real = pipeline._replace_all

    def spy(con, frames, stamp=None, context=None, files=None):
        if files is not None:
            calls.append(files)
        return real(con, frames, stamp, context, files)

    monkeypatch.setattr(pipeline, "_replace_all", spy)
    return calls


def _replay(paths: Paths, rules: Rulebook, kind: str, steps, restaged: list[list[str]], root: Path) -> None:
    """Each change made and staged in turn: only the files it names are staged again, and the tables
    are what staging every file makes."""
    for n, (change, weighed) in enumerate(steps):
        change()
        _stage(paths, rules, kind)
        assert len(restaged) == n + 1, f"step {n}: every file was staged again"
        assert set(restaged[-1]) == weighed, n
        assert _tables(paths.work_db, kind) == _staged_whole(paths, rules, kind, root / f"whole{n}"), n


def test_a_changed_sheet_is_staged_again_with_its_unit_roles_sheets_alone(tmp_path, restaged):
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县", "范县", "南乐县"]))
    party = {"name": "清丰县委_初报.xlsx", "mtime": at(1)}
    write_score_sheet(raw, Y, "清丰县委", "party", losing("party", 2), **party)
    write_score_sheet(raw, Y, "清丰县委", "party", losing("party", 5), name="清丰县委_补报.xlsx", mtime=at(2))
    write_score_sheet(raw, Y, "清丰县人民政府", "government", mtime=at(1))
    write_score_sheet(raw, Y, "范县人民政府", "government", losing("government", 3), mtime=at(1))
    write_score_sheet(raw, Y, "范县委", "party", mtime=at(1))
    write_score_sheet(raw, Y, "不存在县委", "party", name="未知.xlsx", mtime=at(1))
    write_corrupt(raw, Y, "坏文件.xlsx")
    paths, rules = ready_to_stage(tmp_path)
    _stage_kind(paths, rules, "score_sheets")
    assert restaged == []  # nothing staged before: every file

    folder = f"{Y}/score_sheets"
    steps = [
        # 范县 corrects its government sheet: that file alone.
        (
            lambda: write_score_sheet(
                raw, Y, "范县人民政府", "government", losing("government", 1), mtime=at(3)
            ),
            {"范县人民政府_government_2024.xlsx"},
        ),
        # 清丰县's later party sheet is withdrawn: the earlier one counts again.
        (
            (raw / folder / "清丰县委_补报.xlsx").unlink,
            {"清丰县委_初报.xlsx", "清丰县委_补报.xlsx"},
        ),
        # A newer one comes in and supersedes the earlier sheet.
        (
            lambda: write_score_sheet(
                raw, Y, "清丰县委", "party", losing("party", 7), name="清丰县委_再报.xlsx", mtime=at(4)
            ),
            {"清丰县委_初报.xlsx", "清丰县委_再报.xlsx"},
        ),
        # The sheet whose unit was unknown names 南乐县委 now: that unit's only party sheet.
        (
            lambda: write_score_sheet(raw, Y, "南乐县委", "party", name="未知.xlsx", mtime=at(5)),
            {"未知.xlsx"},
        ),
        # It then names 清丰县委 and is the newest of that unit's party sheets.
        (
            lambda: write_score_sheet(
                raw, Y, "清丰县委", "party", losing("party", 1), name="未知.xlsx", mtime=at(6)
            ),
            {"清丰县委_初报.xlsx", "清丰县委_再报.xlsx", "未知.xlsx"},
        ),
        # The same content under another name: the old name goes, the new one is weighed against it.
        (
            lambda: (raw / folder / "清丰县人民政府_government_2024.xlsx").rename(
                raw / folder / "清丰县政府.xlsx"
            ),
            {"清丰县人民政府_government_2024.xlsx", "清丰县政府.xlsx"},
        ),
        # The unreadable file is replaced by a readable sheet of 南乐县's government.
        (
            lambda: write_score_sheet(
                raw, Y, "南乐县人民政府", "government", name="坏文件.xlsx", mtime=at(7)
            ),
            {"坏文件.xlsx"},
        ),
    ]
    steps = [(change, {f"{folder}/{name}" for name in names}) for change, names in steps]
    _replay(paths, rules, "score_sheets", steps, restaged, tmp_path)


def test_every_file_is_staged_again_when_what_it_is_weighed_by_changed(tmp_path, restaged):
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县"]))
    write_score_sheet(raw, Y, "清丰县委", "party", losing("party", 2))
    write_score_sheet(raw, Y, "范县委", "party")  # not registered yet
    paths, rules = ready_to_stage(tmp_path)
    _stage_kind(paths, rules, "score_sheets")

    # the registry names 范县 now: every sheet may resolve otherwise, so every file is staged
    write_units(raw, city_units(["清丰县", "范县"]))
    _stage(paths, rules, "score_sheets")
    assert restaged == []
    assert _tables(paths.work_db, "score_sheets") == _staged_whole(
        paths, rules, "score_sheets", tmp_path / "whole"
    )
    with duckdb.connect(str(paths.work_db), read_only=True) as con:
        assert con.execute("select count(*) from stg_sheet_totals").fetchone() == (2,)


def test_a_changed_ledger_is_staged_again_with_the_ledgers_of_its_units_years_alone(tmp_path, restaged):
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县", "范县", "南乐县"]))
    hearing = ("清丰县委", "2024-03-05", "常委会", "听取法治建设工作汇报")
    study = ("清丰县委", "2024-06-01", "常委会学法", "学习宪法")
    fan = ("范县人民政府", "2024-04-09", "常务会议", "学习行政复议法")
    write_meetings(raw, Y, "清丰县委台账.csv", [hearing, study])
    write_meetings(raw, Y, "清丰县委补充.csv", [hearing])  # listed after the ledger: a repeat
    write_meetings(raw, Y - 1, "清丰县委上年.csv", [hearing])  # dated 2024 in the 2023 folder: listed first
    write_meetings(raw, Y, "范县台账.csv", [fan])
    write_meetings(raw, Y, "未知.csv", [("不存在的单位", "2024-05-01", "常委会", "学法")])
    paths, rules = ready_to_stage(tmp_path)
    _stage_kind(paths, rules, "meetings")
    assert restaged == []

    qingfeng = {
        f"{Y}/meetings/清丰县委台账.csv",
        f"{Y}/meetings/清丰县委补充.csv",
        f"{Y - 1}/meetings/清丰县委上年.csv",
    }
    steps = [
        # 范县 adds a meeting: its ledger alone.
        (
            lambda: write_meetings(
                raw, Y, "范县台账.csv", [fan, ("范县人民政府", "2024-09-01", "常务会议", "学法")]
            ),
            {f"{Y}/meetings/范县台账.csv"},
        ),
        # 清丰县委's ledger is withdrawn: the repeat of its hearing in the supplement stays a repeat of
        # last year's folder's listing; each of 清丰县委's ledgers is staged again.
        ((raw / f"{Y}/meetings/清丰县委台账.csv").unlink, qingfeng),
        # It comes back with the hearing alone.
        (lambda: write_meetings(raw, Y, "清丰县委台账.csv", [hearing]), qingfeng),
        # The ledger whose unit was unknown names 南乐县委: its ledger alone.
        (
            lambda: write_meetings(raw, Y, "未知.csv", [("南乐县委", "2024-05-01", "常委会", "学法")]),
            {f"{Y}/meetings/未知.csv"},
        ),
        # It then lists 范县's meeting again: a repeat of 范县's ledger, which is staged with it.
        (
            lambda: write_meetings(raw, Y, "未知.csv", [fan]),
            {f"{Y}/meetings/未知.csv", f"{Y}/meetings/范县台账.csv"},
        ),
        # Last year's file dates its hearing in 2023 now: in 2024 the ledger's hearing counts and the
        # supplement's is its repeat.
        (
            lambda: write_meetings(
                raw, Y - 1, "清丰县委上年.csv", [("清丰县委", "2023-12-05", *hearing[2:])]
            ),
            qingfeng,
        ),
    ]
    _replay(paths, rules, "meetings", steps, restaged, tmp_path)
    with duckdb.connect(str(paths.work_db), read_only=True) as con:
        assert con.execute(
            "select file, is_duplicate from stg_meetings where year = 2024 and unit_id = (select unit_id "
            "from stg_units where unit_name = '中共清丰县委员会') order by file"
        ).fetchall() == [(f"{Y}/meetings/清丰县委台账.csv", False), (f"{Y}/meetings/清丰县委补充.csv", True)]


def test_a_changed_register_is_staged_again_alone(tmp_path, restaged):
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县", "范县"]))
    report = ("清丰县委", "年终述法", "2024", "2025-01-10")
    write_filings(
        raw, Y, [report, ("范县人民政府", "法治政府建设年度报告", "2024", "2025-03-01")], name="清丰县.csv"
    )
    write_filings(raw, Y, [("范县委", "年终述法", "2024", "2025-01-20")], name="范县.csv")
    # a late filing in next year's folder: it counts in 2024, its 年度
    write_filings(raw, Y + 1, [("范县委", "年终述法", "2024", "2025-02-01")], name="补报.csv")
    write_filings(raw, Y + 1, [("清丰县委", "年终述法", "2025", "2026-01-10")], name="清丰县.csv")
    document = ("清丰县人民政府", "关于X的通知", "清政〔2024〕1号", "2024-03-01", "2024-03-20", "是")
    write_normative(raw, Y, [document], name="清丰县.csv")
    write_normative(
        raw, Y, [("范县人民政府", "关于Y的通知", "范政〔2024〕2号", "2024-05-01", "", "是")], name="范县.csv"
    )
    paths, rules = ready_to_stage(tmp_path)
    for kind in ("filings", "normative_docs"):
        _stage_kind(paths, rules, kind)
    assert restaged == []

    filings = [
        # a report type no requirement knows: that row is rejected, the file alone staged again
        (
            lambda: write_filings(
                raw, Y, [report, ("范县人民政府", "未知报告", "2024", "2025-03-01")], name="清丰县.csv"
            ),
            {"清丰县.csv"},
        ),
        # next year's folder's late filing is withdrawn
        ((raw / f"{Y + 1}/filings/补报.csv").unlink, {f"{Y + 1}/filings/补报.csv"}),
        # and sent again into this year's folder under another name
        (
            lambda: write_filings(raw, Y, [("范县委", "年终述法", "2024", "2025-02-01")], name="补报.csv"),
            {"补报.csv"},
        ),
    ]
    steps = [(change, {f if "/" in f else f"{Y}/filings/{f}" for f in names}) for change, names in filings]
    _replay(paths, rules, "filings", steps, restaged, tmp_path / "filings")

    restaged.clear()
    documents = [
        (
            lambda: write_normative(
                raw,
                Y,
                [document, ("不存在的单位", "关于Z的通知", "", "2024-06-01", "", "否")],
                name="清丰县.csv",
            ),
            {"清丰县.csv"},
        ),
        ((raw / f"{Y}/normative_docs/范县.csv").unlink, {"范县.csv"}),
    ]
    steps = [(change, {f"{Y}/normative_docs/{f}" for f in names}) for change, names in documents]
    _replay(paths, rules, "normative_docs", steps, restaged, tmp_path / "documents")
