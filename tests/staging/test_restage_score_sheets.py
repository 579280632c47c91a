"""A corrected score sheet is staged again with the sheets it is weighed against (the same unit, role
and year), not with every sheet: the tables are then what staging every file makes of the same files."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from builders import city_units, losing, ready_to_stage, write_corrupt, write_score_sheet, write_units

from pipelines.defs.staging import KINDS, kind_deps
from pipelines.lib import pipeline
from pipelines.lib.rulebook import Rulebook
from pipelines.lib.warehouse import Paths

Y = 2024
KIND = "score_sheets"
OWNS = KINDS[KIND][0]


def at(month: int) -> float:
    return datetime(Y + 1, month, 1).timestamp()


def _stage(paths: Paths, rules: Rulebook) -> None:
    pipeline.scan_raw_files(paths)
    pipeline.parse_raw_files(paths, workers=1)
    pipeline.stage_registry(paths, rules)
    pipeline.stage_kind(paths, rules, KIND, owns=OWNS, reads=kind_deps(KIND))


def _tables(work_db: Path) -> dict[str, list[str]]:
    """The score-sheet tables' rows (as sorted text), without the time each was loaded at."""
    with duckdb.connect(str(work_db), read_only=True) as con:
        out = {}
        for table in OWNS:
            kept = [
                name
                for name, kind in con.execute(
                    f"select column_name, column_type from (describe {table})"
                ).fetchall()
                if not kind.startswith("TIMESTAMP")
            ]
            out[table] = sorted(map(repr, con.execute(f"select {', '.join(kept)} from {table}").fetchall()))
        return out


def _staged_whole(paths: Paths, rules: Rulebook, root: Path) -> dict[str, list[str]]:
    """The same tables made from every file: a copy of the work database, staged with no record of
    what its tables were made from."""
    copy = Paths(paths.raw_dir, root / "marts" / "fazhi.duckdb")
    copy.work_db.parent.mkdir(parents=True)
    shutil.copy(paths.work_db, copy.work_db)
    with duckdb.connect(str(copy.work_db)) as con:
        for table in OWNS:
            con.execute(f"comment on table {table} is NULL")
    pipeline.stage_kind(copy, rules, KIND, owns=OWNS, reads=kind_deps(KIND))
    return _tables(copy.work_db)


@pytest.fixture
def restaged(monkeypatch) -> list[list[str]]:
    """The files each restaging of changed files replaced the rows of, one list per restaging."""
    calls: list[list[str]] = []
    real, table = pipeline.RESTAGERS[KIND]

    def spy(*args, **kwargs):
        frames, files = real(*args, **kwargs)
        calls.append(files)
        return frames, files

    monkeypatch.setitem(pipeline.RESTAGERS, KIND, (spy, table))
    return calls


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
    pipeline.stage_kind(paths, rules, KIND, owns=OWNS, reads=kind_deps(KIND))
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
    for n, (change, weighed) in enumerate(steps):
        change()
        _stage(paths, rules)
        assert len(restaged) == n + 1, f"step {n}: every file was staged again"
        assert set(restaged[-1]) == {f"{folder}/{name}" for name in weighed}, n
        assert _tables(paths.work_db) == _staged_whole(paths, rules, tmp_path / f"whole{n}"), n


def test_every_file_is_staged_again_when_what_it_is_weighed_by_changed(tmp_path, restaged):
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县"]))
    write_score_sheet(raw, Y, "清丰县委", "party", losing("party", 2))
    write_score_sheet(raw, Y, "范县委", "party")  # not registered yet
    paths, rules = ready_to_stage(tmp_path)
    pipeline.stage_kind(paths, rules, KIND, owns=OWNS, reads=kind_deps(KIND))

    # the registry names 范县 now: every sheet may resolve otherwise, so every file is staged
    write_units(raw, city_units(["清丰县", "范县"]))
    _stage(paths, rules)
    assert restaged == []
    assert _tables(paths.work_db) == _staged_whole(paths, rules, tmp_path / "whole")
    with duckdb.connect(str(paths.work_db), read_only=True) as con:
        assert con.execute("select count(*) from stg_sheet_totals").fetchone() == (2,)
