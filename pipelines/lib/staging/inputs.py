"""What a kind's tables were staged from, file by file (its `stg_*_inputs` table), so that a corrected
file is staged again alone, with the files it is weighed against, instead of every file of its kind.

A file's signature digests what staging reads of it: its content hash, year folder and modification
time, and its parse result (the parser's version, when it parsed, what it found); its parsed rows and
issues are the ones that parse wrote. The rest of what a kind reads (the rulebook, the unit registry,
the years, the code) is its context (pipelines/lib/fingerprints.py: `same_context`): when that changed,
every file is staged again.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines.lib.staging.common import of_files

# DuckDB's hash of the fields, as the fingerprints hash rows: an md5 of them as JSON took 0.10–0.12 s for a
# nation's 45,000 score sheets, in every run that stages them, this 0.03 s.
_SIGNATURES = """
    select r.path as file,
           hash({'sha256': r.sha256, 'folder_year': r.folder_year, 'mtime_ns': r.mtime_ns,
                 'parser_version': p.parser_version, 'parsed_at': p.parsed_at, 'meta': p.meta,
                 'rows_read': p.rows_read, 'error_code': p.error_code,
                 'error_message': p.error_message})::varchar as signature
    from raw_files r left join parsed_files p on p.sha256 = r.sha256 and p.kind = r.kind
    where r.kind = $kind"""


def signatures(con: duckdb.DuckDBPyConnection, raw_kind: str, only: list[str] | None = None) -> pa.Table:
    """Each current file of the kind (of the files `only` names, if given) and its signature."""
    limited, params = of_files(only)
    return con.sql(_SIGNATURES + limited, params={"kind": raw_kind, **params}).to_arrow_table()


def changed_files(con: duckdb.DuckDBPyConnection, raw_kind: str, table: str) -> list[str]:
    """The files added, removed or changed since `table` was written: each one whose signature now is
    not the one the table holds."""
    return [
        file
        for (file,) in con.execute(
            f"""with now as ({_SIGNATURES})
                select coalesce(now.file, before.file) as file
                from now full join {table} before on before.file = now.file
                where now.signature is distinct from before.signature
                order by file""",
            {"kind": raw_kind},
        ).fetchall()
    ]


def weighed_with(
    con: duckdb.DuckDBPyConnection,
    changed: list[str],
    staged: pd.DataFrame | pa.Table,
    table: str,
    columns: Sequence[str],
) -> list[str]:
    """The changed files and every file weighed against one of them: a file with rows in `table` in a
    group (`columns`: a unit, role and year; a unit and year) of a changed file's rows, as they are now
    (`staged`: the changed files' rows staged alone) or were when `table` was made; and so on, until
    the files and their groups hold each other. A row with a null in its group is weighed against none."""
    frame = staged if isinstance(staged, pd.DataFrame) else staged.select(list(columns)).to_pandas()
    names = ", ".join(columns)
    known = " and ".join(f"{c} is not null" for c in columns)
    on = " and ".join(f"g.{c} = t.{c}" for c in columns)
    # the groups of `files`: the changed files' new ones, and every group their rows are in in `table`
    weighed = f"""with groups as (select {names} from changed_groups
                                  union select {names} from {table} where file in (select unnest($files)) and {known})
                  select distinct t.file from {table} t join groups g on {on}"""
    con.register(
        "changed_groups",
        pa.Table.from_pandas(frame[list(columns)].dropna().drop_duplicates(), preserve_index=False),
    )
    try:
        files = set(changed)
        while more := {file for (file,) in con.execute(weighed, {"files": sorted(files)}).fetchall()} - files:
            files |= more
        return sorted(files)
    finally:
        con.unregister("changed_groups")
