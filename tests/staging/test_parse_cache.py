"""The parse cache as staging reads it: each parser record is one row keyed by its content, with its
declared column types; rows the parser rejected are flagged, those it rejected without a record kept
as placeholders; a content stored again replaces its rows and leaves every other content's. Files
parsed ahead (while a command starts) are stored as the parse step would have parsed them, and only
when their content is the one listed."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from builders import city_units, losing, write_meetings, write_score_sheet, write_units

from pipelines.lib import ingest, isolation, pipeline
from pipelines.lib.parsing import ParsedBatch, parse_batch, parsed_batch
from pipelines.lib.records import ERROR, Issue, ParsedFile
from pipelines.lib.schema import create_tables
from pipelines.lib.warehouse import Paths, held


def _store(con, parsed: list[tuple[str, ParsedFile]]) -> None:
    ingest.store_parsed(con, parsed_batch(parsed))


def _meetings(rows: list[dict], rejected: list[tuple[str | None, int]]) -> ParsedFile:
    return ParsedFile(
        "meetings",
        records=rows,
        rows_read=len(rows),
        rejected_rows=rejected,
        issues=[Issue("bad_date", "日期无法识别", ERROR, sheet, row) for sheet, row in rejected],
    )


@pytest.fixture
def con():
    con = duckdb.connect()
    create_tables(con)
    yield con
    con.close()


def _rows(con, table: str, columns: str) -> list[tuple]:
    return con.execute(f"select {columns} from {table} order by all").fetchall()


def test_records_flags_placeholders_and_types(con):
    a = _meetings(
        [
            # numbers as the parsers give them (a float for an integer column), a key no column holds
            {
                "sheet": "台账",
                "row": 3,
                "unit": "东城区委",
                "date": date(2024, 3, 5),
                "attendees": 12.0,
                "hours": 1.5,
                "led_by_principal": True,
                "scratch": "ignored",
            },
            {"sheet": "台账", "row": 4, "unit": "东城区委", "type_text": "常委会"},  # rejected, with a record
        ],
        rejected=[("台账", 4), ("台账", 9)],  # row 9: rejected without a record
    )
    b = _meetings([{"sheet": None, "row": 2, "unit": "西城区政府", "topic": "学习民法典"}], rejected=[])
    units = ParsedFile(
        "units",
        records=[{"sheet": None, "row": 2, "name": "东城区委", "aliases": ["东城", "东城区"]}],
        rows_read=1,
    )
    _store(con, [("a", a), ("b", b), ("u", units)])

    assert _rows(
        con,
        "parsed_meetings",
        "sha256, kind, sheet, row, parse_rejected, unit, date, type_text, "
        "topic, led_by_principal, attendees, hours",
    ) == [
        ("a", "meetings", "台账", 3, False, "东城区委", date(2024, 3, 5), None, None, True, 12, 1.5),
        ("a", "meetings", "台账", 4, True, "东城区委", None, "常委会", None, None, None, None),
        ("a", "meetings", "台账", 9, True, None, None, None, None, None, None, None),
        ("b", "meetings", None, 2, False, "西城区政府", None, None, "学习民法典", None, None, None),
    ]
    assert _rows(con, "parsed_units", "sha256, name, aliases, parse_rejected") == [
        ("u", "东城区委", "东城|东城区", False)
    ]
    assert _rows(con, "parsed_issues", "sha256, sheet, row, rejects_row") == [
        ("a", "台账", 4, True),
        ("a", "台账", 9, True),
    ]
    assert _rows(con, "parsed_files", "sha256, kind, rows_read") == [
        ("a", "meetings", 2),
        ("b", "meetings", 1),
        ("u", "units", 1),
    ]


def test_a_batch_comes_back_from_a_worker_as_it_was_made():
    """What a parse worker sends the command (pickled): every table with its schema, rows and values,
    a table without rows and one of several chunks included."""
    with_issue = _meetings(
        [{"sheet": "台账", "row": 3, "unit": "东城区委", "date": date(2024, 3, 5)}], [("台账", 4)]
    )
    clean = _meetings([{"sheet": None, "row": 2, "unit": "西城区政府", "hours": 1.5}], rejected=[])
    units = ParsedFile("units", records=[{"sheet": None, "row": 2, "name": "东城区委", "aliases": ["东城"]}])
    rejected = ParsedFile("score_sheet", file_error=Issue("encrypted", "文件已加密", ERROR))
    joined = ParsedBatch.joined(
        [parsed_batch([("a", with_issue), ("u", units)]), parsed_batch([("b", clean)])]
    )
    for batch in (joined, parsed_batch([("b", clean)]), parsed_batch([("r", rejected)])):
        back = pickle.loads(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))
        assert back.files.equals(batch.files, check_metadata=True)
        assert back.issues.equals(batch.issues, check_metadata=True)
        assert back.records.keys() == batch.records.keys()
        for kind, table in batch.records.items():
            assert back.records[kind].equals(table, check_metadata=True)
    assert joined.records["meetings"].column("row").num_chunks == 2
    assert parsed_batch([("b", clean)]).issues.num_rows == 0


def test_a_content_stored_again_replaces_only_its_own_rows(con):
    first = _meetings([{"sheet": "台账", "row": 3, "unit": "东城区委"}], rejected=[("台账", 7)])
    other = _meetings([{"sheet": "台账", "row": 3, "unit": "西城区政府"}], rejected=[])
    _store(con, [("a", first), ("b", other)])

    again = _meetings([{"sheet": "台账", "row": 5, "unit": "东城区委（新）"}], rejected=[])
    _store(con, [("a", again)])

    assert _rows(con, "parsed_meetings", "sha256, row, unit, parse_rejected") == [
        ("a", 5, "东城区委（新）", False),
        ("b", 3, "西城区政府", False),
    ]
    assert _rows(con, "parsed_issues", "sha256, row") == []
    assert _rows(con, "parsed_files", "sha256, rows_read") == [("a", 1), ("b", 1)]


def test_a_value_of_the_wrong_type_is_refused_not_cut(con):
    # the parsers never hand a half number to an integer column; were one to, storing fails loudly
    bad = _meetings([{"sheet": "台账", "row": 3, "unit": "东城区委", "attendees": "十二"}], rejected=[])
    with pytest.raises((TypeError, ValueError, duckdb.Error)):
        _store(con, [("a", bad)])


def _parse_cache(paths: Paths) -> dict[str, list[tuple]]:
    tables = {"parsed_files": "* exclude (parsed_at)", "parsed_issues": "*"}
    tables |= dict.fromkeys(ingest.RECORD_TABLES.values(), "*")
    with duckdb.connect(str(paths.work_db), read_only=True) as con:
        return {
            t: con.execute(f"select {cols} from {t} order by all").fetchall() for t, cols in tables.items()
        }


def _scan_and_parse(paths: Paths) -> dict[str, int]:
    pipeline.scan_raw_files(paths)
    return pipeline.parse_raw_files(paths)


def test_files_parsed_ahead_are_stored_as_the_parse_step_parses_them(tmp_path):
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县", "范县"]))
    write_score_sheet(raw, 2024, "清丰县", "party", losing("party", 2))
    write_score_sheet(raw, 2024, "范县", "government")
    write_meetings(raw, 2024, "台账.csv", [("清丰县委", "2024-03-05", "常委会", "听取法治建设工作汇报")])
    plain = Paths.from_env(raw, tmp_path / "plain" / "fazhi.duckdb")
    assert _scan_and_parse(plain)["files_parsed_ahead"] == 0

    office = Paths.from_env(raw, tmp_path / "office" / "fazhi.duckdb")
    with held(office.work_db):
        ahead = ingest.parse_ahead(raw, office.work_db)
        assert ahead.finished(timeout=60)
        stats = _scan_and_parse(office)
    assert stats["files_parsed"] == stats["files_parsed_ahead"] == 4
    assert _parse_cache(office) == _parse_cache(plain)

    # A corrected sheet: only it is parsed ahead (the others are known by path, size and time) ...
    write_score_sheet(raw, 2024, "范县", "government", losing("government", 6))
    with held(office.work_db):
        ahead = ingest.parse_ahead(raw, office.work_db)
        assert ahead.finished(timeout=60)
        assert len({key for batch in ahead.take() for key in batch.contents()}) == 1
        # ... but corrected again before the run lists it: what was parsed ahead is not that content.
        write_score_sheet(raw, 2024, "范县", "government", losing("government", 3))
        stats = _scan_and_parse(office)
    assert (stats["files_parsed"], stats["files_parsed_ahead"]) == (1, 0)
    _scan_and_parse(plain)
    assert _parse_cache(office) == _parse_cache(plain)

    # Two sheets parsed ahead in one group, one of them corrected again: the other is taken from it.
    write_score_sheet(raw, 2024, "清丰县", "party", losing("party", 4))
    write_score_sheet(raw, 2024, "范县", "government", losing("government", 5))
    with held(office.work_db):
        ahead = ingest.parse_ahead(raw, office.work_db)
        assert ahead.finished(timeout=60)
        write_score_sheet(raw, 2024, "范县", "government", losing("government", 7))
        stats = _scan_and_parse(office)
    assert (stats["files_parsed"], stats["files_parsed_ahead"]) == (2, 1)
    _scan_and_parse(plain)
    assert _parse_cache(office) == _parse_cache(plain)


def _listed_by_the_workers(monkeypatch) -> list[list[list[tuple[str, ...]]]]:
    """The folders handed to the parse workers to list, half by half, as they are handed over."""
    by_worker: list[list[list[tuple[str, ...]]]] = []
    real = ingest._listed_by_workers

    def listed_by_workers(raw_dir, halves):
        by_worker.append(halves)
        return real(raw_dir, halves)

    monkeypatch.setattr(ingest, "_listed_by_workers", listed_by_workers)
    return by_worker


@pytest.mark.parametrize("importing", [True, False])
def test_a_small_year_is_listed_by_the_parse_workers_while_the_command_imports(
    tmp_path, monkeypatch, importing
):
    """Beside the command's imports, a thread listing even a province year waits for the interpreter
    (0.74–1.28 s against 0.04–0.06 s alone) while the worker parsing ahead waits for the listing; with
    the imports done (a served run), handing a small year to the workers costs more than it saves."""
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县", "范县"]))
    write_score_sheet(raw, 2024, "清丰县", "party")
    write_meetings(raw, 2024, "台账.csv", [("清丰县委", "2024-03-05", "常委会", "听取法治建设工作汇报")])
    by_worker = _listed_by_the_workers(monkeypatch)
    paths = Paths.from_env(raw, tmp_path / "office" / "fazhi.duckdb")
    with held(paths.work_db):
        ahead = ingest.parse_ahead(raw, paths.work_db, importing=importing)
        assert ahead.finished(timeout=60)
        assert ahead.listing is not None and ahead.listing.equals(ingest.discover(raw))
    assert sorted(parts for halves in by_worker for half in halves for parts in half) == (
        [("2024", "meetings"), ("2024", "score_sheets")] if importing else []
    )


def test_the_workers_parse_while_what_was_parsed_ahead_is_stored(tmp_path, monkeypatch):
    """The step's workers begin before the files parsed ahead are stored, not after: at nation scale
    storing them took about a second in which neither core parsed."""
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县", "范县"]))
    write_score_sheet(raw, 2024, "清丰县", "party", losing("party", 4))
    write_score_sheet(raw, 2024, "范县", "government", losing("government", 5))
    office = Paths.from_env(raw, tmp_path / "office" / "fazhi.duckdb")
    started = threading.Event()
    waited: list[bool] = []
    real_map, real_store = ingest.map_isolated, ingest.store_parsed

    def spied_map(*args, **kwargs):
        started.set()
        return real_map(*args, **kwargs)

    def spied_store(con, parsed):
        waited.append(started.wait(timeout=10))
        return real_store(con, parsed)

    monkeypatch.setattr(ingest, "map_isolated", spied_map)
    monkeypatch.setattr(ingest, "store_parsed", spied_store)
    with held(office.work_db):
        ahead = ingest.parse_ahead(raw, office.work_db)
        assert ahead.finished(timeout=60)
        write_score_sheet(raw, 2024, "范县", "government", losing("government", 7))  # left to the workers
        stats = _scan_and_parse(office)
    assert (stats["files_parsed"], stats["files_parsed_ahead"]) == (3, 2)  # the registry, two sheets ahead
    assert waited == [True, True]


def test_a_run_lists_data_raw_once(tmp_path, monkeypatch):
    """The raw step takes the listing the files parsed ahead were chosen from, made as the run started
    under the same lock: listing a nation's 118,000 files takes a second."""
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县"]))
    write_score_sheet(raw, 2024, "清丰县", "party")
    write_meetings(raw, 2024, "台账.csv", [("清丰县委", "2024-03-05", "常委会", "听取法治建设工作汇报")])
    listed: list[Path] = []
    original = ingest.discover
    monkeypatch.setattr(
        ingest, "discover", lambda raw_dir, **how: listed.append(raw_dir) or original(raw_dir, **how)
    )

    office = Paths.from_env(raw, tmp_path / "office" / "fazhi.duckdb")
    with held(office.work_db):
        ahead = ingest.parse_ahead(raw, office.work_db)
        assert ahead.finished(timeout=60)
        assert _scan_and_parse(office)["files_parsed_ahead"] == 3 and len(listed) == 1

    plain = Paths.from_env(raw, tmp_path / "plain" / "fazhi.duckdb")
    _scan_and_parse(plain)  # nothing parsed ahead: it lists data/raw itself
    assert len(listed) == 2
    query = "select * from raw_files order by path"
    with duckdb.connect(str(office.work_db), read_only=True) as a, duckdb.connect(str(plain.work_db)) as b:
        assert a.execute(query).fetchall() == b.execute(query).fetchall()


def test_the_known_files_are_read_once_data_raw_is_listed_and_the_command_goes_on(tmp_path, monkeypatch):
    """Neither the listing nor the command waits for the work database's known files (0.085 s of a
    nation run, 0.12 s of a corrected province sheet's): they are read beside both, on the run's own
    connection, once data/raw is listed."""
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县"]))
    write_score_sheet(raw, 2024, "清丰县", "party")
    office = Paths.from_env(raw, tmp_path / "office" / "fazhi.duckdb")
    _scan_and_parse(office)
    write_score_sheet(raw, 2024, "清丰县", "party", losing("party", 2))
    listed, reading, go = threading.Event(), threading.Event(), threading.Event()
    listed_first: list[bool] = []
    went_on: list[bool] = []  # whether the command went on while they were read (no timeout)
    discover, known_files = ingest.discover, ingest._known_files

    def listing(raw_dir, **how):
        table = discover(raw_dir, **how)
        listed.set()
        return table

    def slowly(work_db):
        listed_first.append(listed.is_set())
        reading.set()
        went_on.append(go.wait(timeout=30))
        return known_files(work_db)

    monkeypatch.setattr(ingest, "discover", listing)
    monkeypatch.setattr(ingest, "_known_files", slowly)
    with held(office.work_db):
        ahead = ingest.parse_ahead(raw, office.work_db)
        assert reading.wait(timeout=30)
        go.set()  # from here, past parse_ahead: a parse_ahead waiting for them would time out above
        assert ahead.finished(timeout=60) and listed_first == [True] and went_on == [True]
        assert _scan_and_parse(office)["files_parsed_ahead"] == 1  # the corrected sheet alone


def test_files_are_parsed_ahead_only_for_a_run_holding_the_work_database(tmp_path):
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县"]))
    office = Paths.from_env(raw, tmp_path / "office" / "fazhi.duckdb")
    with pytest.raises(RuntimeError, match="not held"):
        ingest.parse_ahead(raw, office.work_db)


def _meeting_files(root: Path, paths: list[Path]) -> list[ingest.RawFile]:
    """These meeting ledgers under `root` as the parse step lists them, in order, each keyed by its name."""
    return [
        ingest.RawFile(p.relative_to(root).as_posix(), "meetings", 2024, p.stat().st_size, 0, p.name)
        for p in sorted(paths)
    ]


def _fails_on_marked_files(jobs: list[tuple[str, str, str]]) -> ParsedBatch:
    """The parse workers' entry point, but a group holding `abort.csv` kills its worker and one holding
    `raise.csv` raises, as a hostile file or a parser's bug would."""
    names = {Path(path).name for path, _, _ in jobs}
    if "abort.csv" in names:
        os.abort()
    if "raise.csv" in names:
        raise RuntimeError("a parser's bug")
    return parse_batch(jobs)


def test_a_file_that_brings_its_group_down_fails_alone(tmp_path, monkeypatch):
    """Workers parse groups of files; when a group fails, its files are parsed one by one: the file
    that fails alone gets one file error a clerk can forward, every other file of the group its rows,
    and each file is counted once as done."""
    names = [f"{i:02d}.csv" for i in range(9)] + ["abort.csv", "raise.csv"]
    paths = [
        write_meetings(tmp_path, 2024, name, [("清丰县委", "2024-03-05", "常委会", name)]) for name in names
    ]
    monkeypatch.setattr(ingest, "PARSE_ITEM_FILES", 4)
    done: list[int] = []
    files = _meeting_files(tmp_path, paths)
    parsed = ParsedBatch.joined(
        list(
            ingest.parsed_in_batches(
                tmp_path, files, workers=2, on_done=done.append, parse=_fails_on_marked_files, batch_files=5
            )
        )
    )

    errors = dict(
        zip(parsed.files["sha256"].to_pylist(), parsed.files["error_code"].to_pylist(), strict=True)
    )
    assert errors == dict.fromkeys(names[:9]) | {
        "abort.csv": "parse_crashed",
        "raise.csv": "parse_failed",
    }
    assert sorted(parsed.records["meetings"]["topic"].to_pylist()) == names[:9]
    assert sum(done) == len(files)


def _counting_workers(monkeypatch) -> list:
    """Every parse worker started from here on, as it is started."""
    started: list = []
    start = isolation._Worker.__init__

    def counted(self, *args, **kwargs):
        start(self, *args, **kwargs)
        started.append(self)

    monkeypatch.setattr(isolation._Worker, "__init__", counted)
    return started


def test_one_set_of_workers_parses_every_batch_of_the_step(tmp_path, monkeypatch):
    """The parse step stores its results a batch of files at a time, while the workers parse on: the same
    workers for the whole step (a new pair per batch of 5,000 files left the cores idle at each batch's end
    and started each pair with nothing remembered of the parts seen before), every file stored once."""
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县"]))
    names = [f"{i:02d}.csv" for i in range(12)]
    for name in names:
        write_meetings(raw, 2024, name, [("清丰县委", "2024-03-05", "常委会", name)])
    monkeypatch.setattr(ingest, "PARSE_ITEM_FILES", 1)
    monkeypatch.setattr(ingest, "PARSE_BATCH_FILES", 3)
    started = _counting_workers(monkeypatch)
    office = Paths.from_env(raw, tmp_path / "office" / "fazhi.duckdb")
    assert _scan_and_parse(office)["files_parsed"] == len(names) + 1  # and the unit registry
    assert len(started) == 2
    con = duckdb.connect(str(office.work_db), read_only=True)
    try:
        topics = [t for (t,) in con.execute("select topic from parsed_meetings order by topic").fetchall()]
    finally:
        con.close()
    assert topics == names


def test_a_parse_left_after_its_first_batch_stops_its_workers(tmp_path, monkeypatch):
    """A step that fails while storing a batch stops the workers parsing the next ones."""
    paths = [
        write_meetings(tmp_path, 2024, f"{i:02d}.csv", [("清丰县委", "2024-03-05", "常委会", str(i))])
        for i in range(40)
    ]
    files = _meeting_files(tmp_path, paths)
    monkeypatch.setattr(ingest, "PARSE_ITEM_FILES", 1)
    started = _counting_workers(monkeypatch)
    batches = ingest.parsed_in_batches(tmp_path, files, workers=2, batch_files=2)
    assert next(batches).files.num_rows == 2
    batches.close()
    assert len(started) == 2 and not any(worker.process.is_alive() for worker in started)


def test_a_parse_left_before_its_first_batch_stops_its_workers(tmp_path, monkeypatch):
    """The workers start with the step's batches, before any is read: a step that fails before reading
    one (storing what was parsed ahead) stops them too."""
    paths = [
        write_meetings(tmp_path, 2024, f"{i:02d}.csv", [("清丰县委", "2024-03-05", "常委会", str(i))])
        for i in range(40)
    ]
    monkeypatch.setattr(ingest, "PARSE_ITEM_FILES", 1)
    started = _counting_workers(monkeypatch)
    batches = ingest.parsed_in_batches(tmp_path, _meeting_files(tmp_path, paths), workers=2, batch_files=2)
    for _ in range(100):
        if len(started) == 2:
            break
        time.sleep(0.05)
    batches.close()
    assert len(started) == 2 and not any(worker.process.is_alive() for worker in started)
    assert list(batches) == []


def test_a_large_file_is_parsed_in_a_group_of_its_own():
    """Groups are bounded in files and in bytes: a large file, slow to parse, does not take a group's
    other files past the timeout with it."""
    sizes = [1_000] * 70 + [3 << 20] + [1_000] * 3 + [(2 << 20) - 3_000] * 2
    files = [ingest.RawFile(f"{i}.xlsx", "meetings", 2024, n, 0, str(i)) for i, n in enumerate(sizes)]
    groups = ingest.file_groups(files)
    assert [len(g) for g in groups] == [64, 6, 1, 4, 1]
    assert [f for g in groups for f in g] == files


def test_nothing_is_parsed_ahead_for_an_unreadable_work_database(tmp_path):
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县"]))
    work_db = tmp_path / "fazhi_work.duckdb"
    work_db.write_bytes(b"not a database")
    with held(work_db):
        ahead = ingest.parse_ahead(raw, work_db)
        assert ahead.finished(timeout=60) and ahead.take() == []
    assert _scan_and_parse(Paths.from_env(raw, tmp_path / "fazhi.duckdb"))["files_parsed_ahead"] == 0


def test_the_parse_workers_start_without_the_storage_libraries():
    """The fork server imports the workers' module before it starts any (pipelines/lib/parsing.py):
    it must not pull in what only storing the results needs (DuckDB) or the run's own (Dagster), or
    parsing begins later. Arrow it needs: the workers build the tables. pandas the server imports as
    the module asks (WORKER_PRELOAD: pyarrow imports it in every worker), not the module itself."""
    probe = (
        "import sys, pipelines.lib.parsing as p; "
        "print(sorted(m for m in ('pandas', 'duckdb', 'dagster') if m in sys.modules)); "
        "print(p.parse_batch.__module__, p.parse_ahead_batch.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["[]", "pipelines.lib.parsing pipelines.lib.parsing"]


def _write_its_own_path(raw: Path, path: str) -> None:
    """A file under raw whose bytes are its path (so each file's size is known)."""
    (raw / path).parent.mkdir(parents=True, exist_ok=True)
    (raw / path).write_bytes(path.encode())


@pytest.fixture(params=["one process", "two processes"])
def discover(request, monkeypatch):
    """`ingest.discover` as the sensor lists (one process) and as a run lists (the years' kinds listed by
    two parse workers); the workers must have listed what they were given."""
    if request.param == "one process":
        yield ingest.discover
        return
    by_worker = _listed_by_the_workers(monkeypatch)
    yield lambda raw: ingest.discover(raw, workers_from=0)
    assert by_worker, "no folder was listed by a worker"


def test_the_listing_says_what_each_file_is_by_where_it_lies(tmp_path, discover):
    raw = tmp_path / "raw"
    for path in (
        "units.xlsx",
        "单位名册.csv",
        "README.txt",
        ".gitkeep",
        ".hidden.csv",
        ".git/objects/x",
        "2024/loose.xlsx",
        "2024/score_sheets/a.xlsx",
        "2024/score_sheets/~$a.xlsx",
        "2024/打分表/sub/b.xlsx",
        "2023/学法台账/c.csv",
        "2023/minutes/d.csv",
        "1899/meetings/e.csv",
        "notes/units.xlsx",
        "notes/~$units.xlsx",
        "~$单位名册.xlsx",
    ):
        _write_its_own_path(raw, path)
    listing = discover(raw)
    assert listing["mtime_ns"].to_pylist() == [
        (raw / p).stat().st_mtime_ns for p in listing["path"].to_pylist()
    ]
    listed = [
        tuple(f.values()) for f in listing.select(["path", "kind", "folder_year", "size", "note"]).to_pylist()
    ]
    assert listed == [
        ("README.txt", None, None, 10, "unknown_location"),
        ("units.xlsx", "units", None, 10, None),
        ("~$单位名册.xlsx", None, None, len("~$单位名册.xlsx".encode()), "office_lock_file"),
        ("单位名册.csv", "units", None, len("单位名册.csv".encode()), None),
        ("1899/meetings/e.csv", None, None, 19, "unknown_location"),
        ("2023/minutes/d.csv", None, None, 18, "unknown_location"),
        ("2023/学法台账/c.csv", "meetings", 2023, len("2023/学法台账/c.csv".encode()), None),
        ("2024/loose.xlsx", None, None, 15, "unknown_location"),
        ("2024/score_sheets/a.xlsx", "score_sheet", 2024, 24, None),
        ("2024/score_sheets/~$a.xlsx", None, None, 26, "office_lock_file"),
        ("2024/打分表/sub/b.xlsx", "score_sheet", 2024, len("2024/打分表/sub/b.xlsx".encode()), None),
        ("notes/units.xlsx", None, None, 16, "unknown_location"),
        ("notes/~$units.xlsx", None, None, 18, "office_lock_file"),
    ]


def test_the_listing_follows_a_link_to_a_file_not_to_a_folder_nor_to_nothing(tmp_path, discover):
    """A linked file is listed as the file it names; a folder reached through a link is not looked
    into (it could lead back up); a link to nothing, like a file removed while the folder is read, is
    not listed, and nothing else is lost for it."""
    raw, elsewhere = tmp_path / "raw", tmp_path / "elsewhere"
    (raw / "2024" / "score_sheets").mkdir(parents=True)
    (elsewhere / "score_sheets").mkdir(parents=True)
    (elsewhere / "score_sheets" / "b.xlsx").write_bytes(b"bb")
    (raw / "2024" / "score_sheets" / "a.xlsx").write_bytes(b"a")
    (raw / "2024" / "score_sheets" / "b.xlsx").symlink_to(elsewhere / "score_sheets" / "b.xlsx")
    (raw / "2024" / "score_sheets" / "c.xlsx").symlink_to(elsewhere / "gone.xlsx")
    (raw / "2024" / "meetings").symlink_to(elsewhere / "score_sheets", target_is_directory=True)
    (raw / "2025").symlink_to(elsewhere, target_is_directory=True)
    listed = discover(raw).select(["path", "kind", "folder_year", "size"]).to_pylist()
    assert [tuple(f.values()) for f in listed] == [
        ("2024/score_sheets/a.xlsx", "score_sheet", 2024, 1),
        ("2024/score_sheets/b.xlsx", "score_sheet", 2024, 2),
    ]
    for nothing in (tmp_path / "absent", raw / "2024" / "score_sheets" / "a.xlsx"):  # no folder: no files
        assert discover(nothing).num_rows == 0


def test_what_a_worker_failed_to_list_is_listed_by_the_run_itself(tmp_path, monkeypatch):
    from pipelines.lib.isolation import Outcome

    raw = tmp_path / "raw"
    for path in (
        "2024/score_sheets/a.xlsx",
        "2024/meetings/b.csv",
        "2024/meetings/sub/c.csv",
        "2023/filings/d.csv",
    ):
        _write_its_own_path(raw, path)
    monkeypatch.setattr(
        ingest, "map_isolated", lambda _f, items, **_k: [Outcome(False, None, "crash", "killed")] * len(items)
    )
    assert ingest.discover(raw, workers_from=0).equals(ingest.discover(raw))
    assert ingest.discover(raw).num_rows == 4


def test_the_stored_listing_is_the_last_listing_whatever_changed_in_it(con):
    """Only the rows that changed are written; what is stored must still be exactly the last listing,
    and a file that left it remembered (unless its bytes are still there under another name)."""
    columns = "path, kind, folder_year, size, mtime_ns, note, sha256"
    a = ("2024/score_sheets/a.xlsx", "score_sheet", 2024, 10, 1, None, "aa")
    b = ("2024/meetings/b.csv", "meetings", 2024, 20, 2, None, "bb")
    lock = ("2024/score_sheets/~$a.xlsx", None, 2024, 1, 3, "office_lock_file", None)
    for rows in (
        [a, b, lock],
        [a, b, lock],  # nothing changed
        [
            (*a[:3], 11, 4, None, "a2"),
            b,
            (*lock[:5], "unknown_location", None),
        ],  # a corrected, a note changed
        [("2024/score_sheets/a-renamed.xlsx", *a[1:]), b],  # the first bytes of a under another name; no lock
    ):
        frame = pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns.split(", "))})
        ingest.record_raw_files(con, frame)
        assert (
            _rows(con, "raw_files", columns)
            == con.execute(f"select {columns} from frame order by all").fetchall()
        )
    # the corrected a (bytes a2) left under its name: remembered; the lock file is not an input
    assert _rows(con, "removed_files", "path, sha256") == [("2024/score_sheets/a.xlsx", "a2")]
