"""Publication starts from the served file: a mart that holds the same columns and rows as the served
copy is kept as served, the others are copied again, and what is served is what a publication written
whole would hold (real DuckDB files; the work database's marts written here, with the comments the marts
step gives them)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from builders import city_units, write_score_sheet, write_units
from conftest import run_fazhi

from access.console import run_query
from access.scope import scoped_copy
from dashboards import data
from pipelines.lib import fingerprints
from pipelines.lib.marts_build import change_table
from pipelines.lib.warehouse import MAX_FREE_SHARE, Paths, publish, table_differences


def _work(path: Path, marts: dict[str, tuple[str, str | None]]) -> None:
    """The work database's marts as the marts step leaves them: table → (its rows as a query, the
    fingerprint of its inputs, or None for a table without one)."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        existing = {
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts'"
            ).fetchall()
        }
        for table in existing - marts.keys():
            con.execute(f"drop table marts.{table}")
        for table, (rows, stamp) in marts.items():
            con.execute(f"create or replace table marts.{table} as {rows}")
            if stamp is not None:
                fingerprints.record(
                    con, [f"marts.{table}"], stamp, fingerprints.holds(con, f"marts.{table}")[0]
                )


def _publish(tmp_path: Path):
    return publish(Paths(tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb"), 3)


def _whole(tmp_path: Path) -> Path:
    """The same work database published into a new place: written whole."""
    paths = Paths(tmp_path / "raw", tmp_path / "whole" / "fazhi.duckdb")
    paths.warehouse.unlink(missing_ok=True)
    paths.work_db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Paths(tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb").work_db, paths.work_db)
    published = publish(paths, 3)
    assert published.kept == ()
    return published.path


def _rows(path: Path, table: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"select * from marts.{table} order by all").fetchall()


BIG = "select range as id, md5(range::varchar) as text from range({n})"


def test_a_mart_made_from_the_same_inputs_is_kept_and_the_others_copied(tmp_path):
    work = tmp_path / "marts" / ".work" / "fazhi_work.duckdb"
    work.parent.mkdir(parents=True)
    marts = {
        "meetings": (BIG.format(n=1000), "m1"),
        "unit_scores": ("select 1 as unit, 80.0 as score", "s1"),
        "weak_spots": ("select 'a' as task", None),  # no fingerprint: always copied
        "old_mart": ("select 1 as x", "o1"),
    }
    _work(work, marts)
    first = _publish(tmp_path)
    assert sorted(first.copied) == sorted(marts) and first.kept == ()

    # a corrected score sheet: the scores change, the meetings do not; a mart the project dropped
    marts["unit_scores"] = ("select 1 as unit, 75.0 as score", "s2")
    del marts["old_mart"]
    _work(work, marts)
    second = _publish(tmp_path)
    assert second.kept == ("meetings",)
    assert sorted(second.copied) == ["unit_scores", "weak_spots"]
    assert _rows(second.path, "unit_scores") == [(1, 75.0)]
    assert table_differences(second.path, _whole(tmp_path)) == {}  # old_mart gone from both
    with duckdb.connect(str(second.path), read_only=True) as con:
        published = con.execute("select count(*) from marts.publication").fetchall()
    assert published == [(1,)]  # this publication's own row, not the served file's beside it

    # the scores made again from other inputs (a corrected file read to the same figures): the same rows
    marts["unit_scores"] = ("select 1 as unit, 75.0 as score", "s3")
    _work(work, marts)
    assert _publish(tmp_path).kept == ("meetings", "unit_scores")

    # the same values in another type are not the same table
    marts["unit_scores"] = ("select 1 as unit, 75.0::float as score", "s4")
    _work(work, marts)
    assert _publish(tmp_path).kept == ("meetings",)

    third = _publish(tmp_path)  # a re-run: nothing changed
    assert sorted(third.kept) == ["meetings", "unit_scores"] and third.copied == ("weak_spots",)
    assert table_differences(third.path, _whole(tmp_path)) == {}


def _free_share(path: Path) -> float:
    with duckdb.connect(str(path), read_only=True) as con:
        total, free = con.execute("select total_blocks, free_blocks from pragma_database_size()").fetchone()
    return free / total


def test_the_served_file_does_not_keep_growing(tmp_path):
    work = tmp_path / "marts" / ".work" / "fazhi_work.duckdb"
    work.parent.mkdir(parents=True)

    def publish_with(n: int, stamp: str):
        _work(work, {"kept": (BIG.format(n=20_000), "k"), "changing": (BIG.format(n=n), stamp)})
        return _publish(tmp_path)

    sizes = []
    for n in range(6):  # each publication replaces the big mart: its old blocks are free space, used again
        published = publish_with(200_000 + n, f"c{n}")
        assert published.kept == (("kept",) if n else ())
        sizes.append(published.path.stat().st_size)
    assert max(sizes) <= 2.5 * sizes[0]
    assert table_differences(published.path, _whole(tmp_path)) == {}

    # the big mart shrinks: most of the served file is free space, so the next file is written whole
    assert publish_with(10, "small").kept == ("kept",)
    assert _free_share(published.path) > MAX_FREE_SHARE
    rewritten = publish_with(10, "small")
    assert rewritten.kept == () and _free_share(rewritten.path) == 0
    assert rewritten.path.stat().st_size < sizes[0]
    assert table_differences(rewritten.path, _whole(tmp_path)) == {}


def test_a_served_file_with_a_write_ahead_log_is_not_copied(tmp_path):
    work = tmp_path / "marts" / ".work" / "fazhi_work.duckdb"
    work.parent.mkdir(parents=True)
    _work(work, {"meetings": ("select 1 as x", "m1")})
    served = _publish(tmp_path).path
    Path(f"{served}.wal").write_bytes(b"")  # not left checkpointed by a publication
    again = _publish(tmp_path)
    assert again.kept == () and again.copied == ("meetings",)


def test_a_warehouse_in_a_folder_whose_name_has_an_apostrophe_is_published_and_read(tmp_path, monkeypatch):
    """A folder may be named O'Brien: every database the pipeline, the dashboard and the console attach
    is named by a quoted SQL literal (the first publication failed on the work database's path)."""
    root = tmp_path / "o'brien"
    raw, warehouse = root / "raw", root / "marts" / "fazhi.duckdb"
    write_units(raw, city_units(["清丰县"]))
    write_score_sheet(raw, 2024, "清丰县", "party")
    run_fazhi(raw, warehouse)
    run_fazhi(raw, warehouse)  # again: the served file is attached too (restatements, rulebook history)

    monkeypatch.setenv("FAZHI_WAREHOUSE", str(warehouse))
    assert data._read("select count(*) as n from marts.units", {})["n"].tolist() == [2]
    assert scoped_copy(warehouse, "清丰县").execute("select count(*) from marts.units").fetchall() == [(2,)]
    assert run_query(warehouse, "select count(*) as n from marts.units").frame["n"].tolist() == [2]


# a mart of units' rows: 400 units of five tasks each, some issues of no unit
UNIT_ROWS = (
    "select 'U' || (range // 5) as unit_id, range % 5 as task_no, (range % 7)::double as points from range(2000) "
    "union all select null, 0, 1.0 from range(3)"
)


def test_a_mart_that_changed_in_a_few_units_has_only_their_rows_replaced(tmp_path):
    work = tmp_path / "marts" / ".work" / "fazhi_work.duckdb"
    work.parent.mkdir(parents=True)
    _work(work, {"task_scores": (UNIT_ROWS, "t1"), "weak_spots": ("select 1 as n", "w1")})
    assert _publish(tmp_path).patched == ()  # nothing served yet: written whole

    # a corrected sheet: one unit's points lowered, one unit's rows gone, a new unit, a row of no unit
    # more, and a unit's row doubled (the same row twice: the rows are a multiset)
    corrected = (
        f"select unit_id, task_no, points - (unit_id = 'U7' and task_no = 2)::int as points from ({UNIT_ROWS}) "
        "where unit_id is distinct from 'U9' "
        "union all select 'U900', 0, 3.0 union all select null, 0, 2.0 "
        "union all select 'U12', 1, (6 % 7)::double"
    )
    _work(work, {"task_scores": (corrected, "t2"), "weak_spots": ("select 1 as n", "w1")})
    second = _publish(tmp_path)
    assert second.patched == ("task_scores",) and second.kept == ("weak_spots",)
    assert _rows(second.path, "task_scores") == _rows(work, "task_scores")
    assert table_differences(second.path, _whole(tmp_path)) == {}
    with duckdb.connect(str(second.path), read_only=True) as con:
        comment = con.execute(
            "select comment from duckdb_tables() where table_name = 'task_scores'"
        ).fetchone()
    assert comment is not None and "inputs:t2" in comment[0]  # the work database's, as a copy would have

    # most rows changed (another rulebook): copied whole
    _work(work, {"task_scores": (f"select unit_id, task_no, points * 2 as points from ({UNIT_ROWS})", "t3")})
    third = _publish(tmp_path)
    assert third.copied == ("task_scores",) and third.patched == ()
    assert table_differences(third.path, _whole(tmp_path)) == {}

    # the same rows in another column type: copied whole (a patch keeps the served columns)
    _work(
        work,
        {"task_scores": (f"select unit_id, task_no, (points * 2)::float as points from ({UNIT_ROWS})", "t4")},
    )
    assert _publish(tmp_path).patched == ()
    with duckdb.connect(str(_publish(tmp_path).path), read_only=True) as con:
        kind = con.execute("select data_type from duckdb_columns() where column_name = 'points'").fetchall()
    assert kind == [("FLOAT",)]


def test_a_mart_with_no_column_to_group_its_rows_by_is_copied_whole(tmp_path):
    work = tmp_path / "marts" / ".work" / "fazhi_work.duckdb"
    work.parent.mkdir(parents=True)
    _work(work, {"rulebook_roles": ("select range as n from range(100)", "r1")})
    _publish(tmp_path)
    _work(work, {"rulebook_roles": ("select range as n from range(101)", "r2")})
    published = _publish(tmp_path)
    assert published.copied == ("rulebook_roles",) and published.patched == ()
    assert table_differences(published.path, _whole(tmp_path)) == {}


def _changed_keys(path: Path, table: str, keys: str, before: str, after: str) -> None:
    """What the marts build keeps of a mart it patched: the keys whose rows it made again (as a query),
    and what the mart held before and after (marts_build.change_table)."""
    with duckdb.connect(str(path)) as con:
        con.execute(f"create or replace table {change_table(table)} as {keys}")
        fingerprints.record_change(con, change_table(table), before, after)


def _held(path: Path, table: str) -> str:
    with duckdb.connect(str(path), read_only=True) as con:
        held = fingerprints.held(con, f"marts.{table}")
    assert held is not None
    return held


def test_a_mart_its_build_patched_is_published_by_the_keys_it_changed_and_checked(tmp_path):
    work = tmp_path / "marts" / ".work" / "fazhi_work.duckdb"
    work.parent.mkdir(parents=True)
    _work(work, {"task_scores": (UNIT_ROWS, "t1")})
    _publish(tmp_path)
    served = _held(work, "task_scores")

    # a corrected sheet of U7 and a unit gone (U9): the build made the rows of those two keys again
    corrected = (
        f"select unit_id, task_no, points - (unit_id = 'U7' and task_no = 2)::int as points from ({UNIT_ROWS}) "
        "where unit_id is distinct from 'U9'"
    )
    _work(work, {"task_scores": (corrected, "t2")})
    now = _held(work, "task_scores")
    _changed_keys(work, "task_scores", "select unnest(['U7', 'U9']) as unit_id", served, now)
    published = _publish(tmp_path)
    assert published.by_change == ("task_scores",) and published.patched == ("task_scores",)
    assert table_differences(published.path, _whole(tmp_path)) == {}

    # keys that do not say all that changed (a row of no unit too): the copy, checked, is not what the
    # work database holds, and is patched by comparison instead
    again = f"select * from ({corrected}) union all select null, 9, 1.0"
    _work(work, {"task_scores": (again, "t3")})
    _changed_keys(work, "task_scores", "select 'U7' as unit_id", now, _held(work, "task_scores"))
    checked = _publish(tmp_path)
    assert checked.by_change == () and checked.patched == ("task_scores",)
    assert table_differences(checked.path, _whole(tmp_path)) == {}

    # what the build changed, from a copy other than the served one (a publication missed): by comparison
    before = _held(work, "task_scores")
    _work(work, {"task_scores": (f"select * from ({again}) where unit_id is distinct from 'U3'", "t4")})
    _changed_keys(
        work, "task_scores", "select 'U3' as unit_id", "not-the-served-copy", _held(work, "task_scores")
    )
    missed = _publish(tmp_path)
    assert missed.by_change == () and missed.patched == ("task_scores",)
    assert table_differences(missed.path, _whole(tmp_path)) == {}
    assert before != _held(work, "task_scores")
