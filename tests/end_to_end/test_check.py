"""`fazhi check FILE…` and pipelines/lib/check.py on small hand-made files, against a real published
warehouse: what a file will count as (kind, unit, role, year, rows), the closest names for an unknown unit,
hostile files refused with the ingestion's own code, claimed points the records contradict; and storing
under data/raw never writes outside it and never overwrites."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import unicodedata
from pathlib import Path

import duckdb
import pytest
from builders import (
    RULES,
    write_filings,
    write_meetings,
    write_normative,
    write_one_hearing_case,
    write_oversized_workbook,
    write_score_sheet,
)
from conftest import run_fazhi
from test_excel import _encrypted_xlsx

from pipelines.lib import check, ingest, parsing

FAZHI = Path(sys.executable).parent / "fazhi"
EAST, WEST = "东城区", "西城区"


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """Two regions with their sheets; 东城区 supported up to 5 points on party task 1 (builders)."""
    root = tmp_path_factory.mktemp("check")
    raw = write_one_hearing_case(root / "raw", EAST, WEST)
    return run_fazhi(raw, root / "marts" / "fazhi.duckdb")


def _fazhi_check(published, *args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(FAZHI),
            "check",
            "--warehouse",
            str(published.path),
            "--raw",
            str(published.raw),
            *map(str, args),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_good_sheet_reads_whole(published, tmp_path):
    sheet = write_score_sheet(tmp_path, 2024, WEST, "government", {3: 1}, name="西城区政府打分表.xlsx")
    done = _fazhi_check(published, sheet)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "类别：打分表（自动识别）" in out
    assert "年度：2024（文件内写明）" in out
    assert f"单位：{WEST} → {WEST}人民政府（{WEST}，政府）" in out
    assert "角色：县（区）政府主要负责人" in out
    assert "行：读入 30，可用 30，拒收 0" in out
    lowered = 100 - (RULES.templates["government"].tasks[2].points - 1)  # task 3 lowered to 1 point
    assert f"表内合计 自评{lowered:g}分；按规则计分 {lowered:g} 分（满分 100）" in out
    assert "错误" not in out


def test_an_unknown_unit_is_named_with_the_closest_registered_names(published, tmp_path):
    sheet = write_score_sheet(tmp_path, 2024, "东成区", "party", name="东成区委打分表.xlsx")
    ledger = write_meetings(
        tmp_path,
        2024,
        "台账.csv",
        [
            (f"{EAST}委", "2024-04-01", "集体学法", "学习宪法"),
            ("东成区委", "2024-05-06", "集体学法", "民法典"),
        ],
    )
    done = _fazhi_check(published, sheet, ledger)
    assert done.returncode == 1, done.stdout + done.stderr  # rows that will not count
    sheet_part, ledger_part = done.stdout.split(f"文件：{ledger}")
    assert (
        "单位：东成区 → 无法确认：单位名称“东成区”不在单位名册中。最接近的登记名称：中共东城区委员会"
        in sheet_part
    )
    assert "行：读入 27，可用 0，拒收 27" in sheet_part
    assert "类别：会议台账（自动识别）" in ledger_part
    assert f"单位：{EAST}委 → 中共{EAST}委员会（{EAST}，党委，1行）" in ledger_part
    assert (
        "单位：东成区委 → 无法确认：单位名称“东成区委”不在单位名册中。最接近的登记名称：中共东城区委员会"
        in ledger_part
    )
    assert "行：读入 2，可用 1，拒收 1" in ledger_part
    assert "[错误] unknown_unit 第3行：" in ledger_part


def test_claimed_points_the_records_contradict(published, tmp_path):
    sheet = write_score_sheet(tmp_path, 2024, EAST, "party", name="东城区委2024.xlsx")
    done = _fazhi_check(published, sheet)
    assert done.returncode == 0, done.stdout + done.stderr  # a contradiction is a finding, not a rejection
    assert "与记录不符：自评第1项6分，记录最多支持5分：2024H2实有0次" in done.stdout
    # the same sheet replaces the one already received for that unit, role and year
    assert f"将替代此前报送：2024/score_sheets/{EAST}_party_2024.xlsx" in done.stdout
    # a sheet claiming only what the records support has no such line for that task
    modest = write_score_sheet(tmp_path, 2024, EAST, "party", {1: 5}, name="东城区委2024_修改.xlsx")
    assert "自评第1项" not in _fazhi_check(published, modest).stdout


def test_without_the_evidence_mart_the_comparison_is_said_to_be_unavailable(published, tmp_path):
    copy = tmp_path / "old.duckdb"
    shutil.copyfile(published.path, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("drop table marts.task_evidence")
    sheet = write_score_sheet(tmp_path, 2024, EAST, "party", name="s.xlsx")
    reference = check.Reference.load(copy)
    result = check.check_file(sheet, reference)
    assert result.contradictions == [] and "还没有记录比对表" in (result.evidence_note or "")
    assert result.rows_usable == 27


def test_hostile_and_oversized_files_are_refused_with_the_ingestions_code(published, tmp_path):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    encrypted = _encrypted_xlsx(incoming / "加密.xlsx")
    oversized = write_oversized_workbook(incoming, "超大.xlsx")
    garbage = incoming / "乱码.xlsx"
    garbage.write_bytes(b"\x00garbage" * 100)
    done = _fazhi_check(published, encrypted, oversized, garbage)
    assert done.returncode == 1
    shown = {
        block.splitlines()[0]: block
        for block in ("\n" + done.stdout).split("\n文件：")[1:]  # one block a file
    }
    # the same files where the pipeline reads them: the codes it files are the check's
    raw = tmp_path / "raw"
    shutil.copytree(published.raw, raw)
    for f in (encrypted, oversized, garbage):
        shutil.copy(f, raw / "2024" / "score_sheets" / f.name)
    ran = run_fazhi(raw, tmp_path / "marts" / "fazhi.duckdb")
    for f, expected in ((encrypted, "encrypted"), (oversized, "file_too_large"), (garbage, "not_a_workbook")):
        (code, message), *_ = ran.rows(
            "select code, message from marts.ingest_issues where file = ?", [f"2024/score_sheets/{f.name}"]
        )
        assert code == expected
        assert f"拒收（{code}）：{message}" in shown[str(f)], shown[str(f)]


def test_every_ledger_kind_is_recognised_and_a_chosen_kind_is_read_as_such(published, tmp_path):
    reference = check.Reference.load(published.path)
    meetings = write_meetings(tmp_path, 2023, "m.csv", [(f"{EAST}委", "2023-06-01", "集体学法", "宪法")])
    filings = write_filings(tmp_path, 2024, [(f"{EAST}委", "年终述法", "2024", "2025-01-10")])
    normative = write_normative(
        tmp_path, 2024, [(f"{EAST}政府", "关于X的通知", "东政〔2024〕1号", "2024-03-01", "2024-03-20", "是")]
    )
    seen = {p: check.check_file(p, reference) for p in (meetings, filings, normative)}
    assert [(c.kind, c.year, c.rows_read, c.rows_usable) for c in seen.values()] == [
        ("meetings", 2023, 1, 1),  # the year of its dates
        ("filings", 2024, 1, 1),  # its 年度 column, not the filing date in 2025
        ("normative_docs", 2024, 1, 1),
    ]
    forced = check.check_file(meetings, reference, kind="score_sheet")
    assert forced.refused is not None and forced.refused.code == "not_a_workbook"
    given = check.check_file(meetings, reference, year=2024)
    assert (given.year, given.year_source) == (2024, "given")
    # a kind the ingestion reads is offered and detected without naming it here: the rectification
    # ledger, whose rows carry no year of their own (the folder's counts), so the year must be chosen
    rect = tmp_path / "整改台账.csv"
    rect.write_text(
        "单位,问题来源,问题描述,整改措施,责任人,整改时限,整改状态,完成日期,备注\n"
        f"{EAST}委,自查,学法次数不足,补学,张三,2024-09-05,已完成,2024-08-30,\n",
        encoding="utf-8-sig",
    )
    found = check.check_file(rect, reference)
    assert set(check.upload_kinds()) == set(parsing.PARSERS) - {"units"}
    assert (found.kind, found.year, found.rows_usable) == ("rectifications", None, 1)
    assert [u.unit.name for u in found.units if u.unit] == [f"中共{EAST}委员会"]
    assert "年度" in (found.store_problem() or "")
    assert check.check_file(rect, reference, year=2024).store_problem() is None


def test_check_store_puts_a_readable_file_under_data_raw_and_audits_it(published, tmp_path, access_dir):
    raw = tmp_path / "raw"
    shutil.copytree(published.raw, raw)
    sheet = write_score_sheet(tmp_path / "mail", 2024, WEST, "party", name="西城区委.xlsx")
    done = subprocess.run(
        [str(FAZHI), "check", "--store", "--warehouse", str(published.path), "--raw", str(raw), str(sheet)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    stored = [p for p in (raw / "2024" / "score_sheets").iterdir() if p.name.startswith("西城区委__")]
    assert len(stored) == 1 and stored[0].read_bytes() == sheet.read_bytes()
    assert f"已存入：{stored[0]}" in done.stdout
    entry = json.loads((access_dir / "audit.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert entry["event"] == "upload" and entry["file"] == f"2024/score_sheets/{stored[0].name}"
    assert (entry["original_name"], entry["kind"], entry["year"]) == ("西城区委.xlsx", "score_sheet", 2024)
    assert entry["unit"] == f"中共{WEST}委员会"


def test_check_exit_codes_for_wrong_arguments(published, tmp_path):
    assert _fazhi_check(published, tmp_path / "none.xlsx").returncode == 2
    sheet = write_score_sheet(tmp_path, 2024, EAST, "party", name="s.xlsx")
    assert _fazhi_check(published, "--kind", "nonsense", sheet).returncode == 2
    nowhere = subprocess.run(
        [str(FAZHI), "check", "--warehouse", str(tmp_path / "absent.duckdb"), str(sheet)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert nowhere.returncode == 2 and "还没有已发布的数据" in nowhere.stderr


# -- storing: never outside data/raw, never over an earlier file -------------------------------------

HOSTILE_NAMES = [
    "../../x.xlsx",
    "../../../etc/cron.d/x.csv",
    "/etc/passwd",
    "/tmp/absolute.xlsx",
    "C:\\Windows\\system32\\x.xlsx",
    "..\\..\\x.xlsx",
    "a\x00b.xlsx",
    "evil\x00/../../x.xlsx",
    "sub/dir/x.xlsx",
    "..",
    ".",
    "",
    "   ",
    ".hidden.xlsx",
    "~$lock.xlsx",
    "CON",
    "con.xlsx",
    "NUL.csv",
    "lpt1.xls",
    "COM9.tar.xlsx",
    'a:b*?<>|".csv',
    "name\nwith\rcontrol\x1f.xlsx",
    "x" * 1000 + ".xlsx",
    "单位" * 300 + ".csv",
    "trailing. . .",
    "x.xlsx" + "\u202e" + "gpj.exe",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_file_name_never_writes_outside_data_raw(tmp_path, name):
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    before = set(tmp_path.rglob("*"))
    stored = check.store(b"content", name, raw, 2024, "score_sheet")
    folder = (raw / "2024" / "score_sheets").resolve()
    assert stored.path.resolve().parent == folder
    assert stored.path.read_bytes() == b"content"
    assert stored.relative == f"2024/score_sheets/{stored.path.name}"
    base = stored.path.name
    assert not base.startswith((".", "~$")) and "/" not in base and "\\" not in base
    assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in base)
    assert len(base.encode("utf-8")) <= 255
    assert base.split(".")[0].split("__")[0].lower() not in ("con", "nul", "lpt1", "com9", "prn", "aux")
    # nothing else appeared anywhere: no stray temporary file, nothing outside the kind folder
    assert set(tmp_path.rglob("*")) - before == {raw / "2024", folder, stored.path}
    # the ingestion sees it as a submission of that year and kind (not hidden, not a lock file)
    assert [(f["path"], f["kind"], f["folder_year"]) for f in ingest.discover(raw).to_pylist()] == [
        (stored.relative, "score_sheet", 2024)
    ]


def test_the_original_name_is_kept(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    stored = check.store(b"x", "清丰县政府 2024年打分表（更正）.xlsx", raw, 2024, "score_sheet")
    assert stored.path.name.startswith("清丰县政府 2024年打分表（更正）__") and stored.path.suffix == ".xlsx"


def test_two_uploads_of_the_same_name_never_overwrite(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    first = check.store(b"first", "打分表.xlsx", raw, 2024, "score_sheet")
    second = check.store(b"second", "打分表.xlsx", raw, 2024, "score_sheet")
    assert first.path != second.path
    assert (first.path.read_bytes(), second.path.read_bytes()) == (b"first", b"second")
    # many at once, within the same second: every one keeps its own file
    results: list[check.Stored] = []
    threads = [
        threading.Thread(
            target=lambda i=i: results.append(
                check.store(f"{i}".encode(), "打分表.xlsx", raw, 2024, "score_sheet")
            )
        )
        for i in range(20)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len({r.path for r in results}) == 20
    assert sorted(int(r.path.read_bytes()) for r in results) == list(range(20))
    assert len(list((raw / "2024" / "score_sheets").iterdir())) == 22  # no temporary file left


def test_a_year_folder_linked_elsewhere_is_refused(tmp_path):
    raw, elsewhere = tmp_path / "raw", tmp_path / "elsewhere"
    raw.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, raw / "2024")
    with pytest.raises(ValueError):
        check.store(b"x", "a.xlsx", raw, 2024, "score_sheet")
    assert not any(elsewhere.iterdir())
    for bad_year in (0, 1899, 2100, -1):
        with pytest.raises(ValueError):
            check.store(b"x", "a.xlsx", raw, bad_year, "score_sheet")
    with pytest.raises(ValueError):
        check.store(b"x", "a.xlsx", raw, 2024, "../../etc")
