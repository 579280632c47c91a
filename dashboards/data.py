"""Every read the dashboard makes of the published marts goes through `query`.

The pipeline replaces the warehouse file atomically (`os.replace`). A query attaches the file read-only
to the process's in-memory DuckDB under a name of its own, reads, and detaches it: no attachment outlives
a query, so a publication is never blocked and never half-seen (creating a DuckDB for each query, as
this once did, cost more than most queries). Results are cached per (query, file identity): a new
publication changes the file's inode and mtime, so the next rerun reads the new data at once; the TTL
only bounds memory. (A plain `duckdb.connect(path)` would reuse a database another thread still holds
open and keep serving the replaced file.)

Every read is made for the signed-in viewer (dashboards/auth.py) and fails without one. A viewer scoped
to one region reads an in-memory copy holding only the rows its region may see (access/scope.py), built
once per publication and region: whatever a page, widget, URL parameter or export asks for, other
regions' unit rows are not there to be found.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from access.scope import scoped_copy
from dashboards import auth
from dashboards.formats import is_missing
from pipelines.lib.rulebook import Rulebook, load_rulebook
from pipelines.lib.warehouse import sql_text

ROOT = Path(__file__).resolve().parent.parent
CACHE_TTL_SECONDS = 600


class NoWarehouse(Exception):
    """No published marts yet."""


class WarehouseUnreadable(Exception):
    """The file is there but cannot be read as the published marts: damaged, cut short, or not a warehouse."""


def warehouse_path() -> Path:
    return Path(os.environ.get("FAZHI_WAREHOUSE", ROOT / "data" / "marts" / "fazhi.duckdb"))


def warehouse_stamp() -> tuple[str, int, int, int] | None:
    """Identity of the file now served: changes with every publication."""
    path = warehouse_path()
    try:
        st_ = path.stat()
    except FileNotFoundError:
        return None
    return str(path), st_.st_ino, st_.st_mtime_ns, st_.st_size


@st.cache_resource(ttl=CACHE_TTL_SECONDS, show_spinner=False, max_entries=32)
def _scoped(region: str, stamp: tuple[str, int, int, int] | None) -> duckdb.DuckDBPyConnection:
    return scoped_copy(warehouse_path(), region)


@st.cache_resource(show_spinner=False)
def _duckdb() -> duckdb.DuckDBPyConnection:
    """The process's in-memory DuckDB, to which each query attaches the warehouse for its own read."""
    return duckdb.connect(":memory:")


def _read(sql: str, params: dict, region: str | None = None, stamp=None) -> pd.DataFrame:
    if region is not None:
        cursor = _scoped(region, stamp).cursor()
        try:
            return cursor.execute(sql, params).df()
        finally:
            cursor.close()
    cursor = _duckdb().cursor()
    name = f"wh_{uuid.uuid4().hex}"
    attached = False
    try:
        cursor.execute(f"attach {sql_text(str(warehouse_path()))} as {name} (read_only)")
        attached = True
        cursor.execute(f"use {name}")
        return cursor.execute(sql, params).df()
    finally:
        if attached:
            cursor.execute("use memory")
            cursor.execute(f"detach {name}")
        cursor.close()


def _agreed(
    sql: str, params: dict, stamp: tuple[str, int, int, int] | None, region: str | None
) -> pd.DataFrame:
    for _ in range(3):
        frame = _read(sql, params, region, stamp)
        # A publication between stat() and attach would cache new data under the old stamp (harmless)
        # or, read the other way round, old data under the new stamp; re-read until they agree.
        if warehouse_stamp() == stamp:
            return frame
        stamp = warehouse_stamp()
    return frame


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False, max_entries=500)
def _cached(
    sql: str, params: dict, stamp: tuple[str, int, int, int] | None, region: str | None
) -> pd.DataFrame:
    return _agreed(sql, params, stamp, region)


def query(sql: str, **params) -> pd.DataFrame:
    """Run `sql` with named `$parameters`; pages pass the whole filter set, DuckDB wants only the used ones.
    A download built after the run that offered it reads afresh: its rows (every row of a long table) are
    read once, not kept."""
    stamp = warehouse_stamp()
    if stamp is None:
        raise NoWarehouse(str(warehouse_path()))
    used = set(re.findall(r"\$(\w+)", sql))
    region = auth.viewer().region  # no signed-in viewer, no data
    wanted = {k: v for k, v in params.items() if k in used}
    try:
        if auth.building_download():
            return _agreed(sql, wanted, stamp, region)
        return _cached(sql, wanted, stamp, region).copy()
    except (duckdb.Error, OSError) as error:
        raise WarehouseUnreadable(str(warehouse_path())) from error


def prefetch(*reads: Callable[[], object]) -> None:
    """Read a page's independent named queries at once, each in a thread of its own of this script run
    (DuckDB reads without holding the interpreter), so that the page finds their answers cached instead of
    waiting for each in turn. A read that fails here fails again in the page's own call, where it is
    handled."""
    run = get_script_run_ctx(suppress_warning=True)
    if run is None:
        return

    def read(one: Callable[[], object]) -> None:
        add_script_run_ctx(threading.current_thread(), run)
        with contextlib.suppress(Exception):  # met again by the page's own call
            one()

    with ThreadPoolExecutor(max_workers=min(4, len(reads)) or 1) as pool:
        list(pool.map(read, reads))


def roles() -> pd.DataFrame:
    """The roles of the rulebook in force, as published (`marts.rulebook_roles`), in the rulebook's order: one
    row per role with its name, unit type, level (region | department | township), side (party | government |
    department), the score sheet's maximum, and whether (and in which position: 1, 2) it forms a region's
    score. Nothing in the dashboard names a role: which roles exist, what they are called, how the filters
    group them and which of them make a region's score all come from here."""
    return query("""select role, name, unit_type, level, side, max_score, in_region_score, region_position,
                           display_order
                    from marts.rulebook_roles order by display_order, role""")


def region_roles() -> tuple[str, ...]:
    """The roles whose scores form a region's score, in their position (the mart's first and second score)."""
    frame = roles()
    frame = frame[frame["in_region_score"].fillna(False).astype(bool)].sort_values("region_position")
    return tuple(frame["role"])


def available() -> bool:
    return warehouse_stamp() is not None


def publication() -> dict:
    frame = query("select * from marts.publication")
    return frame.iloc[0].to_dict() if len(frame) else {}


def years() -> list[int]:
    frame = query("""select distinct year from marts.unit_scores where status not in ('pending', 'missing')
                     union select distinct year from marts.submissions where year is not null order by 1""")
    return [int(y) for y in frame["year"]]


def regions() -> list[str]:
    return list(
        query("select distinct region from marts.units where region is not null order by region")["region"]
    )


def has_year(year: int) -> bool:
    """A year with any submission or score: the running year has ledgers long before its score sheets."""
    return year in years()


def published_rulebook() -> Rulebook | None:
    """The rulebook the published figures were computed with (`marts.publication.rulebook_id`), as its files
    read now: the one FAZHI_RULEBOOK names when it has that id, else the bundled rulebook of that id; None
    when no rulebook of that id can be loaded. Its fingerprint differs from the published one when the rules
    changed after the publication."""
    published = publication().get("rulebook_id")
    if is_missing(published) or not str(published):
        return None
    for name in (os.environ.get("FAZHI_RULEBOOK"), str(published)):
        if not name:
            continue
        try:
            rules = load_rulebook(name)
        except (ValueError, KeyError, TypeError, OSError):  # not found, or not a valid rulebook
            continue
        if rules.id == published:
            return rules
    return None


def rule_restatements() -> pd.DataFrame:
    """Publications under changed rules that changed published figures (`marts.restatements` whose reason
    says 考核规则已更新), latest first: when, when the figures had been published before, which years, and
    how many scores and ranks changed. Empty in a warehouse from before restatements were kept."""
    present = query("""select count(*) as n from duckdb_tables()
                       where schema_name = 'marts' and table_name = 'restatements'""")["n"].iloc[0]
    if not present:
        return pd.DataFrame(columns=["restated_at", "previously_published_at", "years", "changes"])
    return query("""select restated_at, previously_published_at,
                           string_agg(distinct year::varchar, '、' order by year::varchar) as years,
                           count(*) as changes
                    from marts.restatements where reason like '%考核规则已更新%'
                    group by restated_at, previously_published_at order by restated_at desc""")


def _published(table: str) -> bool:
    """The warehouse holds `marts.<table>` (a warehouse published before it was kept does not)."""
    present = query(
        "select count(*) as n from duckdb_tables() where schema_name = 'marts' and table_name = $table",
        table=table,
    )
    return bool(present["n"].iloc[0])


def rulebook_years() -> pd.DataFrame:
    """Per year of the publication (`marts.rulebook_years`), by year: the rulebook its figures were first
    published under (first_rulebook_id, first_version, first_fingerprint, first_published_at) and the one
    this publication computed them under (current_*). Empty in a warehouse from before it was kept."""
    if not _published("rulebook_years"):
        return pd.DataFrame(
            columns=[
                "year",
                "first_published_at",
                "first_rulebook_id",
                "first_version",
                "first_fingerprint",
                "current_rulebook_id",
                "current_version",
                "current_fingerprint",
                "published_at",
            ]
        )
    return query("select * from marts.rulebook_years order by year")


def rulebook_snapshot(fingerprint: str) -> pd.DataFrame:
    """What the rulebook of `fingerprint` says (`marts.rulebook_snapshots`): one row per indicator with its
    kind, name and value in words. Empty when it was not kept."""
    if not _published("rulebook_snapshots"):
        return pd.DataFrame(columns=["kind", "indicator", "name", "value"])
    return query(
        """select kind, indicator, name, value from marts.rulebook_snapshots
           where fingerprint = $fingerprint order by kind, indicator""",
        fingerprint=fingerprint,
    )
