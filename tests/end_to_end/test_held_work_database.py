"""A run's steps share the work database opened once (pipelines.lib.warehouse.held): each step's
connection is a cursor of it, publication's too, and the file is never open in two databases of one
process at once; it is let go (its checkpoint written) after the new warehouse is served (real DuckDB
files, a real run)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from builders import city_units, write_score_sheet, write_units
from conftest import run_fazhi

from pipelines.lib import warehouse
from pipelines.lib.warehouse import Paths, held, transaction, work_connection


def test_connections_share_the_held_database_which_lets_go_of_the_file(tmp_path):
    paths = Paths(tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb")
    with held(paths.work_db):
        with work_connection(paths) as a:
            a.execute("set global threads = 1")  # a setting of the database, not of one connection
            with transaction(a):
                a.execute("create table kept as select 42 as answer")
        with work_connection(paths) as b:
            assert b.execute("select current_setting('threads')").fetchone() == (1,)
            assert b.execute("select answer from kept").fetchone() == (42,)
    with duckdb.connect(str(paths.work_db)) as plain:  # let go at the end
        assert plain.execute("select answer from kept").fetchone() == (42,)


def test_a_run_opens_the_work_database_once_and_never_twice_at_once(tmp_path, monkeypatch):
    raw, target = tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb"
    write_units(raw, city_units(["清丰县", "南乐县"]))
    write_score_sheet(raw, 2024, "清丰县", "party")
    run_fazhi(raw, target)
    work_db = str(Paths(raw, target).work_db)
    opened: list[str] = []
    while_held: list[str] = []
    real_connect, real_attach = duckdb.connect, warehouse._attach

    def connect(database: str = ":memory:", *args, **kwargs):
        if str(database) == work_db and warehouse._held:
            while_held.append(str(database))
        return real_connect(database, *args, **kwargs)

    # each opening itself, not each connection that finds none open: the thread parsing ahead and the
    # first step may ask at once, and the holder opens the file for the first of them only
    def attach(path, memory_limit):
        opened.append(str(path))
        return real_attach(path, memory_limit)

    monkeypatch.setattr(duckdb, "connect", connect)
    monkeypatch.setattr(warehouse, "_attach", attach)
    write_score_sheet(raw, 2024, "南乐县", "party")
    run_fazhi(raw, target)
    # once for the Dagster run of a `fazhi run` and what is read before it (the files parsed ahead)
    assert opened == [work_db] and while_held == []
    assert not warehouse._held


def test_the_work_database_is_let_go_after_the_new_warehouse_is_served(tmp_path, monkeypatch):
    """Publication attaches the new file beside the held work database: the work database's checkpoint
    (written as it is let go) comes after the swap, not before it, and the run still ends with the file
    closed and every figure published."""
    raw, target = tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb"
    write_units(raw, city_units(["清丰县", "南乐县"]))
    write_score_sheet(raw, 2024, "清丰县", "party")
    run_fazhi(raw, target)
    served_when_let_go: list[int] = []
    real_let_go = warehouse._Holder.let_go

    def let_go(self):
        if self.database is not None:
            served_when_let_go.append(target.stat().st_ino)
        return real_let_go(self)

    monkeypatch.setattr(warehouse._Holder, "let_go", let_go)
    write_score_sheet(raw, 2024, "南乐县", "party")
    wh = run_fazhi(raw, target)
    assert served_when_let_go == [target.stat().st_ino]  # once, and the new file already served
    assert wh.one("select count(*) from marts.unit_scores where year = 2024 and status = 'scored'") == (2,)
    assert not warehouse._held
    with duckdb.connect(str(Paths(raw, target).work_db)) as plain:  # let go: another database opens it
        assert plain.execute("select count(*) from marts.unit_scores").fetchone()[0] > 0


def test_the_marts_step_needs_the_compiled_sql_to_name_the_held_database(tmp_path):
    from pipelines.lib import marts_build

    project = marts_build.Project("elsewhere", (), (), {}, {})
    with pytest.raises(marts_build.UnsupportedFeature, match="elsewhere"):
        marts_build.connect(Path(tmp_path / "w.duckdb"), project, "500MB")


def test_a_run_writes_the_work_database_and_the_warehouse_in_row_groups_both_cores_can_read(tmp_path):
    """DuckDB reads a table on one thread for each of its row groups: a table the held work database
    writes, and its copy in the published warehouse, come in row groups of `ROW_GROUP_SIZE` rows, not
    DuckDB's 122,880 (a province's marts were read on one core)."""
    paths = Paths(tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb")
    rows = 2 * warehouse.ROW_GROUP_SIZE + 1

    def row_groups(con: duckdb.DuckDBPyConnection, table: str) -> int:
        return con.execute(
            f"select count(distinct row_group_id) from pragma_storage_info('{table}')"
        ).fetchone()[0]

    with held(paths.work_db):
        with work_connection(paths) as con:
            con.execute(f"create table marts.big_mart as select range as unit_id from range({rows})")
            assert row_groups(con, "marts.big_mart") == 3
        published = warehouse.publish(paths, 1)
    assert "big_mart" in published.copied
    with duckdb.connect(str(published.path), read_only=True) as served:
        assert served.execute("select count(*) from marts.big_mart").fetchone() == (rows,)
        assert row_groups(served, "marts.big_mart") == 3
