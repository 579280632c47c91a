"""Staging: every input kind's tables, every year at once (a sheet counts in the year written inside it,
whatever folder it came in).

One asset per table, each declaring what it reads; one step writes them all, staging the kinds side by
side (pipelines/lib/pipeline.py: stage_kinds), as the kinds do not read each other's tables. A kind
whose inputs have not changed since its tables were made is not staged again; one whose files alone
changed stages those files and the files they are weighed against (pipeline.RESTAGING).
"""

import dagster as dg

from pipelines.defs.resources import WRITER_POOL, FazhiWarehouse, table_specs
from pipelines.lib import pipeline

_FILES = ["raw_files", "parsed_files", "parsed_issues"]
# kind → (the tables it writes, what it reads besides the files and the registry)
KINDS = {
    "score_sheets": (
        [
            "stg_task_scores",
            "stg_sheet_totals",
            "stg_score_sheet_files",
            "stg_score_sheet_issues",
            "stg_score_sheet_inputs",
        ],
        ["parsed_score_rows", "rulebook_tasks", "rulebook_roles", "rulebook_info"],
    ),
    "meetings": (
        ["stg_meetings", "stg_meeting_files", "stg_meeting_issues", "stg_meeting_inputs"],
        ["parsed_meetings", "rulebook_meeting_types"],
    ),
    "filings": (
        ["stg_filings", "stg_filing_files", "stg_filing_issues", "stg_filing_inputs"],
        ["parsed_filings", "rulebook_filing_requirements"],
    ),
    "normative_docs": (
        [
            "stg_normative_docs",
            "stg_normative_doc_files",
            "stg_normative_doc_issues",
            "stg_normative_doc_inputs",
        ],
        ["parsed_normative_docs"],
    ),
    "rectifications": (
        ["stg_rectifications", "stg_rectification_files", "stg_rectification_issues"],
        ["parsed_rectifications"],
    ),
    "other_files": (["stg_other_files", "stg_other_file_issues"], []),
}
DESCRIPTIONS = {
    "score_sheets": "打分表：对应到登记单位和角色，任务对应模板并按计分规则计分；同一单位、角色、年度以最新报送为准。",
    "meetings": "会议学法台账：对应到登记单位，按规则库归类会议类型，重复的会议只计一次。",
    "filings": "报送登记：对应到登记单位，报告类型对应到规则库的报送要求。",
    "normative_docs": "规范性文件登记：对应到登记单位。",
    "rectifications": "整改台账：对应到登记单位；同一问题出现在多份台账中时以最新报送的为准。",
    "other_files": "未读取的文件（Office 锁定文件、不在约定目录中的文件）：各计入其所在年度并说明原因。",
}


def kind_deps(kind: str) -> list[str]:
    """What a kind's staging reads: the files, its own inputs and (but for other_files) the registry."""
    return [*_FILES, *KINDS[kind][1]] + (["stg_units"] if kind != "other_files" else [])


@dg.multi_asset(
    name="staging",
    specs=[
        spec for kind in KINDS for spec in table_specs(KINDS[kind][0], group="staging", deps=kind_deps(kind))
    ],
    pool=WRITER_POOL,
    description="整理各类报送数据（各类互不依赖，同时整理）：\n"
    + "\n".join(f"- {text}" for text in DESCRIPTIONS.values()),
)
def staging(context: dg.AssetExecutionContext, fazhi: FazhiWarehouse):
    counts = pipeline.stage_kinds(
        fazhi.paths,
        fazhi.rules,
        {kind: (tables, kind_deps(kind)) for kind, (tables, _) in KINDS.items()},
        workers=fazhi.parse_workers,
    )
    for key in context.selected_asset_keys:
        yield dg.MaterializeResult(asset_key=key, metadata={"rows": counts[key.path[-1]]})
