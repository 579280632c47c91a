"""What the four ledgers share (pipelines/lib/staging/ledgers.py) and each kind's own rules, staged as
the assets stage them from files written here: which year a row counts in and which file reports it,
rows whose unit or report type is unknown, meetings of no rulebook type, files without data rows."""

from __future__ import annotations

from pathlib import Path

from builders import city_units, ready_to_stage, write_filings, write_meetings, write_units

from pipelines.defs import staging
from pipelines.lib import pipeline
from pipelines.lib.rulebook import load_rulebook
from pipelines.lib.warehouse import Paths, work_connection


def _stage(tmp_path: Path, kind: str) -> Paths:
    paths, rules = ready_to_stage(tmp_path)
    pipeline.stage_kind(paths, rules, kind, owns=staging.KINDS[kind][0], reads=staging.kind_deps(kind))
    return paths


def _rows(paths: Paths, sql: str) -> list[tuple]:
    with work_connection(paths) as con:
        return con.execute(sql).fetchall()


def test_a_meeting_counts_in_the_year_of_its_date_and_its_own_file_reports_it(tmp_path):
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县"]))
    write_meetings(
        raw,
        2024,
        "清丰县委.csv",
        [
            ("清丰县委", "2023-12-28", "常委会", "听取法治建设工作汇报"),
            ("清丰县委", "2024-03-05", "中心组学习", "学习习近平法治思想"),
        ],
    )
    write_meetings(raw, 2023, "清丰县委.csv", [("清丰县委", "2023-06-01", "常委会", "听取法治建设工作汇报")])
    paths = _stage(tmp_path, "meetings")
    assert _rows(paths, 'select year, file, "row", quarter, half from stg_meetings order by year, file') == [
        (2023, "2023/meetings/清丰县委.csv", 2, 2, 1),
        (2023, "2024/meetings/清丰县委.csv", 2, 4, 2),
        (2024, "2024/meetings/清丰县委.csv", 3, 1, 1),
    ]
    assert _rows(paths, "select year, code, severity, message from stg_meeting_issues") == [
        (2024, "date_outside_year", "warning", "会议日期2023-12-28不在2024年度内，计入2023年度。")
    ]
    # each file is accounted for, whole, in the year of its folder only
    assert _rows(
        paths, "select year, file, rows_read, rows_loaded, status from stg_meeting_files order by year"
    ) == [
        (2023, "2023/meetings/清丰县委.csv", 1, 1, "loaded"),
        (2024, "2024/meetings/清丰县委.csv", 2, 2, "loaded"),
    ]


def test_rows_of_an_unknown_unit_or_no_meeting_type_are_told_and_a_file_without_rows_says_so(tmp_path):
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县"]))
    write_meetings(
        raw,
        2024,
        "a.csv",
        [
            ("清丰县委", "2024-03-05", "中心组学习", "学习习近平法治思想"),
            ("清丰县委", "2024-04-09", "茶话会", "迎新春"),
            ("清丰县委办公室", "2024-05-06", "常委会", "听取法治建设工作汇报"),
        ],
    )
    write_meetings(raw, 2024, "b.csv", [])
    paths = _stage(tmp_path, "meetings")
    assert _rows(paths, "select topic, meeting_types, is_study from stg_meetings order by date") == [
        ("学习习近平法治思想", ["central_group_study", "xi_thought_study"], True),
        ("迎新春", ["other"], False),
    ]
    issues = _rows(paths, 'select "row", unit, code, message from stg_meeting_issues order by "row"')
    assert [i[:3] for i in issues] == [
        (3, "清丰县委", "meeting_type_other"),
        (4, "清丰县委办公室", "unknown_unit"),
    ]
    assert (
        issues[0][3] == "会议“茶话会 迎新春”无法归入任何规定的会议/学法类型，已记为“其他”，不计入履职频次。"
    )
    assert issues[1][3].startswith(
        "单位名称“清丰县委办公室”不在单位名册中。最接近的登记名称：中共清丰县委员会"
    )
    assert _rows(
        paths,
        "select file, rows_read, rows_rejected, status, status_reason from stg_meeting_files order by file",
    ) == [
        ("2024/meetings/a.csv", 3, 1, "partially_loaded", None),
        ("2024/meetings/b.csv", 0, 0, "loaded", "文件中没有数据行。"),
    ]


def test_a_filing_of_no_required_report_type_is_rejected_and_told(tmp_path):
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县"]))
    write_filings(
        raw,
        2024,
        [
            ("清丰县委", "年度法治政府建设情况报告", "2024", "2025-01-20"),
            ("清丰县委", "春节慰问情况", "2024", "2025-01-21"),
        ],
    )
    paths = _stage(tmp_path, "filings")
    assert _rows(paths, 'select "row", report_type from stg_filings') == [(2, "rol_gov_annual_report")]
    names = "、".join(f.name for f in load_rulebook("default").filing_requirements.values())
    assert _rows(paths, 'select "row", severity, code, message from stg_filing_issues') == [
        (
            3,
            "error",
            "report_type_unknown",
            f"报告类型“春节慰问情况”无法对应到规定的报告（{names}），本行未计入。",
        )
    ]
    assert _rows(paths, "select rows_read, rows_rejected, status from stg_filing_files") == [
        (2, 1, "partially_loaded")
    ]


def test_an_issue_of_a_loaded_row_knows_the_unit_of_its_row(tmp_path):
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县", "南乐县"]))
    write_meetings(
        raw,
        2024,
        "两县.csv",
        [
            ("清丰县委", "2024-03-05", "中心组学习", "学习习近平法治思想"),
            # a cell too many: told without a unit (the row's columns are in doubt), the row still loaded
            ("南乐县政府", "2024-04-09", "常委会", "听取法治建设工作汇报", "2", "多出的一列"),
            ("南乐县政府", "2024-05-06", "茶话会", "迎新春"),
            ("清丰县委办公室", "2024-06-01", "常委会", "听取法治建设工作汇报"),
        ],
    )
    paths = _stage(tmp_path, "meetings")
    with work_connection(paths) as con:
        units = dict(con.execute("select unit_name, unit_id from stg_units").fetchall())
    issues = _rows(
        paths, 'select "row", code, unit, unit_id, row_unit_id from stg_meeting_issues order by "row"'
    )
    assert issues == [
        (3, "column_count_mismatch", None, None, units["南乐县人民政府"]),
        (4, "meeting_type_other", "南乐县政府", units["南乐县人民政府"], units["南乐县人民政府"]),
        (5, "unknown_unit", "清丰县委办公室", None, None),  # a rejected row is no loaded row
    ]


def test_a_work_database_an_earlier_version_made_gets_the_declared_columns_and_is_staged_again(tmp_path):
    from pipelines.lib import warehouse

    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县"]))
    write_meetings(raw, 2024, "a.csv", [("清丰县委", "2024-04-09", "茶话会", "迎新春")])
    paths = _stage(tmp_path, "meetings")
    columns = 'year, file, sheet, "row", unit, unit_id, row_unit_id, severity, code, message'
    fresh = _rows(paths, f"select {columns} from stg_meeting_issues")
    # as an earlier version left it: a column not yet declared, another no longer, its fingerprint kept
    with work_connection(paths) as con:
        con.execute("alter table stg_meeting_issues drop column row_unit_id")
        con.execute("alter table stg_meeting_issues add column dropped_since integer")
    warehouse._created.clear()  # a new process opens the work database
    rules = load_rulebook("default")
    pipeline.stage_kind(
        paths, rules, "meetings", owns=staging.KINDS["meetings"][0], reads=staging.kind_deps("meetings")
    )
    assert _rows(paths, f"select {columns} from stg_meeting_issues") == fresh
    declared = {c.strip().strip('"') for c in columns.split(",")}
    query = "select column_name from duckdb_columns() where table_name = 'stg_meeting_issues'"
    assert {c for (c,) in _rows(paths, query)} == declared
