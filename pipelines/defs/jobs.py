"""Jobs: the whole graph for a year (also the year-end recomputation)."""
import dagster as dg


full_refresh = dg.define_asset_job(
    "full_refresh", selection=dg.AssetSelection.all(),
    description="读取 data/raw（只解析新增或变化的文件），重算所选年度的全部表并发布。",
)
