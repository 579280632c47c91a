"""Ingest layer: the files in data/raw, their content hashes and parse results, and the unit registry."""
import dagster as dg

from pipelines.defs.resources import FazhiWarehouse
from pipelines.lib import pipeline

WRITER_POOL = "fazhi_work_db"  # one writer at a time on the work database


@dg.asset(group_name="ingest", pool=WRITER_POOL,
          description="data/raw 中所有文件：内容哈希、解析缓存（未变化的文件不重复解析）与单位名册。")
def raw_files(context: dg.AssetExecutionContext, fazhi: FazhiWarehouse) -> dg.MaterializeResult:
    stats = pipeline.ingest_raw(fazhi.paths, fazhi.rules, workers=fazhi.parse_workers)
    context.log.info(f"ingest: {stats}")
    return dg.MaterializeResult(metadata={k: dg.MetadataValue.int(v) for k, v in stats.items()})
