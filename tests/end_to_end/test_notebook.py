"""The analyst notebook and the README's example queries run against a real published warehouse.

A small data/raw tree is written with tests/builders.py, the whole pipeline runs into tmp_path,
then notebooks/analyst_queries.ipynb is executed top to bottom in a fresh python3 kernel (the
venv's own ipykernel) with FAZHI_WAREHOUSE pointing at that warehouse. Every ```sql block of the
README must run too, and appear in the notebook, so the documented queries cannot drift from the
marts contract.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import nbformat
import pytest
from builders import (
    city_units,
    write_filings,
    write_meetings,
    write_normative,
    write_score_sheet,
    write_units,
)
from nbclient import NotebookClient

from pipelines.cli import run_pipeline

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "analyst_queries.ipynb"
README = ROOT / "README.md"
YEARS = (2023, 2024)


def build_raw(raw: Path) -> None:
    """Three regions and a department over two years: ranked, unranked and missing units, a
    re-submitted sheet, bad and blank scores, a dropped task, evidence that falls short, ledger
    rows with an unknown unit, an unclassifiable meeting and a duplicate, a misplaced file."""
    write_units(raw, city_units(["清丰县", "南乐县", "范县"], ["市司法局"]))
    for y in YEARS:
        write_score_sheet(raw, y, "清丰县", "party", {5: 2.5, 27: 1})
        write_score_sheet(raw, y, "清丰县", "government", {4: 2, 10: 5})
        write_score_sheet(raw, y, "南乐县", "party", {2: None, 3: "四分"}, mtime=1_700_000_000)
        write_score_sheet(raw, y, "南乐县", "government", verified={1: 5, 4: 1})
        write_meetings(
            raw,
            y,
            "meetings.csv",
            [
                ("中共清丰县委", f"{y}-03-05", "常委会", "听取法治建设工作汇报"),
                ("中共清丰县委", f"{y}/4/10", "中心组学习", "学习习近平法治思想"),
                ("中共清丰县委", f"{y}.4.10", "中心组学习", "学习习近平法治思想"),
                ("中共清丰县委", f"{y}-10-12", "中心组学习", "学习《中华人民共和国行政复议法》"),
                ("清丰县政府", f"{y}年6月1日", "政府常务会", "法治政府建设专题"),
                ("清丰县政府", f"{y}-09-01", "集体学法", "学习行政处罚法"),
                ("清丰县政府", f"{y}-11-20", "专题讲座", "法治专题讲座：依法行政"),
                ("南乐县委", f"{y}-02-01", "座谈会", "春节走访慰问"),
                ("南乐县委", f"{y}-07-01", "常委会", "听取全县法治建设工作汇报"),
                ("市司法局", f"{y}-05-06", "执法培训", "行政执法人员法治培训", 24),
                ("不存在县委", f"{y}-02-01", "常委会", "法治建设汇报"),
            ],
        )
        write_filings(
            raw,
            y,
            [
                ("清丰县政府", "法治政府建设年度报告", y, f"{y + 1}-03-20"),
                ("中共清丰县委", "年终述法报告", y, f"{y + 1}-02-10"),
                ("南乐县政府", "督察自查报告", y, f"{y}-08-09"),
            ],
        )
        write_normative(
            raw,
            y,
            [
                ("清丰县政府", "关于加强河道管理的通知", f"清政〔{y}〕1号", f"{y}-01-05", f"{y}-01-20", "是"),
                ("清丰县政府", "关于规范停车收费的通知", f"清政〔{y}〕2号", f"{y}-03-05", "", "是"),
            ],
        )
    # 2024 only: 范县 party drops task 7 (government never sends a sheet: region not ranked);
    # 南乐县 party re-submits a corrected sheet, which supersedes the first one.
    write_score_sheet(raw, 2024, "范县", "party", {1: 3}, drop_tasks=(7,))
    write_score_sheet(
        raw, 2024, "南乐县", "party", {2: 5}, name="南乐县_party_2024_更正.xlsx", mtime=1_800_000_000
    )
    misplaced = raw / "2024" / "其他"
    misplaced.mkdir(parents=True)
    (misplaced / "说明.txt").write_text("随文件报送的说明", encoding="utf-8")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("notebook")
    raw, target = base / "raw", base / "marts" / "fazhi.duckdb"
    build_raw(raw)
    assert run_pipeline(str(raw), str(target), list(YEARS), quiet=True) == 0
    assert target.is_file()
    return target


def readme_queries() -> list[str]:
    return [q.strip() for q in re.findall(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), re.S)]


def _normalize(sql: str) -> str:
    return " ".join(sql.split()).rstrip(";")


def test_readme_queries_run_on_the_published_warehouse(warehouse):
    queries = readme_queries()
    assert len(queries) >= 15  # one per published table
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = {
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts'"
            ).fetchall()
        }
        for sql in queries:
            con.execute(sql).df()  # raises on any error
        documented = {t for sql in queries for t in re.findall(r"marts\.(\w+)", sql)}
    finally:
        con.close()
    assert tables <= documented, f"published tables without an example query: {sorted(tables - documented)}"


def test_notebook_runs_the_readme_queries():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [_normalize(c.source) for c in nb.cells if c.cell_type == "code"]
    for sql in readme_queries():
        assert any(_normalize(sql) in c for c in code), f"README query missing from the notebook:\n{sql}"


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None


def _text(output) -> str:
    if output.output_type == "stream":
        return output.text
    return output.get("data", {}).get("text/plain", "")


def test_notebook_executes(warehouse, monkeypatch):
    # The kernel inherits this process's environment.
    monkeypatch.setenv("FAZHI_WAREHOUSE", str(warehouse))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    tagged = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert not [o for o in cell.outputs if o.output_type == "error"]
        for tag in cell.metadata.get("tags", []):
            tagged[tag] = "\n".join(_text(o) for o in cell.outputs)

    assert str(warehouse) in tagged["setup"]
    # Key results: not empty, and showing what the data holds.
    for tag in (
        "unit_scores",
        "region_rankings",
        "task_scores",
        "requirement_compliance",
        "study_sessions_quarterly",
        "filing_rates",
        "normative_doc_rates",
        "weak_spots",
        "ingest_issues",
        "submissions",
        "units",
        "score_sheet_tasks",
        "rulebook_requirements",
        "meetings",
        "publication",
        "trace_row",
        "trace_compliance",
        "trace_meetings",
    ):
        assert tag in tagged, f"no cell tagged {tag}"
        assert tagged[tag].strip() and "Empty DataFrame" not in tagged[tag], f"{tag}: empty output"
    assert "清丰县" in tagged["region_rankings"] and "南乐县" in tagged["region_rankings"]
    assert "unknown_unit" in tagged["ingest_issues"]
    assert "superseded" in tagged["submissions"]
    assert "score_sheets/" in tagged["trace_row"]
