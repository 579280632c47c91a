"""What a step's tables were made from, so a step whose inputs have not changed does no work.

A step's fingerprint hashes the content of every table it declares as a dependency (as a multiset of
rows: order does not matter), the code that computes it and anything else it is given; it is kept as
the comment of each table the step owns, written in the transaction that writes them, so it can never
describe other rows than the ones stored. A re-run on unchanged files then stages nothing, and a
changed file restages only its own kind (and, while the kind's context is the same, only the files
it is weighed against: pipelines/lib/staging/inputs.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import duckdb

from pipelines.lib.warehouse import sql_text

PACKAGE = Path(__file__).resolve().parent.parent  # pipelines/


@cache
def code_version() -> str:
    """The pipeline's code: any edit to it makes every step run again."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def table_content(con: duckdb.DuckDBPyConnection, table: str, where: str = "") -> str:
    """Rows and an order-free hash of them (DuckDB's row hash, summed without overflow)."""
    return table_contents(con, [table], where)[table]


def table_contents(con: duckdb.DuckDBPyConnection, tables: Iterable[str], where: str = "") -> dict[str, str]:
    """`table_content` of each table, in one query: the marts step asks it of some forty tables every
    run, and one query for all of them takes two thirds of the time of one each (0.17 against 0.25 s at
    nation scale)."""
    names = list(dict.fromkeys(tables))
    if not names:
        return {}
    query = "\nunion all\n".join(
        f"select {i} as i, count(*) as n, coalesce(sum(hash(t)::hugeint), 0) as h from {table} t {where}"
        for i, table in enumerate(names)
    )
    return {names[i]: f"{n}:{h}" for i, n, h in con.execute(query).fetchall()}


def fingerprint(con: duckdb.DuckDBPyConnection, tables: Mapping[str, str], *extra: str) -> str:
    """tables: table → a `where` clause limiting which of its rows are read ('' for all)."""
    digest = hashlib.sha256(code_version().encode())
    for table in sorted(tables):
        digest.update(
            f"\x1e{table}\x1f{tables[table]}\x1f{table_content(con, table, tables[table])}".encode()
        )
    for item in extra:
        digest.update(f"\x1e{item}".encode())
    return digest.hexdigest()


def holds(con: duckdb.DuckDBPyConnection, table: str, content: str | None = None) -> tuple[str, str]:
    """What a table holds — its columns with their types, and its rows as a multiset — and those rows'
    `table_content`, read from the table unless given (a patched table's, worked out from what it held
    and the rows replaced: pipelines/lib/marts_build.py)."""
    columns = con.sql(f"select * from {table} limit 0")
    shape = "\x1f".join(
        f"{name}\x1e{kind}" for name, kind in zip(columns.columns, columns.types, strict=True)
    )
    content = content or table_content(con, table)
    return hashlib.sha256(f"{shape}\x1d{content}".encode()).hexdigest()[:32], content


def shifted(content: str, less: str, more: str) -> str:
    """A `table_content` after the rows counted in `less` left and those counted in `more` came: row
    counts and row-hash sums add up, whatever the order of the rows."""
    (n, h), (out_n, out_h), (in_n, in_h) = ((int(p) for p in c.split(":")) for c in (content, less, more))
    return f"{n - out_n + in_n}:{h - out_h + in_h}"


def content_rows(content: str) -> int:
    """How many rows a `table_content` counts: counted there, not again by a query of its own."""
    return int(content.partition(":")[0])


def comments(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    """Every table of the current database (schema.table) → its comment, in one query: asked of each
    model, one query apiece took 1.4 ms."""
    return {
        f"{schema}.{name}": comment
        for schema, name, comment in con.execute(
            "select schema_name, table_name, comment from duckdb_tables() where database_name = current_database()"
        ).fetchall()
    }


def _comment(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    return _comments_of(con, [table])[0]


def _comments_of(con: duckdb.DuckDBPyConnection, tables: Iterable[str]) -> list[str | None]:
    """These tables' comments (a table without a schema is in `main`), in one query: each of a run's
    checks of its kinds' tables asked apiece took 1.3 ms, about 0.15 s of a nation run's staging."""
    every = comments(con)
    return [every.get(table if "." in table else f"main.{table}") for table in tables]


def _recorded(comment: str | None) -> dict[str, str]:
    """A comment `record` wrote, by part: `inputs`, and `holds` when it says."""
    return {key: value for key, _, value in (part.partition(":") for part in (comment or "").split(" "))}


def unchanged(con: duckdb.DuckDBPyConnection, tables: Iterable[str], stamp: str) -> bool:
    """Every one of `tables` was last written from inputs with this fingerprint."""
    return all(_recorded(c).get("inputs") == stamp for c in _comments_of(con, tables))


def record(
    con: duckdb.DuckDBPyConnection,
    tables: Iterable[str],
    stamp: str,
    held: str | None = None,
    context: str | None = None,
    content: str | None = None,
) -> None:
    """Mark `tables` as made from inputs with this fingerprint (inside the transaction that wrote them),
    and, for one table, what it holds (`holds`) and its rows' `table_content`; `context`: the
    fingerprint of the part of the inputs that is not files (a step that can stage changed files
    alone needs it unchanged)."""
    for table in tables:
        parts = [
            f"inputs:{stamp}",
            *([f"holds:{held}"] if held else []),
            *([f"context:{context}"] if context else []),
            *([f"content:{content}"] if content else []),
        ]
        con.execute(f"comment on table {table} is {sql_text(' '.join(parts))}")


def same_context(con: duckdb.DuckDBPyConnection, tables: Iterable[str], context: str) -> bool:
    """Every one of `tables` was last written in this context (`record`)."""
    return all(_recorded(c).get("context") == context for c in _comments_of(con, tables))


def context_of(comment: str | None) -> str | None:
    """The context a table was written in, as its comment says (`record`)."""
    return _recorded(comment).get("context")


def recorded_holds(comment: str | None) -> str | None:
    """What a table holds, as its comment says (`record`), or None when it does not say."""
    return _recorded(comment).get("holds")


def record_change(con: duckdb.DuckDBPyConnection, table: str, before: str, after: str) -> None:
    """Mark `table` (the keys whose rows changed) as what turned a table holding `before` into one
    holding `after` (`holds`)."""
    con.execute(f"comment on table {table} is {sql_text(f'from:{before} to:{after}')}")


def recorded_content(comment: str | None) -> str | None:
    """A table's rows' `table_content`, as its comment says (`record`), or None when it does not say."""
    return _recorded(comment).get("content")


def recorded_change(comment: str | None) -> tuple[str, str] | None:
    """What a table of changed keys turned a table from and into (`record_change`), if it says."""
    recorded = _recorded(comment)
    return (recorded["from"], recorded["to"]) if "from" in recorded and "to" in recorded else None


def replaced(table: str) -> tuple[str, str]:
    """Where a replace of some files' rows of `table` (pipelines/lib/staging/common.py) keeps those rows
    as they were, and the files' names: what the marts build needs to find the keys that changed
    without digesting the whole table (pipelines/lib/marts_build.py)."""
    schema, _, name = table.rpartition(".")
    return f"{schema or 'main'}.replaced_rows__{name}", f"{schema or 'main'}.replaced_files__{name}"


def of_replaced_files(names: str) -> str:
    """A condition on a table's rows: those of the files a replace named (`names`: `replaced`'s second
    table), the rows it replaced and the rows it put in."""
    return f"file in (select file from {names})"


def held(
    con: duckdb.DuckDBPyConnection,
    table: str,
    stamp: str | None = None,
    known: Mapping[str, str | None] | None = None,
) -> str | None:
    """What a table (schema.table) holds, as recorded when it was written; given `stamp`, only if it
    was written from inputs with that fingerprint. `known`: the tables' comments read before
    (`comments`), where the table has not been written since."""
    recorded = _recorded(known.get(table) if known is not None else _comment(con, table))
    return recorded.get("holds") if stamp is None or recorded.get("inputs") == stamp else None
