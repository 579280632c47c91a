"""The dashboard end to end: a generated city, the real pipeline, `streamlit run`, a headless Chromium.

Every page is opened from the sidebar, must render its title without an exception, and is kept as a
full-page screenshot under test-artifacts/dashboard/. On 排名 the circular is downloaded and read back,
and 查看单位详情 → must land on the unit page.

Chromium is Debian's (`apt-get install chromium fonts-wqy-microhei`; the fonts draw the Chinese text).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import serving
from openpyxl import load_workbook
from sessions import PASSWORD, user_of

ROOT = Path(__file__).resolve().parents[2]
FAZHI = Path(sys.executable).parent / "fazhi"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
YEAR = 2024

# (file stem, URL path, title shown in the sidebar link and as the page's h1)
PAGES = [
    ("overview", "/", "总览"),
    ("ranking", "/ranking", "排名"),
    ("weak_spots", "/weak_spots", "短板"),
    ("meetings", "/meetings", "会议学习"),
    ("filings", "/filings", "报送"),
    ("unit", "/unit", "单位详情"),
    ("quality", "/quality", "数据质量"),
]
TIMEOUT_MS = 30_000
DRAWN = """() => !document.querySelector('[data-testid="stSkeleton"]')
    && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every(c => c.querySelector('.main-svg'))"""


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    raw, path = root / "raw", root / "fazhi.duckdb"
    for args in (
        ["generate", "--out", str(raw), "--scale", "city", "--years", f"{YEAR - 1}-{YEAR}", "--seed", "3"],
        ["run", "--raw", str(raw), "--warehouse", str(path)],
    ):
        done = subprocess.run(
            [str(FAZHI), *args], cwd=ROOT, check=False, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"fazhi {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    assert path.exists(), "the pipeline ran but published no warehouse"
    return path


@pytest.fixture(scope="module")
def app_url(warehouse, tmp_path_factory, access_dir):
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    # the command the office runs
    with serving(
        [str(FAZHI), "dashboard", "--warehouse", str(warehouse)],
        "/_stcore/health",
        log,
        within=60,
        cwd=ROOT,
        stop_within=10,
        env={**os.environ, "FAZHI_ACCESS_DIR": str(access_dir)},
    ) as url:
        yield url


@pytest.fixture(scope="module")
def browser_page():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install it with "
            "`apt-get install -y chromium fonts-wqy-microhei` (the test set-up does this)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing from .venv: install it from requirements.lock")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(
                accept_downloads=True, viewport={"width": 1400, "height": 900}, locale="zh-CN"
            )
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            page.script_errors = []  # uncaught errors in the page's JavaScript
            page.dialogs = []  # alert/confirm/prompt: nothing on these pages may open one
            page.on("pageerror", lambda error: page.script_errors.append(str(error)))

            def on_dialog(dialog):
                page.dialogs.append(f"{dialog.type}: {dialog.message}")
                dialog.dismiss()

            page.on("dialog", on_dialog)
            yield page
        finally:
            browser.close()


def sign_in(page, url: str, user: str = user_of("analyst"), password: str = PASSWORD) -> None:
    """Open `url` and sign in through the form, as a person would (a new page load is a new session)."""
    from playwright.sync_api import expect

    page.goto(url)
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()


def expect_signed_out(page) -> None:
    """The sign-in form has replaced the signed-in page (whose 退出登录 may linger while it does)."""
    from playwright.sync_api import expect

    expect(page.get_by_role("button", name="退出登录")).to_have_count(0)
    expect(page.get_by_role("button", name="登录", exact=True)).to_be_visible()


def _settled(page, title: str) -> None:
    """Wait for the page's h1 and for the script run to end; no exception may be on the page."""
    from playwright.sync_api import expect

    expect(page.locator("h1").filter(has_text=title).first).to_be_visible()
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    page.wait_for_function(DRAWN)  # charts load lazily: wait until every placeholder is a drawn chart
    errors = page.get_by_test_id("stException")
    assert errors.count() == 0, f"{title}: the page shows an exception:\n" + "\n---\n".join(
        errors.all_inner_texts()
    )


def _screenshot(page, name: str, folder: Path = ARTIFACTS) -> None:
    """Full page: Streamlit scrolls inside its main block, so grow the viewport to the content first."""
    height = page.evaluate("""() => Math.max(document.documentElement.scrollHeight,
        ...[...document.querySelectorAll('[data-testid="stMain"], [data-testid="stSidebarContent"]')]
            .map(e => e.scrollHeight))""")
    viewport = page.viewport_size
    page.set_viewport_size({"width": viewport["width"], "height": max(viewport["height"], int(height))})
    try:
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    finally:
        page.set_viewport_size(viewport)


def _open_from_sidebar(page, base: str, path: str, title: str) -> None:
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_role("link").filter(has_text=title).click()
    page.wait_for_url(base + path)
    _settled(page, title)


def _ranking_checks(page, base: str) -> None:
    from playwright.sync_api import expect

    with page.expect_download() as info:
        page.get_by_role("button", name="下载排名通报（Excel）").click()
    download = info.value
    saved = ARTIFACTS / (download.suggested_filename or f"{YEAR}_ranking_circular.xlsx")
    download.save_as(saved)
    book = load_workbook(saved, read_only=True)
    try:
        first = str(book.worksheets[0]["A1"].value or "")
    finally:
        book.close()
    assert "排名通报" in first and str(YEAR) in first, f"unexpected circular heading: {first!r}"

    choice = page.get_by_role("combobox", name="选择单位")
    expect(choice).to_have_count(1)
    region, _, role = choice.input_value().partition(" · ")
    assert region and role, f"the 选择单位 box shows no unit: {choice.input_value()!r}"
    page.get_by_role("button", name="查看单位详情 →").click()
    page.wait_for_url(f"{base}/unit")
    _settled(page, "单位详情")
    assert page.url.endswith("/unit"), page.url
    shown = page.get_by_role("combobox", name="选择单位")
    expect(shown).to_have_value(re.compile(f"{re.escape(role)}.*{re.escape(region)}"))
    _screenshot(page, "ranking_to_unit")


def test_every_page_in_a_browser(browser_page, app_url):  # browser first: no Chromium fails at once
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser_page
    sign_in(page, app_url + "/")
    _settled(page, "总览")
    _screenshot(page, "overview")
    for name, path, title in PAGES[1:]:
        _open_from_sidebar(page, app_url, path, title)
        _screenshot(page, name)
        if name == "ranking":
            _ranking_checks(page, app_url)
    assert not page.script_errors, f"errors in the page's JavaScript: {page.script_errors}"
    assert not page.dialogs, page.dialogs


def test_downloads_clicked_in_quick_succession_all_arrive(browser_page, app_url, access_dir):
    """A second click while the first download is on its way must not be lost (it was, when a click reran
    the page and the rerun replaced the file the other click was fetching)."""
    page = browser_page
    sign_in(page, app_url + "/ranking")
    _settled(page, "排名")
    arrived = []

    def arrive(download):
        arrived.append(download)

    page.on("download", arrive)
    csv_button = page.get_by_role("button", name="下载 CSV").first
    xlsx_button = page.get_by_role("button", name="下载 Excel").first
    circular = page.get_by_role("button", name="下载排名通报（Excel）")
    rounds = [
        (csv_button, csv_button, xlsx_button),
        (circular, csv_button, xlsx_button),
        (xlsx_button, csv_button),
    ]
    clicks = 0
    for buttons in rounds:
        for button in buttons:
            # force: a person's next click does not wait for the page to settle
            button.click(force=True)
            clicks += 1
            page.wait_for_timeout(150)
    for _ in range(100):
        if len(arrived) >= clicks:
            break
        page.wait_for_timeout(100)
    page.remove_listener("download", arrive)
    names = sorted(d.suggested_filename for d in arrived)
    assert names == sorted(
        [f"region_ranking_{YEAR}.csv"] * 4
        + [f"region_ranking_{YEAR}.xlsx"] * 3
        + [f"{YEAR}_ranking_circular.xlsx"]
    ), names
    for download in arrived:
        assert download.failure() is None, download.failure()
        body = Path(download.path()).read_bytes()
        if download.suggested_filename.endswith(".csv"):
            assert body.decode("utf-8-sig").startswith("名次,区县"), body[:80]
        else:
            load_workbook(io.BytesIO(body), read_only=True).close()
    # every download is in the audit trail, with who and what
    exports = [
        e
        for e in map(json.loads, (access_dir / "audit.jsonl").read_text().splitlines())
        if e["event"] == "export" and e["user"] == user_of("analyst")
    ]
    assert len(exports) >= clicks
    assert {e["what"] for e in exports} >= {f"region_ranking_{YEAR}", "ranking_circular"}


def _download(page, button) -> bytes:
    with page.expect_download() as info:
        button.click()
    assert info.value.failure() is None, info.value.failure()
    return Path(info.value.path()).read_bytes()


def test_table_downloads_keep_numbers_as_numbers(browser_page, app_url, warehouse):
    """Scores, changes and ranks reach CSV and Excel as numbers (never as quoted text like '+2.5), one decimal
    and a sign kept as an Excel number format; missing values are empty cells."""
    page = browser_page
    sign_in(page, app_url + "/ranking")
    _settled(page, "排名")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        expected = con.execute(
            """select region, rank, score, party_score, government_score, rank_change, score_change
                                  from marts.region_rankings where year = ? order by rank nulls last, region""",
            [YEAR],
        ).df()
    numbers = {
        "名次": "rank",
        "综合得分": "score",
        "党委得分": "party_score",
        "政府得分": "government_score",
        "名次变化": "rank_change",
        "得分变化": "score_change",
    }
    assert expected["score_change"].lt(0).any() and expected["rank_change"].gt(0).any()  # signs to keep

    rows = list(
        csv.reader(
            io.StringIO(
                _download(page, page.get_by_role("button", name="下载 CSV").first).decode("utf-8-sig")
            )
        )
    )
    column = {name: i for i, name in enumerate(rows[0])}
    assert [r[column["区县"]] for r in rows[1:]] == list(expected["region"])
    for row, want in zip(rows[1:], expected.to_dict("records"), strict=False):
        for label, field in numbers.items():
            cell = row[column[label]]
            if pd.isna(want[field]):
                assert cell == "", (label, cell)
            else:
                assert float(cell) == pytest.approx(want[field]), (label, cell, want[field])

    book = load_workbook(io.BytesIO(_download(page, page.get_by_role("button", name="下载 Excel").first)))
    sheet = book.worksheets[0]
    header = {cell.value: cell.column for cell in sheet[1]}
    for r, want in enumerate(expected.to_dict("records"), start=2):
        assert sheet.cell(r, header["区县"]).value == want["region"]
        for label, field in numbers.items():
            cell = sheet.cell(r, header[label])
            if pd.isna(want[field]):
                assert cell.value is None, (label, cell.value)
            else:
                assert cell.data_type == "n" and cell.value == pytest.approx(want[field]), (label, cell.value)
        assert sheet.cell(r, header["综合得分"]).number_format == "0.0"
        assert sheet.cell(r, header["得分变化"]).number_format == "+0.0;-0.0;0.0"


def test_an_unreadable_warehouse_shows_one_plain_message_in_a_browser(browser_page, tmp_path):
    """A damaged warehouse behind `fazhi dashboard`: every page says so in one sentence, with what to do, and
    shows no traceback, no exception text and no path on the server."""
    from playwright.sync_api import expect

    served = tmp_path / "fazhi.duckdb"
    served.write_bytes(os.urandom(64 * 1024))
    page = browser_page
    with serving(
        [str(FAZHI), "dashboard", "--warehouse", str(served)],
        "/_stcore/health",
        tmp_path / "log",
        within=60,
        cwd=ROOT,
        stop_within=10,
    ) as url:
        for path in ("/", "/quality", "/unit"):
            sign_in(page, url + path)
            expect(page.get_by_text("数据仓库文件无法读取")).to_be_visible()
            expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")
            assert page.get_by_test_id("stException").count() == 0
            alerts = page.get_by_test_id("stAlert").all_inner_texts()
            assert len(alerts) == 1 and "fazhi run" in alerts[0] and "法治办" in alerts[0], alerts
            shown = page.get_by_test_id("stApp").inner_text()
            for leak in ("Traceback", ".py", "IO Error", "duckdb", str(tmp_path)):
                assert leak not in shown, (path, leak, shown)


def test_sign_in_failures_lockout_and_sign_out_in_a_browser(browser_page, app_url, access_dir):
    """The sign-in form as a person meets it: the same answer for a wrong password and an unknown name,
    a lock after repeated failures, and sign-out back to the form."""
    from playwright.sync_api import expect

    from access.accounts import WRONG, Accounts
    from access.policy import load_policy

    Accounts(path=access_dir / "users.json").add("browser-lock", "analyst", PASSWORD)
    page = browser_page

    def attempt(user: str, password: str) -> None:
        page.get_by_label("用户名").fill(user)
        page.get_by_label("密码").fill(password)
        page.get_by_role("button", name="登录", exact=True).click()
        expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")

    page.goto(app_url + "/")
    attempt("nobody-at-all", PASSWORD)
    expect(page.get_by_text(WRONG)).to_be_visible()
    for _ in range(load_policy().sign_in.max_failures):
        attempt("browser-lock", "wrong password")
    expect(page.get_by_text("已暂时锁定")).to_be_visible()
    attempt("browser-lock", PASSWORD)  # the right password, still locked
    expect(page.get_by_text("已暂时锁定")).to_be_visible()
    assert page.get_by_role("button", name="退出登录").count() == 0

    sign_in(page, app_url + "/")
    _settled(page, "总览")
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_text("已退出登录")).to_be_visible()
    expect_signed_out(page)
