"""Row-level scope and the SQL console's sandbox, on a small warehouse whose rows are known by hand."""

from __future__ import annotations

import threading
import time

import duckdb
import pytest

from access.console import ROW_CAP, ConsoleRefused, run_query
from access.scope import row_filters, scoped_copy
from pipelines.lib.restatements import RESTATEMENTS_DDL
from pipelines.lib.schema import mart_tables

# Two regions: 东城区 (units e1, e2) and 西城区 (w1). A file from a unit nobody could resolve (unit null).
UNITS = [("e1", "东城区委", "东城区"), ("e2", "东城区政府", "东城区"), ("w1", "西城区委", "西城区")]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("wh") / "fazhi.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    for table in mart_tables().values():
        con.execute(table.ddl("marts"))
    con.execute(RESTATEMENTS_DDL)
    con.execute("create table marts.publication as select now()::timestamp as published_at")
    for uid, name, region in UNITS:
        con.execute(
            "insert into marts.units (unit_id, unit_name, region, role) values (?, ?, ?, 'party')",
            [uid, name, region],
        )
        con.execute(
            "insert into marts.unit_scores (year, unit_id, unit_name, region, role, score) values (2024, ?, ?, ?, 'party', 90)",
            [uid, name, region],
        )
        con.execute(
            "insert into marts.meetings (year, unit_id, region, topic) values (2024, ?, ?, '学法')",
            [uid, region],
        )
        con.execute(
            "insert into marts.submissions (file, unit_id, year) values (?, ?, 2024)",
            [f"2024/{uid}.xlsx", uid],
        )
        con.execute(
            "insert into marts.ingest_issues (file, year, message) values (?, 2024, '问题')",
            [f"2024/{uid}.xlsx"],
        )
    con.execute(
        "insert into marts.submissions (file, unit_id, year) values ('2024/unknown.xlsx', null, 2024)"
    )
    con.execute(
        "insert into marts.ingest_issues (file, year, message) values ('2024/unknown.xlsx', 2024, '单位无法识别')"
    )
    for region, rank in (("东城区", 1), ("西城区", 2)):
        con.execute(
            "insert into marts.region_rankings (year, region, score, rank) values (2024, ?, 90, ?)",
            [region, rank],
        )
        con.execute(
            "insert into marts.weak_spots (year, scope, scope_id, item) values (2024, 'region', ?, '末位')",
            [region],
        )
    con.execute(
        "insert into marts.weak_spots (year, scope, scope_id, item) values (2024, 'unit', 'w1', '未报送'), (2024, 'unit', 'e2', '未报送'), (2024, 'task', 'party:3', '失分多')"
    )
    con.execute(
        "insert into marts.restatements (year, scope, subject_id) values (2024, 'unit', 'w1'), (2024, 'region', '东城区')"
    )
    con.execute("insert into marts.rulebook_roles (role, name) values ('party', '党委')")
    con.close()
    return path


def test_every_published_table_declares_who_may_read_it(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts'"
            ).fetchall()
        }
    assert tables <= set(row_filters()), f"no row_filter declared for {sorted(tables - set(row_filters()))}"


def _rows(con, sql):
    return sorted(con.execute(sql).fetchall())


def test_a_region_sees_its_own_units_and_the_whole_published_ranking(warehouse):
    con = scoped_copy(warehouse, "东城区")
    assert _rows(con, "select unit_id from marts.units") == [("e1",), ("e2",)]
    assert _rows(con, "select unit_id from marts.unit_scores") == [("e1",), ("e2",)]
    assert _rows(con, "select unit_id from marts.meetings") == [("e1",), ("e2",)]
    assert _rows(con, "select file from marts.submissions") == [("2024/e1.xlsx",), ("2024/e2.xlsx",)]
    assert _rows(con, "select file from marts.ingest_issues") == [("2024/e1.xlsx",), ("2024/e2.xlsx",)]
    assert _rows(con, "select region from marts.region_rankings") == [("东城区",), ("西城区",)]
    assert _rows(con, "select scope, scope_id from marts.weak_spots") == [
        ("region", "东城区"),
        ("unit", "e2"),
    ]
    assert _rows(con, "select scope, subject_id from marts.restatements") == [("region", "东城区")]
    assert _rows(con, "select role from marts.rulebook_roles") == [("party",)]
    # the published file is not reachable from the scoped database at all
    assert "src" not in {r[0] for r in con.execute("select database_name from duckdb_databases()").fetchall()}


def test_a_region_name_cannot_widen_the_scope(warehouse):
    con = scoped_copy(warehouse, "东城区' or '1'='1")
    assert _rows(con, "select unit_id from marts.units") == []


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("select * from read_csv('/etc/passwd')", "文件、网络"),
        ("select * from read_text('/etc/passwd')", "文件、网络"),
        ("select * from glob('/etc/*')", "文件、网络"),
        ("copy (select * from marts.units) to '/tmp/leak.csv'", "COPY"),
        ("export database '/tmp/leak'", "EXPORT"),
        ("attach '/tmp/other.duckdb' as o", "ATTACH"),
        ("install httpfs", "只允许 SELECT"),
        ("load httpfs", "只允许 SELECT"),
        ("set lock_configuration = false", "SET"),
        ("pragma database_size", "PRAGMA"),
        ("create table marts.x as select 1", "CREATE"),
        ("drop table marts.units", "DROP"),
        ("delete from marts.units", "DELETE"),
        ("insert into marts.units (unit_id) values ('x')", "INSERT"),
        ("select 1; select 2", "一次只能"),
        ("select * from stg_meetings", "SQL 有误"),
        ("select * from main.stg_units", "SQL 有误"),
    ],
)
def test_the_console_refuses_the_attack_set_with_a_clear_message(warehouse, sql, message):
    with pytest.raises(ConsoleRefused, match=message) as refused:
        run_query(warehouse, sql)
    assert "Traceback" not in str(refused.value)


@pytest.mark.parametrize(
    "sql",
    [
        "select sum(range) from range(1e12::bigint)",
        "select count(*) from range(100000) a, range(100000) b, range(100000) c",
    ],
)
def test_a_runaway_query_is_interrupted_at_the_time_limit(warehouse, sql):
    started = time.perf_counter()
    with pytest.raises(ConsoleRefused, match="已中止"):
        run_query(warehouse, sql, time_limit=1.0)
    assert time.perf_counter() - started < 20  # the limit stops it; it would otherwise run for hours


def test_other_queries_run_while_one_is_runaway(warehouse):
    outcome: list[str] = []

    def runaway():
        try:
            run_query(warehouse, "select sum(range) from range(1e12::bigint)", time_limit=3.0)
        except ConsoleRefused as exc:
            outcome.append(str(exc))

    thread = threading.Thread(target=runaway)
    thread.start()
    result = run_query(warehouse, "select count(*) as n from marts.units")
    assert int(result.frame["n"].iloc[0]) == 3
    thread.join()
    assert outcome and "已中止" in outcome[0]


def test_rows_are_capped_and_the_cap_is_said(warehouse):
    result = run_query(warehouse, "select * from range(5000)")
    assert len(result.frame) == ROW_CAP and result.truncated
    small = run_query(warehouse, "select unit_id from marts.units order by 1")
    assert list(small.frame["unit_id"]) == ["e1", "e2", "w1"] and not small.truncated


def test_a_scoped_console_reads_only_the_region(warehouse):
    result = run_query(warehouse, "select unit_id from marts.unit_scores order by 1", region="西城区")
    assert list(result.frame["unit_id"]) == ["w1"]
