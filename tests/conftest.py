"""Shared helpers for tests that run the real pipeline on small hand-made data/raw trees."""
from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

# Dagster flags beta parameters on import; they are not what these tests are about.
warnings.filterwarnings("ignore", message=".*is currently in beta.*")


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


def run_fazhi(raw: Path, warehouse: Path, years: list[int] | None = None, rulebook: str | None = None) -> Warehouse:
    """The real pipeline: Dagster materialize in-process, real DuckDB files, then publication."""
    from pipelines.cli import run_pipeline

    rc = run_pipeline(str(raw), str(warehouse), years, rulebook=rulebook, quiet=True)
    assert rc == 0, f"pipeline run failed with exit code {rc}"
    assert warehouse.exists(), "the run succeeded but published nothing"
    return Warehouse(raw, warehouse)


@pytest.fixture
def run():
    return run_fazhi
