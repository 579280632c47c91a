"""Staging layer: one year's rows resolved to registry units and rulebook tasks, with their issues."""
import dagster as dg

from pipelines.defs.ingest import WRITER_POOL
from pipelines.defs.partitions import years
from pipelines.defs.resources import FazhiWarehouse
from pipelines.lib import pipeline

STAGING_TABLES = ["stg_submissions", "stg_task_scores", "stg_meetings", "stg_filings", "stg_normative_docs",
                  "stg_issues"]


STAGING_CHECKS = {  # check name → the table it guards (names from pipelines.lib.checks.staging_checks)
    "stg_task_scores_unique": "stg_task_scores",
    "stg_task_scores_units_registered": "stg_task_scores",
    "stg_task_scores_points_in_bounds": "stg_task_scores",
    "stg_submissions_rows_reconciled": "stg_submissions",
    "stg_rejected_rows_have_issues": "stg_issues",
    "stg_meetings_units_registered": "stg_meetings",
}


@dg.multi_asset(
    specs=[dg.AssetSpec(t, group_name="staging", deps=["raw_files"]) for t in STAGING_TABLES],
    check_specs=[dg.AssetCheckSpec(name, asset=table, blocking=True) for name, table in STAGING_CHECKS.items()],
    partitions_def=years, pool=WRITER_POOL,
    description="按年度：单位对应名册、任务对应模板、会议归类；每行入库或拒收并记录原因。",
)
def staging_tables(context: dg.AssetExecutionContext, fazhi: FazhiWarehouse):
    year = int(context.partition_key)
    stats = pipeline.stage_year(fazhi.paths, fazhi.rules, year)
    for table in STAGING_TABLES:
        yield dg.MaterializeResult(asset_key=table, metadata={"year": year, **stats})
    for result in pipeline.run_checks(fazhi.paths, year, "staging"):
        yield dg.AssetCheckResult(asset_key=STAGING_CHECKS[result.name], check_name=result.name,
                                  passed=result.passed, metadata={"failures": result.failures, "detail": result.detail})
