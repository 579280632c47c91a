"""Ingest: the files in data/raw by content, and the parse cache (a content is parsed once)."""

import dagster as dg

from pipelines.defs.resources import WRITER_POOL, FazhiWarehouse, table_specs
from pipelines.lib import ingest, pipeline


@dg.multi_asset(
    specs=table_specs(["raw_files", "file_hashes", "removed_files"], group="ingest"),
    pool=WRITER_POOL,
    description="data/raw 中的文件：按内容哈希登记（大小和修改时间未变的不重算），记下被移除的文件。",
)
def raw_files(context: dg.AssetExecutionContext, fazhi: FazhiWarehouse):
    stats = pipeline.scan_raw_files(fazhi.paths)
    context.log.info(f"raw files: {stats}")
    for key in context.selected_asset_keys:
        yield dg.MaterializeResult(asset_key=key, metadata=stats)


PARSED = ["parsed_files", "parsed_issues", *ingest.RECORD_TABLES.values()]


@dg.multi_asset(
    specs=table_specs(PARSED, group="ingest", deps=["raw_files"]),
    pool=WRITER_POOL,
    description="解析缓存：每个新内容在隔离的子进程中解析一次；未变化的内容不再解析。",
)
def parsed_files(context: dg.AssetExecutionContext, fazhi: FazhiWarehouse):
    stats = pipeline.parse_raw_files(fazhi.paths, workers=fazhi.parse_workers)
    context.log.info(f"parse cache: {stats}")
    for key in context.selected_asset_keys:
        yield dg.MaterializeResult(asset_key=key, metadata=stats)
