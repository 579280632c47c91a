"""The README's marts contract, written from the models' YAML (fazhi_dbt/models/marts/*.yml): the
tables, their descriptions, every column with its type and meaning, and an example query.

`python -m pipelines.lib.contract` rewrites the part of README.md between the contract markers;
tests/models/test_models.py checks that README.md is what this writes.
"""

from __future__ import annotations

import sys

import yaml

from pipelines.lib.readme import Section
from pipelines.lib.schema import DBT_DIR

SECTION = Section("<!-- contract: generated from fazhi_dbt/models/marts/*.yml -->", "<!-- contract: end -->")
# The ten tables of SPEC §5 first, then the ones published beside them for tracing.
ORDER = (
    "unit_scores",
    "region_rankings",
    "rank_stability",
    "improvement_paths",
    "task_scores",
    "duty_scores",
    "task_evidence",
    "requirement_compliance",
    "study_sessions_quarterly",
    "filing_rates",
    "normative_doc_rates",
    "weak_spots",
    "early_warnings",
    "rectification_items",
    "rectification_summary",
    "inspection_calendar",
    "feedback_items",
    "ingest_issues",
    "submissions",
    "units",
    "score_sheet_tasks",
    "rulebook_requirements",
    "rulebook_roles",
    "meetings",
)


def _models() -> dict[str, dict]:
    out = {}
    for path in sorted((DBT_DIR / "models" / "marts").glob("*.yml")):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models") or ():
            out[model["name"]] = model
    return out


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render() -> str:
    models = _models()
    missing = set(models) - set(ORDER)
    if missing:
        raise ValueError(f"marts not placed in the contract's order: {sorted(missing)}")
    parts = []
    for name in ORDER:
        model = models[name]
        lines = [
            f"### `{name}`",
            "",
            model["description"].strip(),
            "",
            "| column | type | meaning |",
            "| --- | --- | --- |",
        ]
        lines += [
            f"| `{c['name']}` | {c['data_type'].lower()} | {_cell(c['description'])} |"
            for c in model["columns"]
        ]
        query = ((model.get("config") or {}).get("meta") or {}).get("example_query")
        if query:
            lines += ["", "```sql", query.strip(), "```"]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    SECTION.write(render())
    sys.exit(0)
