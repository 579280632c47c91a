"""Tables declared once, in the dbt project's YAML: the Python side creates the tables it writes
from `fazhi_dbt/models/sources.yml`, and reads the marts' columns from the models' YAML.

A source table's columns (name, data_type, description) live only there; `create_tables` turns them
into DDL, so a column added for a new asset is one line of YAML.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:  # the parse workers read the declarations without loading DuckDB
    import duckdb

DBT_DIR = Path(__file__).resolve().parent.parent.parent / "fazhi_dbt"
# libyaml's safe loader when installed: the same safe subset, about ten times faster (the parse workers
# read sources.yml as they start; the rulebook's files are read with it too)
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    description: str


@dataclass(frozen=True)
class Table:
    name: str
    source: str  # ingest | reference | staging, or "marts" for a model
    description: str
    columns: tuple[Column, ...]
    # Which rows a viewer scoped to one region may read (a mart's `meta.row_filter`; access/scope.py).
    row_filter: str | None = None
    example_query: str | None = None  # a mart's `meta.example_query`: the README's and the console's

    def ddl(self, schema: str = "main") -> str:
        cols = ", ".join(f'"{c.name}" {c.data_type}' for c in self.columns)
        return f"create table if not exists {schema}.{self.name} ({cols})"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _columns(spec: list[dict]) -> tuple[Column, ...]:
    return tuple(Column(c["name"], c.get("data_type", ""), c.get("description", "")) for c in spec or ())


@functools.cache
def source_tables() -> dict[str, Table]:
    """Every table a Python asset writes, by name."""
    data = yaml.load((DBT_DIR / "models" / "sources.yml").read_text(encoding="utf-8"), Loader=YAML_LOADER)
    return {
        t["name"]: Table(t["name"], s["name"], t.get("description", ""), _columns(t.get("columns")))
        for s in data["sources"]
        for t in s["tables"]
    }


@functools.cache
def mart_tables() -> dict[str, Table]:
    """Every published mart model, by name, from the YAML beside each model."""
    out = {}
    for path in sorted((DBT_DIR / "models" / "marts").glob("*.yml")):
        for m in yaml.safe_load(path.read_text(encoding="utf-8")).get("models") or ():
            meta = (m.get("config") or {}).get("meta") or {}
            out[m["name"]] = Table(
                m["name"],
                "marts",
                m.get("description", ""),
                _columns(m.get("columns")),
                row_filter=meta.get("row_filter"),
                example_query=meta.get("example_query"),
            )
    return out


def canonical_type(con: duckdb.DuckDBPyConnection, declared: str) -> str:
    """A declared column type as DuckDB names it (integer → INTEGER, "varchar[]" → VARCHAR[]). Asked of
    DuckDB once per type and process: the marts build checks some 300 contract columns of a dozen types,
    a query each took 0.03 s of a corrected file's build."""
    if declared not in _CANONICAL:
        _CANONICAL[declared] = str(con.sql(f"select null::{declared} as t").types[0])
    return _CANONICAL[declared]


_CANONICAL: dict[str, str] = {}  # declared type → DuckDB's name for it (`canonical_type`)


def create_tables(con: duckdb.DuckDBPyConnection, names: list[str] | None = None) -> None:
    """Create (if absent) the source tables named, or all of them. A table an earlier version made with
    other columns (a column declared since, or no longer) is given the declared ones, and the
    fingerprint of what it was made from (its comment: pipelines/lib/fingerprints.py) is cleared, so
    that the step that owns it makes it again: a work database outlives an upgrade of the code."""
    made: dict[str, dict[str, str]] = {}
    for table, column, kind in con.execute(
        "select table_name, column_name, data_type from duckdb_columns() "
        "where database_name = current_database() and schema_name = 'main'"
    ).fetchall():
        made.setdefault(table, {})[column] = kind
    tables = [source_tables()[name] for name in names or list(source_tables())]
    # each of the few declared types asked once: one query per column cost every run 0.05 s
    kinds = {c.data_type for table in tables for c in table.columns}
    canonical = {kind: canonical_type(con, kind) for kind in kinds} if made else {}
    for table in tables:
        name, have = table.name, made.get(table.name)
        if have is None:
            con.execute(table.ddl())
            continue
        declared = {c.name: canonical[c.data_type] for c in table.columns}
        if have == declared:
            continue
        for column in have.keys() - declared.keys():
            con.execute(f'alter table main.{name} drop column "{column}"')
        for column, kind in declared.items():
            if have.get(column) not in (None, kind):  # another type: its values are made again
                con.execute(f'alter table main.{name} drop column "{column}"')
            if have.get(column) != kind:
                con.execute(f'alter table main.{name} add column "{column}" {kind}')
        con.execute(f"comment on table main.{name} is null")
