"""Shared helpers for tests that run the real pipeline on small hand-made data/raw trees."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

# Dagster flags beta parameters on import; they are not what these tests are about.
warnings.filterwarnings("ignore", message=".*is currently in beta.*")


@contextmanager
def serving(
    command: list[str],
    ready_path: str,
    log: Path,
    *,
    within: float,
    env: dict | None = None,
    cwd: Path | None = None,
    stop_within: float = 30,
    headers: dict[str, str] | None = None,
) -> Iterator[str]:
    """Start a server command (`fazhi dashboard`, `fazhi ui`) on a free local port, in its own process
    group so its children stop with it; yield its base URL once `ready_path` answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + within
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{command[1]} exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                request = urllib.request.Request(url + ready_path, headers=headers or {})
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{command[1]} did not answer on {url} within {within:g} s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.25)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=stop_within)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Warehouse:
    """The published marts of one pipeline run, read the way analysts read them (read-only)."""

    def __init__(self, raw: Path, path: Path):
        self.raw = raw
        self.path = path

    def df(self, sql: str, params: list | dict | None = None) -> pd.DataFrame:
        from pipelines.lib.warehouse import read_only

        with read_only(self.path) as con:
            return con.execute(sql, params or []).df()

    def rows(self, sql: str, params: list | dict | None = None) -> list[tuple]:
        from pipelines.lib.warehouse import read_only

        with read_only(self.path) as con:
            return con.execute(sql, params or []).fetchall()

    def one(self, sql: str, params: list | dict | None = None):
        rows = self.rows(sql, params)
        assert len(rows) == 1, f"expected one row, got {len(rows)}: {rows}"
        return rows[0]


def model_relations(con, db: str) -> dict[str, list[tuple[str, str]]]:
    """Every model's table (marts and intermediate) in attached database `db`, with its columns and
    types, in order."""
    rows = con.execute(
        "select schema_name || '.' || table_name, column_name, data_type from duckdb_columns() "
        "where database_name = ? and (schema_name = 'marts' or table_name like 'int\\_%' escape '\\') "
        "order by 1, column_index",
        [db],
    ).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        out.setdefault(table, []).append((column, kind))
    return out


def generate_city(raw: Path, years: str, seed: int) -> None:
    """A city's generated data/raw (`fazhi generate`, the real command), as the demo makes it."""
    fazhi = Path(sys.executable).parent / "fazhi"
    done = subprocess.run(
        [str(fazhi), "generate", "--out", str(raw), "--scale", "city", "--years", years, "--seed", str(seed)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


def run_fazhi(
    raw: Path, warehouse: Path, years: list[int] | None = None, rulebook: str | None = None
) -> Warehouse:
    """The real pipeline: Dagster materialize in-process, real DuckDB files, then publication."""
    from pipelines.cli import run_pipeline

    rc = run_pipeline(str(raw), str(warehouse), years, rulebook=rulebook, quiet=True)
    assert rc == 0, f"pipeline run failed with exit code {rc}"
    assert warehouse.exists(), "the run succeeded but published nothing"
    return Warehouse(raw, warehouse)


def soffice() -> str:
    """LibreOffice's command, which the tests that re-save workbooks and render documents must have."""
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if exe is None:
        pytest.fail(
            "LibreOffice (soffice) is not installed: run the test set-up (./dev test installs "
            "libreoffice-calc-nogui and libreoffice-writer-nogui); this test must not be skipped."
        )
    return exe


# The files that take longest run first: pytest-xdist hands out whole files in collection order, so the
# two workers then finish together instead of one waiting alone for the last long file.
LONGEST_FIRST = (
    "end_to_end/test_crash_consistency.py",
    "end_to_end/test_operations.py",
    "staging/test_pipeline_correctness.py",
    "end_to_end/test_decisions.py",
    "end_to_end/test_rulebook_history.py",
    "dashboard/test_dashboard_app.py",
    "end_to_end/test_run_lock.py",
    "dashboard/test_upload.py",
    "end_to_end/test_check.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def weight(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return next((i for i, f in enumerate(LONGEST_FIRST) if path.endswith(f)), len(LONGEST_FIRST))

    items.sort(key=weight)  # stable: the order within a file stays


@pytest.fixture
def run():
    return run_fazhi


def basic_auth(user: str, password: str) -> dict[str, str]:
    """The header a browser sends after the Dagster UI's sign-in prompt (pipelines/lib/ui_server.py)."""
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture(scope="session")
def access_dir(tmp_path_factory):
    """Accounts for every test (one per role of the access policy, see tests/dashboard/sessions.py) and
    its audit trail: never the checkout's data/access."""
    from sessions import LIAISON_REGION, PASSWORD, user_of

    from access.accounts import Accounts
    from access.policy import load_policy

    path = tmp_path_factory.mktemp("access")
    accounts = Accounts(path=path / "users.json")
    for key, role in load_policy().roles.items():
        accounts.add(user_of(key), key, PASSWORD, region=LIAISON_REGION if role.scope == "region" else None)
    return path


@pytest.fixture(autouse=True)
def _runs_in_their_own_process(monkeypatch):
    """A `fazhi run` a test starts runs in its own process, even with a `fazhi runner` up on this
    machine; tests of the runner name their own (pipelines/lib/runner.py)."""
    monkeypatch.setenv("FAZHI_RUNNER", "off")


@pytest.fixture(autouse=True)
def _access(access_dir, monkeypatch):
    monkeypatch.setenv("FAZHI_ACCESS_DIR", str(access_dir))
