"""Reference: the rulebook in force as tables, and the unit registry."""

import dagster as dg

from pipelines.defs.resources import WRITER_POOL, FazhiWarehouse, table_specs
from pipelines.lib import pipeline, reference

RULEBOOK = list(reference.RULEBOOK_TABLES)


@dg.multi_asset(
    specs=table_specs(RULEBOOK, group="reference"),
    pool=WRITER_POOL,
    description="生效的规则库（pipelines/rules）写成表：角色、打分表任务、佐证对应、频次与报送要求、排名规则。",
)
def rulebook(context: dg.AssetExecutionContext, fazhi: FazhiWarehouse):
    counts = pipeline.write_rulebook(fazhi.paths, fazhi.rules)
    for key in context.selected_asset_keys:
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "rows": counts[key.path[-1]],
                "rulebook": fazhi.rules.id,
                "fingerprint": fazhi.rules.fingerprint,
            },
        )


@dg.multi_asset(
    specs=table_specs(
        ["stg_units", "stg_registry_issues"],
        group="reference",
        deps=["raw_files", "parsed_files", "parsed_units", "parsed_issues", "rulebook_roles"],
    ),
    pool=WRITER_POOL,
    description="单位名册：当前名册中的单位，角色由规则库的单位类型决定；名册的问题。"
    "整理从这里开始：没有任何年度的数据，或要求的年度（fazhi run --years）没有数据时，运行在此停止，"
    "不整理，也不发布。",
)
def unit_registry(context: dg.AssetExecutionContext, fazhi: FazhiWarehouse):
    # checked on the files just read, before anything is staged (every kind's staging waits for this
    # step): one run lists, parses and stops
    years = pipeline.years_with_data(fazhi.paths, fazhi.years)
    counts = pipeline.stage_registry(fazhi.paths, fazhi.rules)
    for key in context.selected_asset_keys:
        yield dg.MaterializeResult(
            asset_key=key, metadata={"rows": counts[key.path[-1]], "years": dg.MetadataValue.json(years)}
        )


@dg.multi_asset(
    specs=table_specs(["run_context"], group="reference"),
    pool=WRITER_POOL,
    description="计算基准日期（fazhi run --as-of，默认当天）：预警、逾期和整改状态按此日期计算。",
)
def run_context(fazhi: FazhiWarehouse):
    as_of = pipeline.write_run_context(fazhi.paths, fazhi.as_of_date)
    return dg.MaterializeResult(asset_key="run_context", metadata={"as_of": as_of.isoformat()})
