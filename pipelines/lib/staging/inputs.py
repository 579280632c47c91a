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

_SIGNATURES = """
    select r.path as file,
           md5(to_json({'sha256': r.sha256, 'folder_year': r.folder_year, 'mtime_ns': r.mtime_ns,
                        'parser_version': p.parser_version, 'parsed_at': p.parsed_at, 'meta': p.meta,
                        'rows_read': p.rows_read, 'error_code': p.error_code,
                        'error_message': p.error_message})::varchar) as signature
    from raw_files r left join parsed_files p on p.sha256 = r.sha256 and p.kind = r.kind
    where r.kind = $kind"""


def signatures(con: duckdb.DuckDBPyConnection, raw_kind: str, files: list[str] | None = None) -> pa.Table:
    """Each current file of the kind (of `files`, if given) and its signature."""
    only = "" if files is None else " and r.path in (select unnest($files))"
    params: dict[str, object] = {"kind": raw_kind} | ({} if files is None else {"files": files})
    return con.sql(_SIGNATURES + only, params=params).to_arrow_table()


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
    groups = pa.Table.from_pandas(frame[list(columns)].dropna().drop_duplicates(), preserve_index=False)
    names = ", ".join(columns)
    on = " and ".join(f"g.{c} = t.{c}" for c in columns)
    files = set(changed)
    while True:
        con.register("weighed_groups", groups)
        try:
            groups = con.sql(
                f"select {names} from weighed_groups union select {names} from {table} "
                f"where file in (select unnest($files)) and {' and '.join(f'{c} is not null' for c in columns)}",
                params={"files": sorted(files)},
            ).to_arrow_table()
        finally:
            con.unregister("weighed_groups")
        con.register("weighed_groups", groups)
        try:
            more = {
                file
                for (file,) in con.execute(
                    f"select distinct t.file from {table} t join weighed_groups g on {on}"
                ).fetchall()
            } - files
        finally:
            con.unregister("weighed_groups")
        if not more:
            return sorted(files)
        files |= more
