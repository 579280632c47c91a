"""The rank-stability simulation (pipelines/lib/stability.py) over the published scores: Python, because
a thousand re-rankings per year are array work, not SQL. The mart `rank_stability` types and publishes it.

What each year and role reads is digested here (DuckDB's row hash, summed: order-free), and the rows
this model made last time are handed back: a group whose inputs did not change keeps its rows, and
only the tasks of the groups drawn again are read.

`prepare` reads everything from the warehouse and returns the simulation, which reads nothing more:
the marts build runs it beside the models that do not read this one (pipelines/lib/marts_build.py)."""

from collections.abc import Callable

import duckdb
import pandas as pd

from pipelines.lib.stability import (
    REGION,
    REGION_COLUMNS,
    TASK_COLUMNS,
    UNIT_COLUMNS,
    Settings,
    frame,
    plans,
    simulate,
)
from pipelines.lib.warehouse import sql_text


def _digests(units, tasks, regions):
    """(year, role) → digest of its units' and tasks' rows; (year, region scope) → of its regions' rows."""
    out = {}
    for name, relation, columns, group in (
        ("units", units, UNIT_COLUMNS, "role"),
        ("tasks", tasks, TASK_COLUMNS, "role"),
        ("regions", regions, REGION_COLUMNS, sql_text(REGION)),
    ):
        summed = relation.aggregate(
            f"year, {group} as scope, count(*)::varchar || ':' || sum(hash({', '.join(columns)})::hugeint)::varchar",
            f"year, {group}",
        )
        for year, scope, digest in summed.fetchall():
            key = (int(year), str(scope))
            out[key] = f"{out.get(key, '')}{name}={digest};"
    return out


def model(dbt, session):
    dbt.config(materialized="table")
    return prepare(dbt, session)()


def prepare(dbt, session) -> Callable[[], pd.DataFrame]:
    info = dbt.source("reference", "rulebook_info").df().iloc[0]
    roles = dbt.source("reference", "rulebook_roles").df()
    weights = dbt.source("reference", "rulebook_weight_ranges").df()
    settings = Settings(
        draws=int(info["stability_draws"]),
        seed=int(info["stability_seed"]),
        band=(float(info["band_low"]), float(info["band_high"])),
        distinct_probability=float(info["distinct_probability"]),
        self_vs_verified=bool(info["self_vs_verified"]),
        contradicted_points=bool(info["contradicted_points"]),
        weight_ranges={r.role: (r.factor_low, r.factor_high) for r in weights.itertuples()},
        region_roles=tuple(roles[roles["in_region_score"]].sort_values("region_position")["role"]),
        require_all_region_roles=bool(info["require_all_region_roles"]),
    )
    # the large reads made frames through Arrow (`frame`): what `df()` gives, in a quarter of its time
    units = dbt.ref("unit_scores").project(", ".join(UNIT_COLUMNS))
    tasks = dbt.ref("task_scores").project(", ".join(TASK_COLUMNS))
    regions = dbt.ref("region_rankings").project(", ".join(REGION_COLUMNS))
    try:  # this model's own table, as its last build left it
        previous = frame(session.sql(f"select * from {dbt.this}"))
    except duckdb.CatalogException:
        previous = None
    planned = plans(frame(units), frame(regions), settings, _digests(units, tasks, regions), previous)
    drawn = [f"(year = {p.year} and role = {sql_text(role)})" for p in planned for role in sorted(p.drawn)]
    drawn_tasks = frame(tasks.filter(" or ".join(drawn) or "false"))
    return lambda: simulate(planned, drawn_tasks, settings)
