"""What the commands that write documents from the published warehouse (`fazhi notices`, `fazhi circular`)
share: how they read it, what they say when there is nothing to read, and how a failure is reported."""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

# What reads the published marts: read(sql, **named $parameters) → a frame (the dashboard's data.query, or
# a read-only DuckDB connection's, see `reader`).
Read = Callable[..., pd.DataFrame]


def say(message: str) -> None:
    print(message, file=sys.stderr)


def no_warehouse(path: Path) -> bool:
    """True (and says so) when nothing has been published at `path` yet."""
    if path.exists():
        return False
    say(f"还没有已发布的数据（{path}）：请先运行 fazhi run。")
    return True


def published_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()
    return {r[0] for r in rows}


def reader(con: duckdb.DuckDBPyConnection) -> Read:
    """A `Read` over a connection: each query gets the named parameters its SQL uses."""

    def read(sql: str, **params: Any) -> pd.DataFrame:
        used = set(re.findall(r"\$(\w+)", sql))
        return con.execute(sql, {k: v for k, v in params.items() if k in used}).df()

    return read


def failed(warehouse: Path, error: BaseException, what: str) -> int:
    """One sentence for the person (`what` could not be made), the details for the administrator in the
    work folder's last_error.log; the exit code 1."""
    log = warehouse.parent / ".work" / "last_error.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("".join(traceback.format_exception(error)), encoding="utf-8")
        where = f"错误详情已写入 {log}，请转给系统管理员。"
    except OSError:
        where = "请转给系统管理员。"
    say(f"{what}。{where}")
    return 1
