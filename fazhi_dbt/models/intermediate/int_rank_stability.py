"""The rank-stability simulation (pipelines/lib/stability.py) over the published scores: Python, because
a thousand re-rankings per year are array work, not SQL. The mart `rank_stability` types and publishes it."""

from pipelines.lib.stability import REGION_COLUMNS, TASK_COLUMNS, UNIT_COLUMNS, Settings, rank_stability


def model(dbt, session):
    dbt.config(materialized="table")
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
    return rank_stability(
        dbt.ref("unit_scores").project(", ".join(UNIT_COLUMNS)).df(),
        dbt.ref("task_scores").project(", ".join(TASK_COLUMNS)).df(),
        dbt.ref("region_rankings").project(", ".join(REGION_COLUMNS)).df(),
        settings,
    )
