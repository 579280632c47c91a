"""Jobs, both over the whole graph of one year (a partition): the raw files are re-read first, but only
new or changed content is parsed, and a year's ranking step also refreshes the next year's prev_rank."""
import dagster as dg

full_refresh = dg.define_asset_job(
    "full_refresh", selection=dg.AssetSelection.all(),
    description="读取 data/raw（只解析新增或变化的文件），重算所选年度并发布。全部重算：对所有年度回填（Backfill）。"
                "新文件传感器也运行此作业，只针对有变化的年度。",
)

year_end_recompute = dg.define_asset_job(
    "year_end_recompute", selection=dg.AssetSelection.all(),
    description="年终重算第 Y 年：重读该年度变化的文件，重算该年度全部结果及第 Y+1 年的上年名次，检查通过后发布。"
                "每年 1 月按计划自动运行上一年度；也可在此手动选择年度运行，或用 fazhi recompute --year Y。",
)
