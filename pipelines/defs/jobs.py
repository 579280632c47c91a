"""One job: the whole graph. Only new or changed content is parsed; every year is staged and the marts
are rebuilt over all years, so a figure that compares years always reads the years as they are now."""

import dagster as dg

refresh = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.all(),
    description="读取 data/raw（只解析新增或变化的文件），整理全部年度，重建 marts，检查通过后发布。"
    "新文件传感器、年终计划和 fazhi run / fazhi recompute 都运行此作业。",
)
