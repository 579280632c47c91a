"""反馈通知 end to end: a hand-made year, a real pipeline run, then `fazhi notices` writes each unit's Word
notice and the zip of all; the notices are opened and read back, and rendered by LibreOffice as an office
would open them.

The year (2024), by unit, with what each must be told (computed by hand from the files below):
- 中共范县委员会: its score sheet is random bytes (rejected whole, tied to the unit by its file name) and so
  no score sheet counts (未收到打分表).
- 范县人民政府: task 3 scored 待定 → score_not_number, row 8 (header on row 5, task 3 is the third task row).
- 濮阳市司法局: no score sheet (未收到打分表); its meeting ledger has six meetings of no recognised type on
  rows 2-7 (one summarised warning: 共6行, examples 2-6) and an unreadable date on row 8 (one error).
- 中共清丰县委员会: claims all 6 points of party task 1 with no hearing recorded: the records support at most
  4 (2 of its points depend on one hearing a half-year, −1 each missing) → evidence_shortfall on row 6.
- A meeting ledger written by 某某不存在局 (no such unit; the file name names none either): its issues have
  no unit and go in no notice.
No unit has filed any report, so each is also told of its reports past due.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from builders import city_units, write_corrupt, write_meetings, write_score_sheet, write_units
from conftest import run_fazhi, soffice
from docx import Document

from pipelines.lib import notices
from pipelines.lib.warehouse import today

FAZHI = Path(sys.executable).parent / "fazhi"
YEAR = 2024
OTHER_TYPE = [("濮阳市司法局", f"2024-0{m}-05", "调研", "基层走访") for m in range(1, 7)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("notices")
    raw = root / "raw"
    write_units(raw, city_units(["清丰县", "范县"], ["濮阳市司法局"]))
    write_score_sheet(raw, YEAR, "清丰县", "party")
    write_score_sheet(raw, YEAR, "清丰县", "government")
    write_corrupt(raw, YEAR, "中共范县委员会_打分表.xlsx")
    write_score_sheet(raw, YEAR, "范县", "government", {3: "待定"})
    write_meetings(
        raw,
        YEAR,
        "濮阳市司法局_2024年会议学法台账.csv",
        [*OTHER_TYPE, ("濮阳市司法局", "待补充", "集体学法", "行政处罚法")],
    )
    write_meetings(raw, YEAR, "台账.csv", [("某某不存在局", "2024-03-05", "集体学法", "宪法")])
    return run_fazhi(raw, root / "marts" / "fazhi.duckdb")


def _fazhi_has_notices() -> bool:
    help_text = subprocess.run([str(FAZHI), "--help"], capture_output=True, text=True).stdout
    return "notices" in help_text


def _notice_files(built, tmp_path) -> dict[str, bytes]:
    """The notices as the command writes them: through `fazhi notices` once it is wired into the CLI, else
    through the function it calls (the same code, the same files)."""
    if _fazhi_has_notices():
        done = subprocess.run(
            [
                str(FAZHI),
                "notices",
                "--year",
                str(YEAR),
                "--out",
                str(tmp_path),
                "--warehouse",
                str(built.path),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    else:
        assert notices.notices_command(str(built.path), YEAR, str(tmp_path), None) == 0
    return {p.name: p.read_bytes() for p in tmp_path.iterdir()}


def _read(docx: bytes) -> tuple[list[str], list[list[list[str]]]]:
    doc = Document(io.BytesIO(docx))
    return [p.text for p in doc.paragraphs], [[[c.text for c in r.cells] for r in t.rows] for t in doc.tables]


def _problems(tables: list[list[list[str]]]) -> list[dict[str, str]]:
    table = next(t for t in tables if t[0] == ["序号", "文件", "工作表", "行", "问题", "处理要求"])
    return [dict(zip(table[0], r, strict=True)) for r in table[1:]]


def _unit_notice(files: dict[str, bytes], unit: str) -> tuple[list[str], list[list[list[str]]]]:
    names = [n for n in files if n.endswith(f"_{unit}.docx")]
    assert len(names) == 1, (unit, sorted(files))
    return _read(files[names[0]])


def _deadline(built) -> str:
    d = built.one("select max(resubmit_by) from marts.feedback_items")[0]
    return f"{d.year}年{d.month}月{d.day}日"


def test_the_mart_summarises_many_rows_and_keeps_the_unit_it_cannot_resolve(built):
    justice = built.df(
        """select category, code, "row", is_summary, rows_affected, example_rows, message
           from marts.feedback_items f join marts.units u using (unit_id)
           where f.year = 2024 and u.unit_name = '濮阳市司法局' and f.file like '%会议学法台账%'
           order by category, "row" nulls first"""
    )
    assert list(justice["code"]) == ["bad_date", "meeting_type_other"]
    summary = justice.iloc[1]
    assert (
        summary["is_summary"]
        and summary["rows_affected"] == 6
        and list(summary["example_rows"]) == [2, 3, 4, 5, 6]
    )
    assert summary["message"].startswith("同类问题共6行（第2、3、4、5、6行等）。例：")
    assert justice.iloc[0]["row"] == 8 and not justice.iloc[0]["is_summary"]
    # the row-level detail stays in ingest_issues
    assert built.one(
        "select count(*) from marts.ingest_issues where code = 'meeting_type_other' and file like '%司法局%'"
    ) == (6,)
    lost = built.df("select unit_text, code, file from marts.feedback_items where unit_id is null")
    assert set(lost["unit_text"]) == {"某某不存在局"} and set(lost["file"]) == {"2024/meetings/台账.csv"}
    # the deadline: the computation date plus the rulebook's days (10 in the default rulebook)
    (deadline,) = built.one("select distinct resubmit_by from marts.feedback_items")
    assert deadline == today() + timedelta(days=10)


def test_each_notice_reads_back_unit_files_rows_messages_and_deadline(built, tmp_path):
    files = _notice_files(built, tmp_path)
    docx = {n for n in files if n.endswith(".docx")}
    # every unit has something to tell (each has reports past due); the unresolved ledger has no notice
    assert len(docx) == 5 and not any("某某" in n for n in files)
    deadline = _deadline(built)

    paragraphs, tables = _unit_notice(files, "中共范县委员会")
    assert paragraphs[0] == "关于报送材料问题的反馈通知" and paragraphs[1] == "中共范县委员会："
    assert (
        f"于{deadline}前" in paragraphs[2] and "所属县区：范县" in paragraphs and "年度：2024" in paragraphs
    )
    assert paragraphs[-2:] == [notices.OFFICE, f"{today().year}年{today().month}月{today().day}日"]
    received = next(t for t in tables if t[0][0] == "文件")
    assert received[1][:4] == ["2024/score_sheets/中共范县委员会_打分表.xlsx", "打分表", "—", "未采用"]
    problems = _problems(tables)
    assert problems[0]["文件"] == "2024/score_sheets/中共范县委员会_打分表.xlsx"
    assert problems[0]["问题"].startswith("【文件未采用】") and problems[0]["处理要求"].startswith(
        "整个文件未被采用"
    )
    assert problems[1]["问题"] == "【未报送】未收到2024年度打分表（县（区）党委主要负责人）。"
    overdue = [p["问题"] for p in problems if "已逾期" in p["问题"]]
    assert len(overdue) == 3  # a party committee files 述法, the self-inspection and the rectification report
    assert overdue[0].startswith(
        "【未报送】未见“年终述法（列入年度述职报告）”的报送记录（应报日期2025-01-31，"
    )

    _, tables = _unit_notice(files, "范县人民政府")
    (error,) = [p for p in _problems(tables) if p["问题"].startswith("【错误（未采用）】")]
    assert error["文件"] == "2024/score_sheets/范县_government_2024.xlsx"
    assert error["工作表"] == "打分表" and error["行"] == "8" and "待定" in error["问题"]

    paragraphs, tables = _unit_notice(files, "濮阳市司法局")
    problems = _problems(tables)
    summary = next(p for p in problems if p["问题"].startswith("【提示（已采用，请核对）】"))
    assert summary["文件"] == "2024/meetings/濮阳市司法局_2024年会议学法台账.csv" and summary["工作表"] == "—"
    assert summary["行"] == "第2、3、4、5、6行等，共6行"
    assert "调研" in summary["问题"] and "同类问题共6行" in summary["问题"]
    single = next(p for p in problems if p["问题"].startswith("【错误（未采用）】"))
    assert single["行"] == "8" and "待补充" in single["问题"]
    assert any(p["问题"] == "【未报送】未收到2024年度打分表（市直部门主要负责人）。" for p in problems)
    assert any(p.startswith("注：同一文件中同类问题较多的") for p in paragraphs)

    _, tables = _unit_notice(files, "中共清丰县委员会")
    shortfall = next(p for p in _problems(tables) if p["问题"].startswith("【自评与记录不符】"))
    assert (
        shortfall["行"] == "6"
        and "第1项" in shortfall["问题"]
        and "申报6分，记录最多支持4分" in shortfall["问题"]
    )


def test_the_zip_holds_one_notice_per_unit(built, tmp_path):
    files = _notice_files(built, tmp_path)
    (bundle,) = [n for n in files if n.endswith(".zip")]
    with zipfile.ZipFile(io.BytesIO(files[bundle])) as archive:
        names = archive.namelist()
        units = [_read(archive.read(n))[0][1].removesuffix("：") for n in names]
    assert sorted(units) == sorted(
        ["中共清丰县委员会", "清丰县人民政府", "中共范县委员会", "范县人民政府", "濮阳市司法局"]
    )
    assert sorted(names) == sorted(n for n in files if n.endswith(".docx"))
    assert all(re.fullmatch(r"2024年度反馈通知_[^/\\:*?\"<>|]+\.docx", n) for n in names)


def test_libreoffice_renders_every_notice(built, tmp_path):
    exe = soffice()
    source = tmp_path / "docx"
    source.mkdir()
    files = _notice_files(built, source)
    outdir = tmp_path / "pdf"
    docs = sorted(source.glob("*.docx"))
    done = subprocess.run(
        [
            exe,
            f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(outdir),
            *map(str, docs),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    pdfs = sorted(outdir.glob("*.pdf")) if outdir.exists() else []
    if len(pdfs) != len(docs):
        pytest.fail(
            "LibreOffice did not render the notices: is LibreOffice Writer installed? run the test set-up "
            f"(apt-get install -y libreoffice-writer-nogui).\n{done.stdout}\n{done.stderr}"
        )
    assert len(files) == len(docs) + 1
    for pdf in pdfs:
        data = pdf.read_bytes()
        assert data.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 1, pdf.name


def test_notices_for_one_unit_and_plain_refusals(built, tmp_path, capsys):
    assert notices.notices_command(str(built.path), YEAR, str(tmp_path / "one"), "范县政府") == 0
    written = list((tmp_path / "one").iterdir())
    assert [p.name for p in written] == ["2024年度反馈通知_范县_范县人民政府.docx"]
    out = capsys.readouterr()
    assert "1 份反馈通知" in out.out
    assert notices.notices_command(str(built.path), 2019, str(tmp_path / "x"), None) == 2
    assert notices.notices_command(str(built.path), YEAR, str(tmp_path / "x"), "没有这个单位") == 2
    assert notices.notices_command(str(tmp_path / "none.duckdb"), YEAR, str(tmp_path / "x"), None) == 2
    err = capsys.readouterr().err
    assert "没有 2019 年度" in err and "没有“没有这个单位”" in err and "请先运行 fazhi run" in err
    assert "Traceback" not in err and not (tmp_path / "x").exists()
    # all units: the unresolved ledger's problems are named, not dropped
    assert notices.notices_command(str(built.path), YEAR, str(tmp_path / "all"), None) == 0
    assert "另有 2 项问题" in capsys.readouterr().out  # the ledger rejected, and its row


def test_a_region_scoped_reader_builds_notices_for_its_own_units_only(built):
    from access.scope import scoped_copy

    con = scoped_copy(built.path, "范县")
    try:

        def read(sql: str, **params: object) -> object:
            used = set(re.findall(r"\$(\w+)", sql))
            return con.execute(sql, {k: v for k, v in params.items() if k in used}).df()

        found, unresolved = notices.load(read, YEAR)
    finally:
        con.close()
    assert sorted(n.unit_name for n in found) == ["中共范县委员会", "范县人民政府"]
    assert unresolved.empty
    with zipfile.ZipFile(io.BytesIO(notices.notices_zip(found, today()))) as archive:
        assert len(archive.namelist()) == 2 and all("_范县_" in n for n in archive.namelist())


def test_text_from_the_data_stays_text(built):
    with duckdb.connect(str(built.path), read_only=True) as con:
        found, _ = notices.load(
            lambda sql, **params: con.execute(sql, {k: v for k, v in params.items() if "$" + k in sql}).df(),
            YEAR,
        )
    notice = found[0]
    notice.items.loc[0, "message"] = '=HYPERLINK("http://x")<w:p>\x07 **粗体**'
    _, tables = _read(notices.notice_docx(notice, today()))
    # as written, less the one character XML cannot hold: no formula, no markup, no lost document
    assert _problems(tables)[0]["问题"].endswith('=HYPERLINK("http://x")<w:p> **粗体**')
