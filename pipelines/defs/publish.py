"""Publication: the checked marts copied into a new warehouse file and swapped in atomically."""

import dagster as dg

from pipelines.defs.marts import mart_keys
from pipelines.defs.reference import RULEBOOK
from pipelines.defs.resources import WRITER_POOL, FazhiWarehouse
from pipelines.lib import pipeline


@dg.asset(
    group_name="publish",
    pool=WRITER_POOL,
    deps=[*mart_keys(), *RULEBOOK],
    description="全部阻断性检查通过后，把 marts 复制到新文件并原子替换 data/marts/fazhi.duckdb；"
    "与上次发布相比改变了的已发布得分和名次记入 restatements；各年度首次发布和本次计算所用的规则库"
    "记入 rulebook_years，所涉规则库的各项规则记入 rulebook_snapshots。",
)
def published_warehouse(context: dg.AssetExecutionContext, fazhi: FazhiWarehouse) -> dg.MaterializeResult:
    published = pipeline.publish_marts(fazhi.paths, fazhi.rules)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(published.path)),
            "copied": len(published.copied),  # marts whose inputs changed since the served file
            "patched": len(published.patched),  # of those, the ones whose changed rows alone were replaced
            "patched_by_change": len(published.by_change),  # found by the keys the marts build changed
            "kept": len(published.kept),
        }
    )
