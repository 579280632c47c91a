"""Marts layer: the public tables of SPEC §5 per year, guarded by blocking checks, then published."""
import warnings

import dagster as dg

from pipelines.defs.ingest import WRITER_POOL
from pipelines.defs.partitions import years
from pipelines.defs.resources import FazhiWarehouse
from pipelines.defs.staging import STAGING_TABLES
from pipelines.lib import pipeline

YEAR_MARTS = ["unit_scores", "task_scores", "requirement_compliance", "study_sessions_quarterly", "filing_rates",
              "normative_doc_rates", "ingest_issues", "submissions"]
MART_CHECKS = {  # check name (pipelines.lib.checks.mart_checks) → the mart it guards
    "marts.unit_scores_unique": "unit_scores",
    "marts.task_scores_unique": "task_scores",
    "marts.requirement_compliance_unique": "requirement_compliance",
    "marts.study_sessions_quarterly_unique": "study_sessions_quarterly",
    "marts.filing_rates_unique": "filing_rates",
    "marts.normative_doc_rates_unique": "normative_doc_rates",
    "unit_scores_every_unit": "unit_scores",
    "unit_scores_in_bounds": "unit_scores",
    "unit_scores_status_accepted": "unit_scores",
    "task_scores_relationship": "task_scores",
    "ingest_issues_severity_accepted": "ingest_issues",
    "submissions_rows_reconciled": "submissions",
}
with warnings.catch_warnings():
    # allow_nonexistent_upstream_partitions is marked beta; the first year simply has no year before it
    warnings.simplefilter("ignore", dg.BetaWarning)
    PREVIOUS_AND_THIS_YEAR = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=0,
                                                           allow_nonexistent_upstream_partitions=True)
RANKING_CHECKS = {"marts.region_rankings_unique": "region_rankings",
                  "region_rankings_rank_change": "region_rankings"}


def _check_name(name: str) -> str:
    return name.replace("marts.", "")


def _yield_checks(paths, year: int, wanted: dict[str, str]):
    for r in pipeline.run_checks(paths, year, "marts"):
        if r.name in wanted:
            yield dg.AssetCheckResult(asset_key=wanted[r.name], check_name=_check_name(r.name), passed=r.passed,
                                      metadata={"failures": r.failures, "detail": r.detail})


@dg.multi_asset(
    specs=[dg.AssetSpec(t, group_name="marts", deps=STAGING_TABLES) for t in YEAR_MARTS],
    check_specs=[dg.AssetCheckSpec(_check_name(n), asset=t, blocking=True) for n, t in MART_CHECKS.items()],
    partitions_def=years, pool=WRITER_POOL,
    description="按年度计算：单位得分、任务得分与佐证、会议学习达标、报送率、规范性文件三率、问题清单、报送文件记录。",
)
def year_marts(context: dg.AssetExecutionContext, fazhi: FazhiWarehouse):
    year = int(context.partition_key)
    pipeline.build_year_marts(fazhi.paths, fazhi.rules, year)
    for table in YEAR_MARTS:
        yield dg.MaterializeResult(asset_key=table, metadata={"year": year})
    yield from _yield_checks(fazhi.paths, year, MART_CHECKS)


@dg.asset(
    group_name="marts", partitions_def=years, pool=WRITER_POOL,
    # prev_rank reads the year before: year Y depends on unit_scores of Y−1 and Y, so recomputing Y
    # also makes Y+1's ranking stale.
    deps=[dg.AssetDep("unit_scores", partition_mapping=PREVIOUS_AND_THIS_YEAR)],
    check_specs=[dg.AssetCheckSpec(_check_name(n), asset="region_rankings", blocking=True) for n in RANKING_CHECKS],
    description="县区排名：党委、政府打分表得分的平均分，竞争排名（1,2,2,4），末位标记，与上年比较。",
)
def region_rankings(context: dg.AssetExecutionContext, fazhi: FazhiWarehouse):
    year = int(context.partition_key)
    years = pipeline.ranking_years(fazhi.paths, year)
    pipeline.build_rankings(fazhi.paths, fazhi.rules, years)
    _record_next_year(context, "region_rankings", years)
    # The next year's checks are recorded too: publication refuses while any year fails.
    for later in years[1:]:
        pipeline.run_checks(fazhi.paths, later, "marts")
    yield dg.MaterializeResult(metadata={"year": year, "years_rebuilt": str(years)})
    yield from _yield_checks(fazhi.paths, year, RANKING_CHECKS)


def _record_next_year(context: dg.AssetExecutionContext, asset: str, years: list[int]) -> None:
    """A year's recomputation also rewrites the next year's slice: say so in the next partition's history."""
    for later in years[1:]:
        context.log_event(dg.AssetMaterialization(
            asset_key=asset, partition=str(later),
            metadata={"year": later, "because": f"{years[0]} 年度重算，上年名次随之更新"}))


@dg.asset(group_name="marts", partitions_def=years, pool=WRITER_POOL,
          deps=["region_rankings", "task_scores", "requirement_compliance"],
          description="短板：末位与排名下降的县区、失分最多的任务、达标率低的要求、自评与记录不符的单位。")
def weak_spots(context: dg.AssetExecutionContext, fazhi: FazhiWarehouse) -> dg.MaterializeResult:
    year = int(context.partition_key)
    years = pipeline.ranking_years(fazhi.paths, year)
    pipeline.build_weak_spots(fazhi.paths, fazhi.rules, years)
    _record_next_year(context, "weak_spots", years)
    return dg.MaterializeResult(metadata={"year": year, "years_rebuilt": str(years)})


@dg.asset(group_name="publish", partitions_def=years, pool=WRITER_POOL,
          deps=[*YEAR_MARTS, "region_rankings", "weak_spots"],
          description="检查全部通过后，把 marts 复制到新文件并原子替换 data/marts/fazhi.duckdb。")
def published_warehouse(context: dg.AssetExecutionContext, fazhi: FazhiWarehouse) -> dg.MaterializeResult:
    path = pipeline.publish_marts(fazhi.paths, fazhi.rules)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(path)})
