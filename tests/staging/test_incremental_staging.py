"""A re-run stages only what changed: unchanged files stage nothing, a corrected file restages its own
kind, and what is published equals a full rebuild of the same files (a fresh work database)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from builders import city_units, losing, write_meetings, write_score_sheet, write_units
from conftest import run_fazhi

from pipelines.lib.warehouse import table_differences

Y = 2024
FILES_TABLES = {
    "score_sheets": "stg_score_sheet_files",
    "meetings": "stg_meeting_files",
    "filings": "stg_filing_files",
    "other_files": "stg_other_files",
}


def _staged_at(warehouse: Path) -> dict[str, object]:
    """When each kind was last staged (its files table's loaded_at; the comment says from what)."""
    con = duckdb.connect(str(warehouse.parent / ".work" / "fazhi_work.duckdb"), read_only=True)
    try:
        return {
            kind: con.execute(
                f"select max(loaded_at), (select comment from duckdb_tables() where table_name = '{table}') from {table}"
            ).fetchone()
            for kind, table in FILES_TABLES.items()
        }
    finally:
        con.close()


# The history of what was published (restatements of figures that changed) is the served file's own:
# a fresh rebuild has none. Every other table must be equal.
HISTORY = {"restatements": "false"}


def _fresh_rebuild(raw: Path, root: Path) -> Path:
    copy = root / "raw"
    shutil.copytree(raw, copy)
    return run_fazhi(copy, root / "marts" / "fazhi.duckdb").path


def test_unchanged_files_stage_nothing_and_a_corrected_file_restages_its_kind_only(tmp_path):
    raw, warehouse = tmp_path / "office" / "raw", tmp_path / "office" / "marts" / "fazhi.duckdb"
    write_units(raw, city_units(["清丰县", "范县"]))
    for region in ("清丰县", "范县"):
        write_score_sheet(raw, Y, region, "party", losing("party", 2))
        write_score_sheet(raw, Y, region, "government")
    write_meetings(raw, Y, "台账.csv", [("清丰县委", "2024-03-05", "常委会", "听取法治建设工作汇报")])
    run_fazhi(raw, warehouse)
    first = _staged_at(warehouse)
    assert all(str(comment).startswith("inputs:") for _at, comment in first.values())

    run_fazhi(raw, warehouse)
    assert _staged_at(warehouse) == first, "a re-run on unchanged files staged again"

    # 范县 sends a corrected government sheet: score sheets are restaged, nothing else is.
    write_score_sheet(raw, Y, "范县", "government", losing("government", 6))
    run_fazhi(raw, warehouse)
    second = _staged_at(warehouse)
    assert second["score_sheets"] != first["score_sheets"]
    assert {k: v for k, v in second.items() if k != "score_sheets"} == {
        k: v for k, v in first.items() if k != "score_sheets"
    }
    assert table_differences(warehouse, _fresh_rebuild(raw, tmp_path / "fresh1"), where=HISTORY) == {}

    # A corrected meeting ledger restages meetings only, and still publishes a full rebuild's figures.
    write_meetings(
        raw,
        Y,
        "台账.csv",
        [
            ("清丰县委", "2024-03-05", "常委会", "听取法治建设工作汇报"),
            ("范县县委", "2024-04-01", "常委会学法", "学习宪法"),
        ],
    )
    run_fazhi(raw, warehouse)
    third = _staged_at(warehouse)
    assert third["meetings"] != second["meetings"] and third["score_sheets"] == second["score_sheets"]
    assert table_differences(warehouse, _fresh_rebuild(raw, tmp_path / "fresh2"), where=HISTORY) == {}
