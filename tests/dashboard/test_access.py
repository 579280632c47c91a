"""Sign-in, roles and scope in the dashboard, under AppTest, on a small warehouse whose rows per region are
known by hand: 东城区 (the liaison's region) and 西城区, each with score sheets and a meeting ledger whose
topics name the region, and a broken file from 西城区."""

from __future__ import annotations

import json
import os
import time

import duckdb
import pytest
import test_dashboard_e2e as e2e
from builders import city_units, write_corrupt, write_meetings, write_score_sheet, write_units
from conftest import run_fazhi, serving
from sessions import LIAISON_REGION, PASSWORD, settle_garbage, signed_in, user_of
from streamlit.testing.v1 import AppTest
from test_dashboard_app import APP, PAGES

from access.accounts import WRONG, Accounts
from access.policy import load_policy

OTHER = "西城区"
TOPIC = {LIAISON_REGION: "东城专题学法", OTHER: "西城专题学法"}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    root = tmp_path_factory.mktemp("access_wh")
    raw = root / "raw"
    write_units(raw, city_units([LIAISON_REGION, OTHER]))
    for region in (LIAISON_REGION, OTHER):
        write_score_sheet(raw, 2024, region, "party")
        write_score_sheet(raw, 2024, region, "government", {3: 1})
        write_meetings(
            raw,
            2024,
            f"{region}委_会议学法台账.csv",
            [(f"{region}委", "2024-03-05", "集体学法", TOPIC[region])],
        )
    write_corrupt(raw, 2024, f"{OTHER}政府_打分表.xlsx")
    return run_fazhi(raw, root / "marts" / "fazhi.duckdb").path


@pytest.fixture
def served(warehouse, monkeypatch):
    monkeypatch.setenv("FAZHI_WAREHOUSE", str(warehouse))
    return warehouse


def _app() -> AppTest:
    settle_garbage()
    return AppTest.from_file(APP, default_timeout=60)


def _texts(at: AppTest) -> str:
    """Everything the run put on screen: text elements, tables, choices, metrics and chart data."""
    parts: list[str] = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "text",
        "info",
        "warning",
        "error",
        "success",
    ):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [e.value.to_csv() for e in at.dataframe]
    parts += [f"{e.label} {e.value}" for e in at.metric]
    for kind in ("selectbox", "multiselect", "radio"):
        parts += [" ".join(map(str, e.options)) for e in getattr(at, kind)]
    parts += [str(e.proto) for e in at.get("plotly_chart")]
    return "\n".join(parts)


def _other_region_marks(warehouse) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        units = con.execute("select unit_id, unit_name from marts.units where region = ?", [OTHER]).fetchall()
    return [TOPIC[OTHER], *(u for row in units for u in row)]


# -- sign-in ----------------------------------------------------------------------------------------


def test_nothing_is_shown_without_sign_in(served):
    at = _app().run()
    assert [t.value for t in at.title] == ["法治履职台账 · 登录"]
    assert not at.dataframe and not at.metric
    assert LIAISON_REGION not in _texts(at)


def _sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key="sign_in_password").input(password)
    return at.button[0].click().run()


def test_sign_in_then_out(served):
    at = _sign_in(_app().run(), user_of("analyst"), PASSWORD)
    assert not at.exception
    assert [t.value for t in at.title] == ["总览"]
    at.sidebar.button(key="sign_out").click().run()
    assert [t.value for t in at.title] == ["法治履职台账 · 登录"]
    assert "已退出登录" in _texts(at)


def test_wrong_password_and_unknown_user_read_the_same(served):
    wrong = _sign_in(_app().run(), user_of("analyst"), "not the password")
    unknown = _sign_in(_app().run(), "nobody-here", PASSWORD)
    assert [e.value for e in wrong.error] == [e.value for e in unknown.error] == [WRONG]


def test_repeated_failures_lock_the_account(served, tmp_path, monkeypatch):
    monkeypatch.setenv("FAZHI_ACCESS_DIR", str(tmp_path))
    Accounts().add("lockme", "analyst", PASSWORD)
    at = _app().run()
    for _ in range(load_policy().sign_in.max_failures):
        at = _sign_in(at, "lockme", "wrong password")
    assert "锁定" in at.error[0].value
    at = _sign_in(at, "lockme", PASSWORD)
    assert "锁定" in at.error[0].value and [t.value for t in at.title] == ["法治履职台账 · 登录"]
    events = [json.loads(line)["event"] for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert events.count("sign_in_failed") == load_policy().sign_in.max_failures - 1
    assert "sign_in_locked" in events and "sign_in" not in events


def test_an_idle_session_ends(served):
    at = signed_in(_app())
    at.session_state["last_seen"] = time.time() - load_policy().sign_in.idle_minutes * 60 - 1
    at.run()
    assert [t.value for t in at.title] == ["法治履职台账 · 登录"]
    assert "长时间未操作" in _texts(at)


def test_a_disabled_account_is_signed_out_at_the_next_click(served, tmp_path, monkeypatch):
    monkeypatch.setenv("FAZHI_ACCESS_DIR", str(tmp_path))
    accounts = Accounts()
    accounts.add("soon-gone", "analyst", PASSWORD)
    at = signed_in(_app(), "soon-gone").run()
    assert [t.value for t in at.title] == ["总览"]
    accounts.set_disabled("soon-gone", True)
    at.run()
    assert [t.value for t in at.title] == ["法治履职台账 · 登录"]


# -- roles ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(load_policy().roles))
def test_each_role_opens_exactly_the_pages_its_capabilities_allow(served, role):
    from dashboards.i18n import TEXT
    from dashboards.pages import PAGES as ALL

    can = load_policy().roles[role].can
    for path, key, _icon, needs in ALL:
        at = signed_in(_app(), user_of(role)).run()
        if needs in can:
            at.switch_page(path).run()
            titles = [t.value for t in at.title]
            assert not at.exception and titles == [TEXT[key][0]], (role, path, titles)
        else:
            # not in the role's navigation: there is no such page to open for this session
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(path)


def test_downloads_follow_the_capabilities(served):
    def buttons(role: str, page: str) -> list[str]:
        at = signed_in(_app(), user_of(role)).run()
        at.switch_page(page).run()
        return [b.proto.label for b in at.get("download_button")]

    assert buttons("leader", "app_pages/ranking.py") == ["下载排名通报（Excel）", "下载正式通报（Word）"]
    assert buttons("clerk", "app_pages/ranking.py") == []
    assert "下载 CSV" in buttons("clerk", "app_pages/quality.py")
    assert "下载 CSV" in buttons("analyst", "app_pages/meetings.py")
    assert buttons("leader", "app_pages/meetings.py") == []


# -- a county's own view ----------------------------------------------------------------------------


def test_a_liaison_sees_only_its_own_units_on_every_page(served):
    marks = _other_region_marks(served)
    for page in PAGES:
        at = signed_in(_app(), user_of("liaison")).run()
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        shown = _texts(at)
        leaked = [m for m in marks if m in shown and not _only_in_public_ranking(m, shown)]
        assert not leaked, (page, leaked)
    # and its own units are there
    at = signed_in(_app(), user_of("liaison")).run()
    at.switch_page("app_pages/unit.py").run()
    assert f"{LIAISON_REGION}人民政府" in _texts(at) or f"中共{LIAISON_REGION}委员会" in _texts(at)


def _only_in_public_ranking(mark: str, shown: str) -> bool:
    # The published region ranking names every region; unit ids, unit names and topics never appear.
    return mark == OTHER


def test_a_liaison_cannot_open_another_countys_unit_by_url(served):
    with duckdb.connect(str(served), read_only=True) as con:
        other_unit = con.execute(
            "select unit_id from marts.units where region = ? limit 1", [OTHER]
        ).fetchone()[0]
    at = signed_in(_app(), user_of("liaison"))
    at.query_params["unit"] = other_unit
    at.run()
    at.switch_page("app_pages/unit.py").run()
    assert not at.exception
    assert other_unit not in _texts(at)
    for mark in _other_region_marks(served):
        assert mark not in _texts(at)


def test_a_liaison_reads_the_whole_published_ranking(served):
    at = signed_in(_app(), user_of("liaison")).run()
    at.switch_page("app_pages/ranking.py").run()
    first = at.dataframe[0].value.to_csv()
    assert LIAISON_REGION in first and OTHER in first


# -- the SQL console and the audit trail ------------------------------------------------------------


def _console(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("FAZHI_ACCESS_DIR", str(tmp_path))
    Accounts().add("ana", "analyst", PASSWORD)
    at = signed_in(_app(), "ana").run()
    return at.switch_page("app_pages/console.py").run()


def _audit(tmp_path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


def test_the_console_runs_a_query_and_records_it(served, tmp_path, monkeypatch):
    at = _console(tmp_path, monkeypatch)
    sql = "select region, rank from marts.region_rankings where year = 2024 order by rank"
    at.text_area(key="console_sql").input(sql)
    next(b for b in at.button if b.label == "运行").click()
    at.run()
    assert not at.exception and not at.error
    assert set(at.dataframe[0].value["region"]) == {LIAISON_REGION, OTHER}
    entry = [e for e in _audit(tmp_path) if e["event"] == "console_query"][-1]
    assert entry["user"] == "ana" and entry["sql"] == sql and entry["rows"] == 2 and entry["seconds"] >= 0


def test_the_console_refuses_with_a_message_and_records_the_attempt(served, tmp_path, monkeypatch):
    at = _console(tmp_path, monkeypatch)
    at.text_area(key="console_sql").input("select * from read_csv('/etc/passwd')")
    next(b for b in at.button if b.label == "运行").click()
    at.run()
    assert not at.exception and "文件、网络" in at.error[0].value and "root:" not in _texts(at)
    assert _audit(tmp_path)[-1]["event"] == "console_refused"


def test_an_example_query_is_one_click_away(served, tmp_path, monkeypatch):
    at = _console(tmp_path, monkeypatch)
    next(b for b in at.button if b.key == "example_units").click()
    at.run()
    assert "from marts.units" in at.text_area(key="console_sql").value


def test_the_office_reads_the_audit_trail(served):
    at = signed_in(_app(), user_of("clerk")).run()
    at.switch_page("app_pages/audit.py").run()
    assert not at.exception and [t.value for t in at.title] == ["审计日志"]


# -- in a real browser ------------------------------------------------------------------------------

browser_page = e2e.browser_page


@pytest.fixture(scope="module")
def dashboard(warehouse, access_dir, tmp_path_factory):
    """`fazhi dashboard` on the two-region warehouse, sessions ending after 6 idle seconds."""
    log = tmp_path_factory.mktemp("access_dashboard") / "streamlit.log"
    env = {**os.environ, "FAZHI_ACCESS_DIR": str(access_dir), "FAZHI_IDLE_MINUTES": "0.1"}
    with serving(
        [str(e2e.FAZHI), "dashboard", "--warehouse", str(warehouse)],
        "/_stcore/health",
        log,
        within=60,
        cwd=e2e.ROOT,
        stop_within=10,
        env=env,
    ) as url:
        yield url


def test_a_liaisons_downloads_hold_only_its_own_region(browser_page, dashboard, warehouse):
    page = browser_page
    texts = []
    for path, title in (
        ("/quality", "数据质量"),
        ("/meetings", "会议学习"),
        ("/unit", "单位详情"),
        ("/weak_spots", "短板"),
    ):
        e2e.sign_in(page, dashboard + path, user_of("liaison"))
        e2e._settled(page, title)
        buttons = page.get_by_role("button", name="下载 CSV")
        texts += [e2e._download(page, buttons.nth(i)).decode("utf-8-sig") for i in range(buttons.count())]
    together = "\n".join(texts)
    assert len(texts) >= 3 and LIAISON_REGION in together  # its own rows are there
    for mark in [*_other_region_marks(warehouse), f"{OTHER}政府_打分表", f"{OTHER}委_会议学法台账"]:
        assert mark not in together, mark


def test_an_idle_session_ends_in_a_browser(browser_page, dashboard):
    from playwright.sync_api import expect

    page = browser_page
    e2e.sign_in(page, dashboard + "/", user_of("analyst"))
    page.wait_for_timeout(7_000)
    page.get_by_test_id("stSidebarNav").get_by_role("link").filter(has_text="排名").click()
    expect(page.get_by_text("长时间未操作")).to_be_visible()
    e2e.expect_signed_out(page)
