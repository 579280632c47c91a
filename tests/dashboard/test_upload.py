"""上传 (upload with an instant check) under Streamlit's AppTest and in a real browser: a real warehouse of two
regions, files built by the tests, the real background run after a confirmed upload.

东城区's Party committee heard one rule-of-law report, in the first half of 2024 only, so a party sheet
claiming all 6 points of task 1 claims one more than the records support."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
import test_dashboard_e2e as e2e
from builders import (
    losing,
    write_one_hearing_case,
    write_score_sheet,
)
from conftest import run_fazhi, serving
from sessions import LIAISON_REGION, PASSWORD, signed_in, user_of
from streamlit.testing.v1 import AppTest
from test_dashboard_app import APP

from pipelines.lib import check

EAST, WEST = LIAISON_REGION, "西城区"
FAZHI = Path(sys.executable).parent / "fazhi"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE = "app_pages/upload.py"
LIVE_WITHIN = 300  # seconds for the background run to publish (a small tree takes ~30 s alone)

browser_page = e2e.browser_page


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("upload_base")
    raw = root / "raw"
    write_one_hearing_case(raw, EAST, WEST)
    run_fazhi(raw, root / "marts" / "fazhi.duckdb")
    return root


@pytest.fixture
def tree(base, tmp_path, monkeypatch):
    """A copy of the published tree for one test (a confirmed upload changes data/raw and the marts)."""
    root = tmp_path / "tree"
    shutil.copytree(base, root, symlinks=True)
    monkeypatch.setenv("FAZHI_RAW_DIR", str(root / "raw"))
    monkeypatch.setenv("FAZHI_WAREHOUSE", str(root / "marts" / "fazhi.duckdb"))
    return root


def _sheet(
    tmp_path: Path, region: str, role: str, scores: dict | None = None, name: str = "打分表.xlsx"
) -> Path:
    return write_score_sheet(tmp_path / "incoming", 2024, region, role, scores, name=name)


def _upload_page(user: str, *files: Path) -> AppTest:
    at = signed_in(AppTest.from_file(APP, default_timeout=120), user).run()
    at.switch_page(PAGE).run()
    assert [t.value for t in at.title] == ["上传"]
    at.file_uploader[0].set_value([(f.name, f.read_bytes(), XLSX) for f in files]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _store_buttons(at: AppTest) -> list[str]:
    return [b.key for b in at.button if b.key and b.key.startswith("store_")]


def _audit(access_dir: Path) -> list[dict]:
    path = access_dir / "audit.jsonl"
    return (
        [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
    )


def _wait_live(warehouse: Path, files: list[str], since) -> None:
    deadline = time.monotonic() + LIVE_WITHIN
    while check.live_since(warehouse, files, since) is None:
        assert time.monotonic() < deadline, f"{files} not published within {LIVE_WITHIN} s"
        time.sleep(1)


def test_a_clerk_checks_stores_and_sees_the_new_figures_live(tree, tmp_path, access_dir):
    sheet = _sheet(tmp_path, EAST, "government", losing("government", 10), name="东城区政府 更正版.xlsx")
    at = _upload_page(user_of("clerk"), sheet)
    facts = "\n".join(str(e.value) for e in at.text)
    assert "类型：打分表（自动识别）" in facts
    assert "年度：2024（文件内写明）" in facts
    assert f"单位：{EAST} → {EAST}人民政府（{EAST}）" in facts
    assert "行数：读入 30 行，可用 30 行，拒收 0 行" in facts
    assert "表内合计 自评90；按规则计分 90 分（满分 100）" in facts
    assert f"将替代：2024/score_sheets/{EAST}_government_2024.xlsx" in facts
    assert any("记录最多支持" in w.value for w in at.warning)  # the government's meetings are not on record

    buttons = _store_buttons(at)
    assert buttons == [f"store_{hashlib.sha256(sheet.read_bytes()).hexdigest()}"]
    at.button(key=buttons[0]).click().run()
    assert not at.exception, [e.value for e in at.exception]
    stored = list((tree / "raw" / "2024" / "score_sheets").glob("东城区政府 更正版__*.xlsx"))
    assert len(stored) == 1 and stored[0].read_bytes() == sheet.read_bytes()
    relative = f"2024/score_sheets/{stored[0].name}"
    assert any(relative in s.value.replace("\\", "") for s in at.success)  # 已存入 … (escaped as text)
    assert "已提交，正在重新计算……" in [i.value for i in at.info]
    assert not _store_buttons(at)  # stored once: no second button for the same content
    entry = [e for e in _audit(access_dir) if e["event"] == "upload"][-1]
    assert (entry["user"], entry["role"], entry["file"]) == (user_of("clerk"), "clerk", relative)
    assert (entry["original_name"], entry["kind"], entry["year"]) == (sheet.name, "score_sheet", 2024)
    assert entry["unit"] == f"{EAST}人民政府"

    pending = at.session_state["upload_pending"]
    _wait_live(tree / "marts" / "fazhi.duckdb", [relative], pending["since"])
    assert pending["process"].wait(timeout=120) == 0
    at.run()
    assert any("新数据已生效（发布于" in s.value for s in at.success), [s.value for s in at.success]
    from conftest import Warehouse

    published = Warehouse(tree / "raw", tree / "marts" / "fazhi.duckdb")
    assert published.one(
        "select score from marts.unit_scores where year = 2024 and unit_name = ?",
        [f"{EAST}人民政府"],
    ) == (90.0,)
    assert published.one("select status from marts.submissions where file = ?", [relative]) == ("loaded",)


def test_a_liaison_checks_any_file_but_stores_only_its_own_regions(tree, tmp_path):
    own = _sheet(tmp_path, EAST, "party", name="own.xlsx")
    other = _sheet(tmp_path, WEST, "party", name="other.xlsx")
    unknown = _sheet(tmp_path, "西成区", "party", name="unknown.xlsx")
    at = _upload_page(user_of("liaison"), own, other, unknown)
    assert _store_buttons(at) == [f"store_{hashlib.sha256(own.read_bytes()).hexdigest()}"]
    errors = [e.value for e in at.error]
    assert any(f"只能存入本县区（{EAST}）" in e and f"中共{WEST}委员会（{WEST}）" in e for e in errors), (
        errors
    )
    facts = "\n".join(str(e.value) for e in at.text)
    # the closest names a liaison is offered are its own region's only
    unknown_line = next(line for line in facts.splitlines() if line.startswith("单位：西成区"))
    assert "不在单位名册中" in unknown_line and WEST not in unknown_line
    # its own unit's claims are compared with the records; the other region's records stay out of sight
    warnings = [w.value for w in at.warning]
    assert any("自评第1项6分，记录最多支持5分：2024H2实有0次" in w for w in warnings), warnings
    assert any("非本县区单位" in c.value for c in at.caption)
    assert f"{WEST}_party_2024" not in facts  # nor which file it sent before


def test_a_refused_file_is_said_so_and_cannot_be_stored(tree, tmp_path):
    broken = tmp_path / "坏文件.xlsx"
    broken.write_bytes(b"\x00garbage" * 50)
    at = _upload_page(user_of("clerk"), broken)
    assert any(e.value.startswith("拒收（not\\_a\\_workbook）") for e in at.error), [
        e.value for e in at.error
    ]
    assert not _store_buttons(at)


def test_a_leader_has_no_upload_page(tree):
    at = signed_in(AppTest.from_file(APP, default_timeout=60), user_of("leader")).run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGE)


# -- in a real browser --------------------------------------------------------------------------------


@pytest.mark.slow  # the same flow runs in AppTest in the default suite
def test_upload_in_a_browser(browser_page, base, tmp_path, access_dir):
    from playwright.sync_api import expect

    root = tmp_path / "served"
    shutil.copytree(base, root, symlinks=True)
    sheet = _sheet(tmp_path, WEST, "party", losing("party", 4), name="西城区委 打分表.xlsx")
    with serving(
        [
            str(FAZHI),
            "dashboard",
            "--warehouse",
            str(root / "marts" / "fazhi.duckdb"),
            "--raw",
            str(root / "raw"),
        ],
        "/_stcore/health",
        tmp_path / "streamlit.log",
        within=60,
        stop_within=10,
        env={**os.environ, "FAZHI_ACCESS_DIR": str(access_dir)},
    ) as url:
        page = browser_page
        e2e.sign_in(page, url + "/", user_of("clerk"), PASSWORD)
        page.get_by_test_id("stSidebarNav").get_by_role("link").filter(has_text="上传").click()
        page.wait_for_url(url + "/upload")
        expect(page.locator("h1").filter(has_text="上传").first).to_be_visible()
        page.get_by_test_id("stFileUploader").locator('input[type="file"]').set_input_files(str(sheet))
        preview = page.get_by_test_id("stText")
        expect(preview.filter(has_text="打分表（自动识别）")).to_be_visible()
        expect(preview.filter(has_text=f"{WEST} → 中共{WEST}委员会（{WEST}）")).to_be_visible()
        expect(preview.filter(has_text="按规则计分 96 分（满分 100）")).to_be_visible()
        page.get_by_role("button", name="确认存入并重新计算").click()
        expect(page.get_by_text("已存入 2024/score_sheets/西城区委 打分表__")).to_be_visible()
        expect(page.get_by_text("新数据已生效（发布于")).to_be_visible(timeout=LIVE_WITHIN * 1000)
        e2e.ARTIFACTS.mkdir(parents=True, exist_ok=True)
        e2e._screenshot(page, "upload")
        assert not page.script_errors, page.script_errors
    stored = list((root / "raw" / "2024" / "score_sheets").glob("西城区委 打分表__*.xlsx"))
    assert len(stored) == 1 and stored[0].read_bytes() == sheet.read_bytes()
