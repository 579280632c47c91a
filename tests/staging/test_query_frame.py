"""common.query_frame gives exactly the DataFrame DuckDB's own `.df()` gives — columns, dtypes, values —
whatever the column types and wherever NULLs are: staging's rules were written against `.df()`."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from pipelines.lib.staging.common import query_frame

COLUMNS = (
    "s varchar, i integer, b bigint, d double, f boolean, dt date, ts timestamp, "
    "s_null varchar, i_null integer, f_null boolean, dt_null date, ns_null bigint"
)
ROWS = [
    ("东城区委", 1, 10, 1.5, True, "2024-03-05", "2024-03-05 08:00:00", None, None, None, None, None),
    ("区（县）政府", 2, 20, None, False, "2023-12-31", None, "x", 3, True, "2024-01-01", 1764750000123456789),
    ("", 3, 30, 0.0, True, "2024-02-29", "2024-02-29 23:59:59", None, None, False, None, None),
]


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute(f"create table t ({COLUMNS})")
    con.executemany("insert into t values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", ROWS)
    yield con
    con.close()


@pytest.mark.parametrize(
    "sql, params",
    [
        ("select * from t order by i", None),
        ("select * from t where i = ? order by i", [2]),  # NULL-free columns that have NULLs elsewhere
        ("select * from t where i > ? order by i", [99]),  # no rows
        ("select s_null, i_null, f_null, dt_null, ns_null from t where i <> 2", None),  # only NULLs
        ("select i_null + 1 as j, year(dt) as y, dt_null is null as gone from t", None),
    ],
)
def test_the_same_frame_as_duckdb_gives(con, sql, params):
    pd.testing.assert_frame_equal(query_frame(con, sql, params), con.execute(sql, params).df())
