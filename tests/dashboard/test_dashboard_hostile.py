"""Data is text, never markup: a warehouse whose every text field holds hostile values, on every page.

Names, regions, topics, file and sheet names, issue messages, task texts, requirement names, notes and the
ranking policy carry Markdown, HTML, backticks, an RTL override, spreadsheet formulas, LaTeX, Streamlit's
colour syntax and icon shortcodes. The raw files reach what they can through the real pipeline (the
registry, score sheets with hostile file and sheet names, a meeting ledger, a filing register); the texts
no raw file can set (the rulebook's task and requirement names, notes the pipeline writes, a restatement)
are then written into the published warehouse.

Checked under AppTest (every Markdown body escaped so that it renders the literal text, plain widgets and
tables holding the text as written), in a real browser (the page shows the literal strings, creates no link,
bold text, code, image, icon, colour or formula from them, fires no dialog; charts' SVG text is literal) and
in the downloads (CSV and Excel read back equal the data, formulas neutralised, numbers numeric).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import os
import re
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import test_dashboard_e2e as e2e
from builders import losing, write_filings, write_meetings, write_score_sheet, write_units
from conftest import run_fazhi, serving
from markdown_it import MarkdownIt
from openpyxl import load_workbook
from sessions import signed_in
from streamlit.testing.v1 import AppTest

from dashboards.i18n import TEXT

ROOT = Path(__file__).resolve().parents[2]
FAZHI = Path(sys.executable).parent / "fazhi"
APP = str(ROOT / "dashboards" / "streamlit_app.py")
ARTIFACTS = ROOT / "test-artifacts" / "hostile"
YEAR = 2024

HOSTILE = [
    "**bold**",
    "[link](http://evil.example)",
    "`tick`",
    "<b>x</b>",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "\u202e反转文字",
    '=HYPERLINK("http://evil.example","x")',
    "$x$",
    ":red[x]",
    ":material/home:",
    "+cmd",
    "-1+1",
    "@SUM(A1)",
]
# Excel forbids \ / ? * [ ] : in sheet names; these keep the rest of the mischief.
SHEETS = [
    "`tick`",
    "<b>x",
    "$x$",
    "<img src=x onerror=alert(1)>",
    "\u202e反转",
    "=1+1",
    "@SUM(A1)",
    "+cmd",
    "-1+1",
    "_x_",
    "~~del~~",
    "# head",
    "<u>u<_u>",
    "<script>",
]
ROLE_SUFFIX = {"party": "县委", "government": "县政府"}
# What no page may turn into markup, a link or an icon.
MARKERS = ("bold", "link", "tick", "alert", "HYPERLINK", "evil", "反转", "home", "cmd", "SUM", "red")
INVISIBLE = re.compile("[\u2060\u2068\u2069]")  # word joiner and isolates: markup breakers that draw nothing
PAGES = [
    "app_pages/overview.py",
    "app_pages/ranking.py",
    "app_pages/weak_spots.py",
    "app_pages/meetings.py",
    "app_pages/filings.py",
    "app_pages/unit.py",
    "app_pages/quality.py",
]
FORMULA_START = ("=", "+", "-", "@")

browser_page = e2e.browser_page  # the end-to-end test's Chromium (it records dialogs and script errors)
_settled, _screenshot, sign_in = e2e._settled, e2e._screenshot, e2e.sign_in


def _unit(h: str, role: str) -> str:
    return f"{h}{ROLE_SUFFIX[role]}"


def _file_name(h: str) -> str:
    return h.replace("/", "_")  # the one character a file name cannot hold


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    raw = root / "raw"
    write_units(
        raw,
        [
            (_unit(h, role), "党委" if role == "party" else "政府", h, "")
            for h in HOSTILE
            for role in ROLE_SUFFIX
        ],
    )
    for i, h in enumerate(HOSTILE):
        for role in ROLE_SUFFIX:
            for year, lost in ((YEAR - 1, (i * 5) % 13), (YEAR, (i * 3) % 17)):
                path = write_score_sheet(
                    raw,
                    year,
                    _unit(h, role),
                    role,
                    losing(role, lost),
                    name=f"{_file_name(h)}_{role}_{year}.xlsx",
                )
                book = load_workbook(path)
                book.active.title = SHEETS[i]
                book.save(path)
    write_meetings(
        raw,
        YEAR,
        f"{_file_name('<b>x</b>')}_**bold**_{YEAR}年会议学法台账.csv",
        [(_unit(h, "party"), f"{YEAR}-03-05", h, f"学习{h}") for h in HOSTILE]
        + [(_unit(HOSTILE[0], "party"), h, "集体学法", "学法") for h in HOSTILE[:4]],  # unreadable dates
        encoding="utf-8-sig",
    )
    write_filings(
        raw,
        YEAR,
        [(_unit(h, "party"), "年终述法", str(YEAR), f"{YEAR + 1}-01-10") for h in HOSTILE[:6]],
        name="=cmd_filings.csv",
    )
    warehouse = run_fazhi(raw, root / "marts" / "fazhi.duckdb")
    with duckdb.connect(str(warehouse.path)) as con:
        _texts_no_raw_file_sets(con)
    return warehouse


def _texts_no_raw_file_sets(con) -> None:
    n = len(HOSTILE)
    con.execute("create temp table hostile (i integer, h varchar)")
    con.executemany("insert into hostile values (?, ?)", list(enumerate(HOSTILE, start=1)))
    con.execute(f"""update marts.rulebook_requirements r set name = h.h || ' ' || r.requirement_id
                    from (select requirement_id, row_number() over (order by requirement_id) as k
                          from marts.rulebook_requirements) o, hostile h
                    where o.requirement_id = r.requirement_id and h.i = (o.k - 1) % {n} + 1""")
    con.execute(f"""update marts.score_sheet_tasks k
                    set duty = (select h from hostile where i = (k.duty_no - 1) % {n} + 1),
                        text = (select h from hostile where i = (k.task_no - 1) % {n} + 1)
                               || ' 第' || k.task_no || '项'""")
    con.execute(f"""update marts.task_scores s
                    set flag_note = (select h from hostile where i = s.task_no % {n} + 1)
                    where s.lost_points > 0""")
    con.execute(f"""update marts.region_rankings g
                    set note = (select h from hostile where i = coalesce(g.rank, 1) % {n} + 1)
                    where g.note is null""")
    con.execute(f"""update marts.weak_spots w set note = (select h from hostile where i = length(w.scope_id) % {n} + 1),
                    item = (select h from hostile where i = (length(w.scope_id) + 3) % {n} + 1) || ' ' || w.item""")
    # The rulebook's roles: three hostile values in each name (all of them over the five roles), one in each
    # unit type (which heads a region's score per role: 党委得分).
    pick = "(select h from hostile where i = (3 * (r.display_order - 1) + {k}) % {n} + 1)"
    con.execute(f"""update marts.rulebook_roles r
                    set name = {pick.format(k=0, n=n)} || {pick.format(k=1, n=n)} || {pick.format(k=2, n=n)}
                               || ' ' || r.role || '主要负责人',
                        unit_type = {pick.format(k=0, n=n)} || r.unit_type""")
    con.execute("update marts.publication set ranking_policy = ?", [" ".join(HOSTILE)])
    con.execute(
        """update marts.submissions set superseded_by = ?, status_reason = ?
                   where file = (select min(file) from marts.submissions where kind = 'score_sheet')""",
        [HOSTILE[1], HOSTILE[3]],
    )
    unit_id, subject = con.execute(
        f"select unit_id, unit_name from marts.unit_scores where year = {YEAR} "
        "and status = 'scored' order by unit_name limit 1"
    ).fetchone()
    con.execute(
        """insert into marts.restatements (restated_at, year, scope, subject_id, subject, measure, old_value,
                       new_value, previously_published_at, reason)
                   values (now()::timestamp, ?, 'unit', ?, ?, 'score', 90.0, 95.5, now()::timestamp, ?)""",
        [YEAR, unit_id, subject, HOSTILE[7]],
    )


# ------------------------------------------------------------------------------------------------------
# Markdown bodies under AppTest

_MD = MarkdownIt("commonmark").enable(["strikethrough", "table"])
_OUR_BOLD = {zh for zh, _ in TEXT.values()}
_UNESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def markup_from_data(body: str) -> list[str]:
    """What a Markdown body would make of data, read the way Streamlit's renderer reads it: CommonMark
    elements (only our own **labels** may be bold), then Streamlit's additions (LaTeX between $, colour
    and other :directive[…], :material/…: icons, emoji shortcodes) and its rewrites of parsed text (bare
    URLs and e-mail addresses into links, -- -> <- >= <= ~= into symbols, :streamlit:)."""
    found = []
    rendered = _MD.render(body)
    found += re.findall(r"<(?:a|code|img|em|del|s|h[1-6]|ul|ol|li|blockquote|pre|table|hr)\b[^>]*>", rendered)
    found += [f"bold {b!r}" for b in re.findall(r"<strong>(.*?)</strong>", rendered) if b not in _OUR_BOLD]
    if re.search(r"(?<!\\)\$", body):
        found.append("unescaped $")
    if re.search(r"(?<!\\):[a-z][a-z0-9-]*(?<!\\)\[", body):
        found.append("directive")
    if ":material/" in body or re.search(r":(?!material/|streamlit:)[A-Za-z0-9_+-][A-Za-z0-9_+-]*:", body):
        found.append("icon or emoji shortcode")
    text = _UNESCAPE.sub(r"\1", body)
    for pattern, what in (
        (r"(?i)(https?:|www\.)", "bare URL"),
        (r"@[A-Za-z0-9]", "e-mail address"),
        (r"(^|\s)(<->|->|<-|--|>=|<=|~=)(\s|$)", "typographic rewrite"),
        (r":(streamlit|material_\w+):", "logo or icon"),
    ):
        if re.search(pattern, text):
            found.append(what)
    return found


def shown_text(body: str) -> str:
    """The text a Markdown body shows (tags dropped, entities and escapes resolved, invisible breakers gone)."""
    return (
        INVISIBLE.sub("", html.unescape(re.sub(r"<[^>]+>", "", _MD.render(body)))).replace("\n", " ").strip()
    )


def _bodies(at: AppTest) -> list[str]:
    """Every Markdown body on the page: markdown, captions, titles and headers, alerts, metric labels and
    values, radio options, tab labels."""
    bodies = [
        e.value
        for kind in (
            "markdown",
            "caption",
            "title",
            "header",
            "subheader",
            "success",
            "error",
            "warning",
            "info",
        )
        for e in getattr(at, kind)
    ]
    bodies += [m.label for m in at.metric] + [m.value for m in at.metric]
    bodies += [str(o) for r in at.radio for o in r.options] + [tab.label for tab in at.tabs]
    return bodies


@pytest.fixture
def app(hostile, monkeypatch):
    monkeypatch.setenv("FAZHI_WAREHOUSE", str(hostile.path))

    def open_page(page: str) -> AppTest:
        at = signed_in(AppTest.from_file(APP, default_timeout=60)).run()
        at.switch_page(page)
        at.run()
        return at

    return open_page


def _safe(at: AppTest, where: str) -> None:
    assert not at.exception, (where, [e.value for e in at.exception])
    problems = {body: markup_from_data(body) for body in _bodies(at)}
    assert not {b: p for b, p in problems.items() if p}, where


def test_the_case_is_hostile(hostile):
    """The fixture reaches every kind of field it claims to (a guard against a quietly tamer pipeline)."""
    fields = {
        "region": "select region from marts.region_rankings",
        "unit name": "select unit_name from marts.units",
        "topic": "select topic from marts.meetings",
        "meeting kind": "select type_text from marts.meetings",
        "file name": "select file from marts.submissions",
        "issue message": "select message from marts.ingest_issues",
        "issue unit": "select unit from marts.ingest_issues",
        "task text": "select text from marts.score_sheet_tasks",
        "requirement": "select name from marts.rulebook_requirements",
        "role name": "select name from marts.rulebook_roles",
        "sheet name": "select sheet from marts.submissions",
    }
    for field, sql in fields.items():
        values = " ".join(str(v) for v in hostile.df(sql).iloc[:, 0].dropna())
        wanted = (
            SHEETS[:9] if field == "sheet name" else ("**bold**", "`tick`", "<b>x", "$x$", "\u202e", "+cmd")
        )
        assert all(w in values for w in wanted), (field, [w for w in wanted if w not in values])


@pytest.mark.parametrize("page", PAGES)
def test_markdown_bodies_escape_the_data(app, page):
    at = app(page)
    _safe(at, page)
    assert [t.value for t in at.title], page


def test_overview_names_the_leader_and_the_last_as_written(app, hostile):
    at = app("app_pages/overview.py")
    ranked = hostile.df(
        f"select region, rank, is_bottom from marts.region_rankings where year = {YEAR} and rank is not null"
    )
    first = ranked.loc[ranked["rank"] == 1, "region"].item()
    last = ranked.loc[ranked["is_bottom"], "region"].item()
    assert shown_text(at.success[0].value).startswith(f"第一名：{first}（")
    assert shown_text(at.error[0].value).startswith(f"末位：{last}（")


def test_unit_page_header_caption_and_metrics_as_written(app, hostile):
    at = app("app_pages/unit.py")
    units = hostile.df(
        f"select unit_id, unit_name, region, source_file from marts.unit_scores where year = {YEAR}"
    )
    options = at.selectbox(key="unit_pick").options
    assert all(any(name in o for o in options) for name in units["unit_name"])  # plain text, as written
    for unit in units.itertuples():
        at.selectbox(key="unit_pick").set_value(unit.unit_id).run()
        _safe(at, unit.unit_name)
        assert shown_text(at.subheader[0].value).startswith(f"{unit.unit_name}（")
        assert shown_text(at.subheader[0].value).endswith(f"，{unit.region}）")
        if isinstance(unit.source_file, str):  # a unit that sent its sheet
            assert any(shown_text(c.value) == f"来源文件：{unit.source_file}" for c in at.caption)
            tasks = " ".join(at.dataframe[0].value["考核事项"])
            assert all(h in tasks for h in ("**bold**", "`tick`", "<b>x</b>", "$x$")), tasks


def test_quality_issue_detail_as_written(app, hostile):
    at = app("app_pages/quality.py")
    issues = at.dataframe[0].value
    firsts = issues.drop_duplicates(["文件", "代码"]).index
    for i in firsts:
        at.selectbox(key="quality_issue").set_value(int(i)).run()
        _safe(at, f"issue {i}")
        issue = issues.loc[i]
        sheet = "—" if pd.isna(issue["工作表"]) else issue["工作表"]
        row = "—" if pd.isna(issue["行"]) else str(int(issue["行"]))
        detail = next(shown_text(m.value) for m in at.markdown if shown_text(m.value).startswith("文件："))
        assert detail == f"文件：{issue['文件']}　工作表：{sheet}　行：{row}"
        assert shown_text(at.warning[0].value) == issue["说明"]
        # a select box shows plain text: the choice reads as written
        assert at.selectbox(key="quality_issue").options[int(i)].startswith(issue["文件"] + " · ")
    assert "**bold**" in " ".join(issues["说明"]) and "<b>x<_b>" in " ".join(issues["文件"])


def test_role_names_from_the_rulebook_as_written(app, hostile):
    """Roles are named as the rulebook names them (less 主要负责人): the unit ranking's headers, the weak spots'
    sheet choice, the region ranking's score columns (after the role's unit type)."""
    roles = hostile.df(
        "select role, name, unit_type, region_position from marts.rulebook_roles order by display_order"
    )
    names = dict(zip(roles["role"], roles["name"].str.removesuffix("主要负责人"), strict=False))
    at = app("app_pages/ranking.py")
    _safe(at, "ranking")
    shown = [shown_text(s.value) for s in at.main.subheader]
    present = hostile.df(f"select distinct role from marts.unit_scores where year = {YEAR}")["role"]
    assert shown == [names[r] for r in roles["role"] if r in set(present)]
    region_roles = roles[roles["region_position"].notna()].sort_values("region_position")
    columns = list(at.dataframe[0].value.columns)
    assert [f"{u}得分" for u in region_roles["unit_type"]] == [
        c for c in columns if c.endswith("得分") and c != "综合得分" and c != "得分变化"
    ]
    at = app("app_pages/weak_spots.py")
    _safe(at, "weak spots")
    assert [shown_text(o) for o in at.radio(key="weak_role").options] == [names[r] for r in roles["role"]]


def test_tables_hold_the_data_as_written(app, hostile):
    at = app("app_pages/ranking.py")
    regions = hostile.df(
        f"select region from marts.region_rankings where year = {YEAR} order by rank nulls last, region"
    )["region"]
    assert list(at.dataframe[0].value["区县"]) == list(regions)


# ------------------------------------------------------------------------------------------------------
# In the browser

BROWSER_CHECKS = """() => {
    const roots = [...document.querySelectorAll('[data-testid="stMain"], [data-testid="stSidebarContent"]')];
    const markers = MARKERS;
    const hasMarker = (s) => markers.some((m) => (s || '').includes(m));
    const bad = [];
    for (const root of roots) {
        for (const a of root.querySelectorAll('a')) {
            const href = a.getAttribute('href') || a.getAttribute('xlink:href') || '';
            if (/evil/.test(href) || hasMarker(a.textContent)) bad.push('link ' + href + ' ' + a.textContent);
        }
        for (const e of root.querySelectorAll('strong, b, em, i, code, del, s, u, h1, h2, h3, h4, h5, h6, li, '
                                               + 'blockquote, pre, .katex, .stMarkdownColoredText, '
                                               + '.stMarkdownColoredBackground, .stMarkdownBadge')) {
            // A page's own header (st.subheader) may hold data, e.g. a role named as the rulebook names it;
            // what may not happen is data becoming a heading, or markup inside a header.
            if (/^H[1-6]$/.test(e.tagName) && e.closest('[data-testid="stHeading"]')) continue;
            if (hasMarker(e.textContent)) bad.push(e.tagName + ' ' + e.className + ': ' + e.textContent);
        }
        for (const e of root.querySelectorAll('[data-testid="stMarkdownContainer"] span[role="img"], '
                                               + '[data-testid="stMarkdownContainer"] img')) {
            bad.push('icon or image in text: ' + e.outerHTML.slice(0, 120));
        }
        for (const e of root.querySelectorAll('img[src="x"], script')) {
            if (e.tagName !== 'SCRIPT' || hasMarker(e.textContent)) bad.push('element from data: ' + e.outerHTML);
        }
        // Bold or italic inside a chart label (a whole bold title is Streamlit's own chart theme; a label
        // drawn from markup would lose its tags, which the literal-text check catches).
        for (const t of root.querySelectorAll('svg tspan')) {
            const whole = t.closest('text');
            if (/bold|italic/.test(t.getAttribute('style') || '') && whole && t.textContent !== whole.textContent
                && hasMarker(t.textContent)) bad.push('styled chart text: ' + t.textContent);
        }
    }
    return bad;
}""".replace("MARKERS", repr(list(MARKERS)))

PAGE_TEXT = """() => {
    const parts = [];
    for (const root of document.querySelectorAll('[data-testid="stMain"], [data-testid="stSidebarContent"]')) {
        parts.push(root.innerText);
        for (const t of root.querySelectorAll('svg text')) parts.push(t.textContent);
        for (const i of root.querySelectorAll('input')) parts.push(i.value);
    }
    return parts.join('\\n');
}"""

URLS = {
    "app_pages/overview.py": ("/", "总览"),
    "app_pages/ranking.py": ("/ranking", "排名"),
    "app_pages/weak_spots.py": ("/weak_spots", "短板"),
    "app_pages/meetings.py": ("/meetings", "会议学习"),
    "app_pages/filings.py": ("/filings", "报送"),
    "app_pages/unit.py": ("/unit", "单位详情"),
    "app_pages/quality.py": ("/quality", "数据质量"),
}


@pytest.fixture(scope="module")
def served(hostile, tmp_path_factory, access_dir):
    log = tmp_path_factory.mktemp("hostile_streamlit") / "streamlit.log"
    with serving(
        [str(FAZHI), "dashboard", "--warehouse", str(hostile.path)],
        "/_stcore/health",
        log,
        within=60,
        cwd=ROOT,
        stop_within=10,
        env={**os.environ, "FAZHI_ACCESS_DIR": str(access_dir)},
    ) as url:
        yield url


def _expected_on_page(page, app_page: str, hostile) -> list[str]:
    """Data strings the page must show literally outside its tables (which draw on a canvas)."""
    if app_page == "app_pages/overview.py":  # the ranking chart's axis
        return list(hostile.df(f"select region from marts.region_rankings where year = {YEAR}")["region"])
    if app_page == "app_pages/weak_spots.py":  # the heatmap's regions, party sheets
        return list(
            hostile.df(f"""select distinct region from marts.task_scores join marts.units using (unit_id, role)
                                   where year = {YEAR} and role = 'party'""")["region"]
        )
    if app_page == "app_pages/filings.py":  # the chart's report names
        return list(
            hostile.df(f"""select distinct r.name from marts.filing_rates f join marts.rulebook_requirements r
                                   on r.requirement_id = f.report_type where f.year = {YEAR}""")["name"]
        )
    if app_page == "app_pages/meetings.py":  # the chosen requirement, in the chart's title
        chosen = page.get_by_role("combobox", name="制度要求").input_value()
        assert chosen.startswith(tuple(HOSTILE)), chosen
        return [chosen]
    if app_page == "app_pages/unit.py":  # the first unit's header and source file
        first = hostile.df(f"""select unit_name, source_file from marts.unit_scores where year = {YEAR}
                               order by region, role, unit_name limit 1""").iloc[0]
        return [first["unit_name"], first["source_file"]]
    if app_page == "app_pages/quality.py":  # the first error's file and message
        first = hostile.df(f"""select file, message from marts.ingest_issues
                               where (year = {YEAR} or year is null) and severity = 'error'
                               order by file, "row" nulls last limit 1""").iloc[0]
        return [first["file"], first["message"]]
    return []


def test_every_page_shows_the_data_as_written_in_a_browser(browser_page, served, hostile):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser_page
    for app_page, (path, title) in URLS.items():
        sign_in(page, served + path)
        _settled(page, title)
        _screenshot(page, Path(app_page).stem, ARTIFACTS)
        bad = page.evaluate(BROWSER_CHECKS)
        assert not bad, (title, bad)
        text = INVISIBLE.sub("", page.evaluate(PAGE_TEXT))
        missing = [s for s in _expected_on_page(page, app_page, hostile) if s not in text]
        assert not missing, (title, missing)
    assert not page.dialogs, page.dialogs
    assert not page.script_errors, page.script_errors


# ------------------------------------------------------------------------------------------------------
# Downloads


def _download(page, name: str) -> bytes:
    with page.expect_download() as info:
        page.get_by_role("button", name=name).first.click()
    assert info.value.failure() is None, info.value.failure()
    return Path(info.value.path()).read_bytes()


def _neutralised(value: str) -> str:
    """How a CSV carries a text cell: a leading ' keeps a formula-like text from being run."""
    return "'" + value if value.startswith(FORMULA_START) else value


def test_downloads_carry_the_data_as_text_and_numbers_as_numbers(browser_page, served, hostile):
    page = browser_page
    sign_in(page, served + "/quality")
    _settled(page, "数据质量")
    issues = hostile.df(f"""select file, sheet, "row", unit, code, message from marts.ingest_issues
                            where (year = {YEAR} or year is null) and severity = 'error'
                            order by severity, file, "row" nulls first""")
    rows = list(csv.reader(io.StringIO(_download(page, "下载 CSV").decode("utf-8-sig"))))
    assert rows[0] == ["文件", "工作表", "行", "单位", "严重程度", "代码", "说明"]
    assert sorted(tuple(r) for r in rows[1:]) == sorted(
        (
            _neutralised(i.file),
            "" if pd.isna(i.sheet) else _neutralised(i.sheet),
            "" if pd.isna(i.row) else str(int(i.row)),
            "" if pd.isna(i.unit) else _neutralised(i.unit),
            "错误",
            i.code,
            _neutralised(i.message),
        )
        for i in issues.itertuples()
    )
    book = load_workbook(io.BytesIO(_download(page, "下载 Excel")))
    sheet = book.worksheets[0]
    got = sorted((tuple(c.value for c in r) for r in sheet.iter_rows(min_row=2)), key=str)
    want = [
        (
            i.file,
            None if pd.isna(i.sheet) else i.sheet,
            None if pd.isna(i.row) else int(i.row),
            None if pd.isna(i.unit) else i.unit,
            "错误",
            i.code,
            i.message,
        )
        for i in issues.itertuples()
    ]
    assert got == sorted(want, key=str)
    for r in sheet.iter_rows(min_row=2):
        assert [c.data_type for c in r if c.value is not None and c.column != 3] == ["s"] * sum(
            1 for c in r if c.value is not None and c.column != 3
        )
        assert r[2].value is None or r[2].data_type == "n"

    sign_in(page, served + "/ranking")
    _settled(page, "排名")
    regions = hostile.df(f"""select region, rank, score, note from marts.region_rankings where year = {YEAR}
                             order by rank nulls last, region""")
    assert any(r.startswith(FORMULA_START) for r in regions["region"])
    rows = list(csv.reader(io.StringIO(_download(page, "下载 CSV").decode("utf-8-sig"))))
    header = rows[0]
    assert [r[header.index("区县")] for r in rows[1:]] == [_neutralised(r) for r in regions["region"]]
    assert [r[header.index("综合得分")] for r in rows[1:]] == [
        "" if pd.isna(s) else str(float(s)) for s in regions["score"]
    ]
    sheet = load_workbook(io.BytesIO(_download(page, "下载 Excel"))).worksheets[0]
    names = [c.value for c in sheet[1]]
    column = {n: i for i, n in enumerate(names)}
    for r, want in zip(sheet.iter_rows(min_row=2), regions.itertuples(), strict=False):
        assert r[column["区县"]].value == want.region and r[column["区县"]].data_type == "s"
        assert (
            (r[column["综合得分"]].value is None)
            if pd.isna(want.score)
            else (r[column["综合得分"]].value == want.score and r[column["综合得分"]].data_type == "n")
        )
    circular = load_workbook(io.BytesIO(_download(page, "下载排名通报（Excel）"))).worksheets[0]
    listed = [circular.cell(r, 2).value for r in range(4, 4 + len(regions))]
    assert listed == list(regions["region"])
    assert all(circular.cell(r, 2).data_type == "s" for r in range(4, 4 + len(regions)))
    footnote = circular.cell(4 + len(regions) + 1, 1).value
    assert footnote.endswith(" ".join(HOSTILE))
    assert dt.date.today().isoformat() in circular["A2"].value
