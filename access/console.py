"""The analysts' SQL console: one SELECT over the published marts, in a sandbox.

Each query gets its own in-memory DuckDB that attaches the published file read-only and then locks
itself down: no file, network or extension access (`enable_external_access=false`, extensions never
installed or loaded), configuration locked (`lock_configuration=true`), a memory and a thread limit.
Only a single SELECT statement is accepted (no COPY, EXPORT, ATTACH, PRAGMA, SET, DDL or DML). A timer
interrupts a query that runs past the time limit. The work database and its staging tables are never
attached, so they cannot be named.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from access.scope import scoped_copy
from pipelines.lib.warehouse import sql_text

ROW_CAP = 1_000  # rows shown on screen
DOWNLOAD_CAP = 200_000  # rows in a download of the full result
TIME_LIMIT_SECONDS = 15.0
MEMORY_LIMIT = "1GB"
THREADS = 1


class ConsoleRefused(Exception):
    """The query was not run, or was stopped: a sentence for the analyst."""


@dataclass(frozen=True)
class ConsoleResult:
    frame: pd.DataFrame
    truncated: bool  # more rows than the cap: the frame holds the first `cap`
    seconds: float


def check_statement(sql: str) -> None:
    """Refuse anything but exactly one SELECT, before any connection exists."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ConsoleRefused(f"SQL 无法解析：{_first_line(exc)}") from None
    if not statements:
        raise ConsoleRefused("请输入一条 SELECT 查询。")
    if len(statements) > 1:
        raise ConsoleRefused("一次只能执行一条查询（去掉多余的分号后的语句）。")
    if statements[0].type != duckdb.StatementType.SELECT:
        kind = statements[0].type.name
        raise ConsoleRefused(
            f"只允许 SELECT 查询；{kind} 语句不能在控制台执行（控制台只读，不能读写文件或改设置）。"
        )


def _sandbox(warehouse: Path, region: str | None) -> duckdb.DuckDBPyConnection:
    if region is not None:
        con = scoped_copy(warehouse, region)
        con.execute("use memory")
    else:
        con = duckdb.connect(
            ":memory:",
            config={
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "allow_community_extensions": False,
            },
        )
        con.execute(f"attach {sql_text(str(warehouse))} as wh (read_only)")
        con.execute("use wh")
    # Order matters: the file is attached first, then every door is closed and the settings locked.
    con.execute(f"set memory_limit = '{MEMORY_LIMIT}'")
    con.execute(f"set threads = {THREADS}")
    con.execute("set autoinstall_known_extensions = false")
    con.execute("set autoload_known_extensions = false")
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")
    return con


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def _explain(exc: duckdb.Error, limit: float) -> str:
    if isinstance(exc, duckdb.InterruptException):
        return f"查询超过 {limit:g} 秒，已中止。请缩小范围（加 where 条件或 limit）后再试。"
    if isinstance(exc, duckdb.PermissionException):
        return "查询试图访问文件、网络或扩展；控制台只能查询已发布的 marts 表。"
    if isinstance(exc, duckdb.OutOfMemoryException):
        return f"查询所需内存超过上限（{MEMORY_LIMIT}），已中止。请缩小范围后再试。"
    if isinstance(exc, duckdb.InvalidInputException) and "configuration" in str(exc).lower():
        return "控制台不能修改设置。"
    if isinstance(exc, (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)):
        return f"SQL 有误：{_first_line(exc)}"
    return f"查询未能完成：{_first_line(exc)}"


def run_query(
    warehouse: Path,
    sql: str,
    *,
    region: str | None = None,
    cap: int = ROW_CAP,
    time_limit: float = TIME_LIMIT_SECONDS,
) -> ConsoleResult:
    """Run one SELECT in the sandbox; at most `cap` rows come back. Raises ConsoleRefused."""
    check_statement(sql)
    con = _sandbox(warehouse, region)
    timer = threading.Timer(time_limit, con.interrupt)
    started = time.perf_counter()
    timer.start()
    try:
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchmany(cap + 1)
    except duckdb.Error as exc:
        raise ConsoleRefused(_explain(exc, time_limit)) from None
    finally:
        timer.cancel()
        con.close()
    frame = pd.DataFrame(rows[:cap], columns=pd.Index(columns))
    return ConsoleResult(frame=frame, truncated=len(rows) > cap, seconds=time.perf_counter() - started)
