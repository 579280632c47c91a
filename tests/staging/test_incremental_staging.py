"""A re-run stages only what changed: unchanged files stage nothing, a corrected file restages its own
kind, and what is published equals a full rebuild of the same files (a fresh work database)."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import duckdb
from builders import city_units, losing, rows_without_times, write_meetings, write_score_sheet, write_units
from conftest import run_fazhi

from pipelines.defs.staging import KINDS, kind_deps
from pipelines.lib import fingerprints, ingest, pipeline
from pipelines.lib.parsing import ParsedBatch
from pipelines.lib.rulebook import load_rulebook
from pipelines.lib.staging import units
from pipelines.lib.warehouse import Paths, one_row, table_differences, transaction, work_connection

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


def test_a_content_stored_again_in_the_parse_cache_restages_its_kind(tmp_path):
    """A kind's stamp reads the parse cache by its files' rows (pipeline.STAMPED_FILE_TABLES): a
    content's rows are stored with its parsed_files row and stored again only with a new one. Rows
    stored again for a content — a score lowered, as another parser might read it — restage its kind,
    and the rows staged are the new ones."""
    raw, warehouse = tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb"
    write_units(raw, city_units(["清丰县"]))
    write_score_sheet(raw, Y, "清丰县", "party")
    run_fazhi(raw, warehouse)
    first = _staged_at(warehouse)
    paths = Paths(raw, warehouse)
    with work_connection(paths) as con:
        (sha,) = one_row(con, "select sha256 from parsed_files where kind = 'score_sheet'")
        key = {"sha": sha}
        files = con.sql(
            "select * exclude (parser_version, parsed_at) from parsed_files where sha256 = $sha", params=key
        ).to_arrow_table()
        issues = con.sql("select * from parsed_issues where sha256 = $sha", params=key).to_arrow_table()
        rows = con.sql(
            "select * replace (case when task_no = 1 then self_points - 1 else self_points end as self_points) "
            "from parsed_score_rows where sha256 = $sha",
            params=key,
        ).to_arrow_table()
        with transaction(con):
            ingest.store_parsed(con, ParsedBatch(files, issues, {"score_sheet": rows}))
        before = one_row(con, "select self_points from stg_task_scores where task_no = 1")
    run_fazhi(raw, warehouse)
    assert _staged_at(warehouse)["score_sheets"] != first["score_sheets"]
    with work_connection(paths) as con:
        assert one_row(con, "select self_points from stg_task_scores where task_no = 1")[0] == before[0] - 1


def test_the_unit_registry_is_made_again_only_when_what_it_is_made_from_changed(tmp_path, monkeypatch):
    raw, warehouse = tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb"
    write_units(raw, city_units(["清丰县"]))
    write_score_sheet(raw, Y, "清丰县", "party")
    run_fazhi(raw, warehouse)
    paths, rules = Paths(raw, warehouse), load_rulebook("default")
    made: list[int] = []
    original = units.stage_units
    monkeypatch.setattr(units, "stage_units", lambda con, rules: made.append(1) or original(con, rules))

    assert pipeline.stage_registry(paths, rules) == {"stg_units": 2, "stg_registry_issues": 0}
    assert made == []  # nothing it reads changed: kept as it was

    write_units(raw, city_units(["清丰县", "范县"]))
    pipeline.scan_raw_files(paths)
    pipeline.parse_raw_files(paths, workers=1)
    assert pipeline.stage_registry(paths, rules) == {"stg_units": 4, "stg_registry_issues": 0}
    assert made == [1]


def _staged_tables(work_db: Path) -> dict[str, list[str]]:
    """Every stg_* table's rows (as sorted text), without the time each was loaded at."""
    con = duckdb.connect(str(work_db), read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute(
                "select table_name from duckdb_tables() where table_name like 'stg_%'"
            ).fetchall()
        ]
        return {table: rows_without_times(con, table) for table in tables}
    finally:
        con.close()


def _restage(work_db: Path, workers: int) -> dict[str, int]:
    """Forget what every kind was staged from, then stage them all again."""
    con = duckdb.connect(str(work_db))
    for tables, _ in KINDS.values():
        for table in tables:
            con.execute(f"comment on table {table} is NULL")
    con.close()
    paths = Paths.from_env(str(work_db.parent), str(work_db.parent.parent / "fazhi.duckdb"))
    assert paths.work_db == work_db
    kinds = {kind: (tables, kind_deps(kind)) for kind, (tables, _) in KINDS.items()}
    return pipeline.stage_kinds(paths, load_rulebook("default"), kinds, workers=workers)


def _staged_office(tmp_path: Path) -> Path:
    raw, warehouse = tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb"
    write_units(raw, city_units(["清丰县", "范县", "南乐县"]))
    for region in ("清丰县", "范县", "南乐县"):
        write_score_sheet(raw, Y, region, "party", losing("party", 2))
        write_score_sheet(raw, Y, region, "government")
    write_meetings(
        raw,
        Y,
        "台账.csv",
        [
            ("清丰县委", "2024-03-05", "常委会", "听取法治建设工作汇报"),
            ("范县人民政府", "2024-04-09", "常务会议", "学习行政复议法"),
            ("不存在的单位", "2024-05-01", "常委会", "学法"),
        ],
    )
    run_fazhi(raw, warehouse)
    return warehouse.parent / ".work" / "fazhi_work.duckdb"


def test_kinds_staged_side_by_side_make_the_tables_staged_one_at_a_time(tmp_path):
    work_db = _staged_office(tmp_path)
    _restage(work_db, workers=1)
    one_at_a_time = _staged_tables(work_db)
    counts = _restage(work_db, workers=2)
    side_by_side = _staged_tables(work_db)
    assert side_by_side == one_at_a_time
    assert counts == {table: len(rows) for table, rows in side_by_side.items() if table in counts}
    assert one_at_a_time["stg_task_scores"] and one_at_a_time["stg_meetings"]


def test_a_kind_that_fails_stops_no_other_and_its_error_is_raised(tmp_path, monkeypatch):
    work_db = _staged_office(tmp_path)

    def broken(*_args, **_kwargs):
        raise RuntimeError("meetings broke")

    monkeypatch.setitem(pipeline.STAGERS, "meetings", broken)
    try:
        _restage(work_db, workers=2)
    except RuntimeError as exc:
        assert str(exc) == "meetings broke"
    else:
        raise AssertionError("the failure of one kind was not raised")
    con = duckdb.connect(str(work_db), read_only=True)
    comments = dict(
        con.execute(
            "select table_name, comment from duckdb_tables() where table_name like 'stg_%'"
        ).fetchall()
    )
    con.close()
    assert str(comments["stg_task_scores"]).startswith("inputs:")  # staged beside the failing kind
    assert str(comments["stg_filings"]).startswith("inputs:")  # and after it
    assert comments["stg_meetings"] is None  # not written: its transaction never began


def test_kinds_side_by_side_hold_no_more_rows_than_the_largest_kind_and_the_extra(tmp_path, monkeypatch):
    """The scheduling rule alone (pipeline.stage_kinds), with kinds that only record who ran beside whom."""
    rows = {"big": 1_000, "second": 900, "small_a": 50, "small_b": 40, "small_c": 30}
    monkeypatch.setattr(pipeline, "_input_rows", lambda _con, kinds: {k: rows[k] for k in kinds})
    monkeypatch.setattr(pipeline, "EXTRA_ROWS_SIDE_BY_SIDE", 100)
    running: set[str] = set()
    seen_together: list[frozenset[str]] = []
    lock = threading.Lock()

    def stage(_paths, _rules, kind, owns, reads, registry, years):
        with lock:
            running.add(kind)
            seen_together.append(frozenset(running))
        time.sleep(0.05)
        with lock:
            running.discard(kind)
        return {owns[0]: rows[kind]}

    monkeypatch.setattr(pipeline, "stage_kind", stage)
    paths = Paths.from_env(str(tmp_path / "raw"), str(tmp_path / "marts" / "fazhi.duckdb"))
    counts = pipeline.stage_kinds(paths, None, {k: ([f"t_{k}"], []) for k in rows}, workers=2)  # type: ignore[arg-type]

    assert counts == {f"t_{k}": n for k, n in rows.items()}
    assert max(sum(rows[k] for k in together) for together in seen_together) <= 1_000 + 100
    assert not any({"big", "second"} <= together for together in seen_together)
    assert any(len(together) == 2 for together in seen_together)  # side by side, where it fits


def test_kinds_side_by_side_open_and_close_the_work_database_without_a_conflict(tmp_path, monkeypatch):
    """Each kind opens and closes its own connection; two threads doing so at once must not collide on
    opening the file (DuckDB: "already attached"), which stage_kinds prevents by holding it open."""
    paths = Paths.from_env(str(tmp_path / "raw"), str(tmp_path / "marts" / "fazhi.duckdb"))

    def stage(paths, _rules, kind, owns, reads, registry, years):
        for _ in range(80):
            with work_connection(paths) as con:
                con.execute("select 1")
        return {owns[0]: 0}

    monkeypatch.setattr(pipeline, "stage_kind", stage)
    kinds = {f"kind_{i}": ([f"table_{i}"], []) for i in range(8)}
    assert pipeline.stage_kinds(paths, None, kinds, workers=2) == {f"table_{i}": 0 for i in range(8)}  # type: ignore[arg-type]


def test_a_fingerprint_check_leaves_the_connection_free_for_the_next_query(tmp_path):
    """A kind that stages with the step's shared registry reads its files right after checking its
    fingerprint: a single-row read that leaves its result unfinished would make that read fail."""
    con = duckdb.connect(str(tmp_path / "work.duckdb"))
    try:
        con.execute("create table t as select 1 as a")
        assert not fingerprints.unchanged(con, ["t"], fingerprints.fingerprint(con, {"t": ""}))
        assert one_row(con, "select count(*) from t") == (1,)
        assert con.sql("select a from t").fetchall() == [(1,)]
    finally:
        con.close()


def test_the_marts_find_a_corrected_file_s_keys_from_the_rows_its_restaging_replaced(tmp_path, monkeypatch):
    """A restaged file's rows are kept as they were beside its tables; the marts build digests those
    tables by the keys of the rows replaced and put in alone, and publishes a full rebuild's figures:
    a ledger corrected, a ledger withdrawn, a score sheet corrected."""
    from pipelines.lib import marts_build

    raw, warehouse = tmp_path / "office" / "raw", tmp_path / "office" / "marts" / "fazhi.duckdb"
    write_units(raw, city_units(["清丰县", "范县", "南乐县"]))
    for region in ("清丰县", "范县", "南乐县"):
        write_score_sheet(raw, Y, region, "party", losing("party", 2))
        write_score_sheet(raw, Y, region, "government")
    write_meetings(raw, Y, "清丰县.csv", [("清丰县委", "2024-03-05", "常委会", "听取法治建设工作汇报")])
    write_meetings(raw, Y, "范县.csv", [("范县县委", "2024-04-01", "常委会学法", "学习宪法")])
    write_meetings(raw, Y, "南乐县.csv", [("南乐县委", "2024-05-08", "常委会学法", "学习民法典")])
    run_fazhi(raw, warehouse)
    by_rows: dict[str, set[str]] = {}
    real = marts_build._digest_inputs

    def spied(con, project, model, inputs, made, by_delta):
        by_rows[model.name] = {uid.rsplit(".", 1)[-1] for uid in by_delta}
        real(con, project, model, inputs, made, by_delta)

    monkeypatch.setattr(marts_build, "_digest_inputs", spied)
    changes = [
        lambda: write_meetings(
            raw,
            Y,
            "范县.csv",
            [
                ("范县县委", "2024-04-01", "常委会学法", "学习宪法"),
                ("范县人民政府", "2024-06-03", "常务会议", "学法"),
            ],
        ),
        (raw / f"{Y}" / "meetings" / "南乐县.csv").unlink,
        lambda: write_score_sheet(raw, Y, "范县", "government", losing("government", 6)),
    ]
    for n, change in enumerate(changes):
        change()
        by_rows.clear()
        run_fazhi(raw, warehouse)
        if n < 2:
            assert {"stg_meetings"} <= by_rows["meetings"] and {"stg_meetings"} <= by_rows[
                "requirement_compliance"
            ]
        else:
            assert "stg_task_scores" in by_rows["task_scores"], by_rows
        fresh = _fresh_rebuild(raw, tmp_path / f"fresh{n}")
        # a fresh rebuild never saw the withdrawn ledger: the served file alone tells it was removed
        where = {**HISTORY, "ingest_issues": "code <> 'file_removed'"}
        assert table_differences(warehouse, fresh, where=where) == {}, n
