"""Pieces every page uses: the empty states, tables with their downloads, data as plain text, the jump to a
unit."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, TypedDict

import pandas as pd
import streamlit as st

from access import audit
from dashboards import auth, data, exports, queries
from dashboards.filters import Filters, current
from dashboards.formats import MISSING, SCORE, Shown, is_missing, isolated
from dashboards.i18n import label, labels, lang, speaking, t
from dashboards.pages import UNIT_PAGE

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

HIGHLIGHT = "background-color: #fde0e0"
EXPORT_MAX_ROWS = 500_000  # a download carries at most this many rows (Excel's limit is 1,048,576)
CHART_ENDS = 25  # a chart of more regions than twice this shows the first and the last this many places
PICK_MAX = 1000  # a select box offers at most this many options; a longer list is searched
# A table shows this many rows at a time; a longer one has pages (its downloads carry every row). Every
# table of a city fits on one page; a nation's ranking, lists of files, issues, warnings … do not.
PAGE_ROWS = 500
# The pages of a ranking, several highlighted tables to a page (末位 in red: sent to the browser cell by cell).
RANKING_PAGE_ROWS = 100

# Streamlit's Markdown rewrites some text after parsing, where backslash escapes no longer count: bare URLs
# and e-mail addresses become links, -- -> <- >= <= ~= become typographic symbols, :word: becomes an emoji
# or the Streamlit logo. An invisible word joiner (U+2060) between the characters stops each of them.
_REWRITTEN = re.compile(
    r"(?i)(?<=https)(?=:)|(?<=http)(?=:)|(?<=www)(?=\.)|(?<=@)|(?<=[-<>~])(?=[-=>])"
    r"|(?<=:)(?=[\w+-]+:)"
)
_ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def plain(value, missing: str = MISSING) -> str:
    """Text from the data (names, file and sheet names, messages), made safe for every Streamlit surface that
    reads Markdown (st.markdown, caption, headers, alerts, metric values, radio and tab labels): it shows as
    written, never as bold, a link, code, HTML, LaTeX, colour or an icon. Every ASCII punctuation mark is
    backslash-escaped (CommonMark allows it for all of them, and Streamlit's `$`, `:colour[…]` and
    `:material/…:` syntax respect it); line breaks read as spaces; text with bidirectional controls (an
    RTL override) is isolated so it cannot reorder the words around it. Missing values show as `missing`.
    Tables (st.dataframe) and select boxes show plain text already and take the value as it is.
    """
    if is_missing(value):
        return missing
    text = _REWRITTEN.sub("\u2060", re.sub(r"\s+", " ", str(value)))
    text = _ASCII_PUNCTUATION.sub(r"\\\1", text)
    return isolated(text)


class Heading(str):
    """A column heading given as its text rather than as a label key: a heading named after something the
    rulebook says (党委得分 after the role whose score the column holds)."""


def page(title_key: str) -> Filters:
    """Title, then the filters; stops the page with a plain message when there is nothing to show."""
    st.title(t(title_key))
    if not data.available():
        st.info(t("no_warehouse"))
        st.stop()
    filters = current()
    if not data.has_year(filters.year):
        st.info(t("no_data_year", year=filters.year))
        st.stop()
    return filters


class _TableOptions(TypedDict, total=False):
    """The st.dataframe arguments every table passes."""

    hide_index: bool
    key: str
    placeholder: str
    height: int


@dataclass(frozen=True)
class Paged:
    """A table read a page at a time by a named query, for tables too long to read whole on every run:
    `total` rows in all, `rows(offset, limit)` reads those of them."""

    total: int
    rows: Callable[[int, int], pd.DataFrame]


# How a column reads on screen: a `Shown`, the text of each row, or a function of the rows shown giving it.
ShownAs = Shown | pd.Series | Callable[[pd.DataFrame], Iterable]


def pager(total: int, key: str, page_rows: int | None = None) -> int:
    """The position of the first row to show of `total`: with more than `page_rows` (PAGE_ROWS) rows, a page
    picker and which rows are shown of how many; otherwise 0 and nothing drawn."""
    page_rows = page_rows or PAGE_ROWS
    pages = -(-total // page_rows)
    state = f"page_{key}"
    if pages <= 1:
        st.session_state.pop(state, None)  # what `shown_offset` reads: no page chosen
        return 0
    if not 1 <= st.session_state.get(state, 1) <= pages:  # fewer rows now (other filters): the first page
        st.session_state[state] = 1
    left, right = st.columns([1, 5], vertical_alignment="bottom")
    number = int(
        left.number_input(t("page_no", pages=pages), min_value=1, max_value=pages, step=1, key=state)
    )
    offset = (number - 1) * page_rows
    right.caption(t("rows_shown", first=offset + 1, last=min(total, offset + page_rows), total=total))
    return offset


def shown_offset(key: str, page_rows: int | None = None) -> int:
    """The position of the first row `table(…, key=key, page_rows=page_rows)` showed in this run."""
    return (int(st.session_state.get(f"page_{key}", 1)) - 1) * (page_rows or PAGE_ROWS)


def search_box(key: str, label_key: str = "search") -> str:
    """A text box narrowing a long list (its rows are matched by a named query); the text, trimmed."""
    return st.text_input(t(label_key), key=key, placeholder=t("search_placeholder")).strip()


def narrowed(key: str, total: int, count: Callable[[str], int]) -> tuple[str, int | None]:
    """Which of `total` options the select box `key` lists: all of them ("", None) when there are at most
    PICK_MAX; otherwise a search box is drawn, and the text typed in it and PICK_MAX are returned: the named
    query lists the first PICK_MAX options whose name or region holds the text (`count(text)`: how many do).
    """
    if total <= PICK_MAX:
        return "", None
    text = search_box(f"{key}_search", "search_units")
    found = count(text) if text else total
    if found > PICK_MAX:
        st.caption(t("search_more", shown=PICK_MAX, total=found))
    elif not found:
        st.caption(t("search_none"))
    return text, PICK_MAX


def table(
    source: pd.DataFrame | Paged,
    key: str,
    *,
    columns: dict[str, str] | None = None,
    shown_as: dict[str, ShownAs] | None = None,
    select: bool = False,
    height: int | None = None,
    highlight: pd.Series | str | None = None,
    export: str = "export",
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    page_rows: int | None = None,
):
    """A table with CSV and Excel downloads.

    `source` holds the values, or reads them a page at a time (`Paged`); the downloads carry them all as
    they are (numbers stay numbers, text from the data stays text, `exports` neutralising formulas in it).
    A table longer than `page_rows` (default PAGE_ROWS) shows a page at a time, with a page picker.
    `prepare` adds the columns made from the values (labels, bands, remarks): it is given the rows shown,
    and every row when a download is built. `columns` picks, orders and names the columns (column → label
    key, or a `Heading`; default: every column under its own name). `shown_as` says how a column reads on
    screen: a `Shown` (whose Excel number format goes with the download), the text of each row of
    `source`, or a function giving the text of the rows shown. Dates show as dates, missing values as —.
    `highlight` marks rows (e.g. 末位) in light red: a boolean column of the rows, or one value per row of
    `source`. With `select=True` returns the selected row (named by its position in `source`) or None: the
    pages' drill-downs. The downloads are offered only to a viewer holding the `export` capability
    (access/policy.yaml), and each download is recorded in the audit trail.
    """
    total = source.total if isinstance(source, Paged) else len(source)
    if total == 0:
        st.caption(t("no_rows"))
        return None
    page_rows = page_rows or PAGE_ROWS
    offset = pager(total, key, page_rows)
    if isinstance(source, Paged):
        frame = source.rows(offset, page_rows).reset_index(drop=True)
        everything: Callable[[], pd.DataFrame] = partial(source.rows, 0, EXPORT_MAX_ROWS)
    else:
        whole = source.reset_index(drop=True)
        frame = whole.iloc[offset : offset + page_rows].reset_index(drop=True)
        everything = partial(whole.head, EXPORT_MAX_ROWS)
    if prepare:
        frame = prepare(frame)
    shown_as = shown_as or {}
    screen = frame.copy()
    for column, how in shown_as.items():
        if isinstance(how, Shown):
            screen[column] = frame[column].map(how.text)
        elif isinstance(how, pd.Series):
            screen[column] = list(how)[offset : offset + len(frame)]
        else:
            screen[column] = list(how(frame))
    for column in screen.columns:
        if pd.api.types.is_datetime64_any_dtype(screen[column]):
            screen[column] = _when_text(screen[column])
    number_formats = {c: how.excel for c, how in shown_as.items() if isinstance(how, Shown)}
    names: dict[str, str] | None = None
    if columns:
        names = {c: k if isinstance(k, Heading) else t(k) for c, k in columns.items()}
        screen = screen[list(columns)].rename(columns=names)
        number_formats = {names[c]: f for c, f in number_formats.items() if c in names}
    # Each page its own table: a row selected on one page is not selected on the next.
    options: _TableOptions = {
        "hide_index": True,
        "key": f"tbl_{key}" if offset == 0 else f"tbl_{key}_{offset}",
        "placeholder": MISSING,
    }
    if height:
        options["height"] = height
    shown: pd.DataFrame | Styler = screen
    if isinstance(highlight, str):
        marks = frame[highlight].fillna(False).astype(bool).tolist()
    elif highlight is not None:
        marks = list(highlight.fillna(False).astype(bool))[offset : offset + len(frame)]
    else:
        marks = []
    if any(marks):
        # A styled table shows the Styler's text, so it is told how numbers and missing values read.
        styles = pd.DataFrame(
            [[HIGHLIGHT if m else ""] * len(screen.columns) for m in marks],
            index=screen.index,
            columns=screen.columns,
        )
        shown = screen.style.apply(lambda _: styles, axis=None).format(_cell_text, na_rep=MISSING)
    if select:
        event = st.dataframe(shown, on_select="rerun", selection_mode="single-row", **options)
        rows = event.selection.rows if event else []
    else:
        st.dataframe(shown, **options)
        rows = []
    if auth.can(export):

        def download() -> pd.DataFrame:  # every row, built when a download is clicked
            values = everything()
            values = prepare(values) if prepare else values
            return values[list(columns)].rename(columns=names) if columns and names else values

        _downloads(download, min(total, EXPORT_MAX_ROWS), total > EXPORT_MAX_ROWS, key, number_formats)
    if not rows:
        return None
    picked = frame.iloc[rows[0]]
    picked.name = offset + rows[0]
    return picked


def recorded(what: str, build: Callable[[], bytes], **details) -> Callable[[], bytes]:
    """`build` for a download button, recording the download in the audit trail when it is built. That
    happens later, outside this script run: the build reads for the viewer, and speaks the language, of
    this run."""
    viewer = auth.viewer()
    language = lang()

    def build_and_record() -> bytes:
        audit.record("export", viewer.name, viewer.role, what=what, **details)
        with auth.acting_for(viewer), speaking(language):
            return build()

    return build_and_record


def _downloads(
    rows: Callable[[], pd.DataFrame], count: int, capped: bool, key: str, number_formats: dict
) -> None:
    if capped:
        st.caption(t("export_capped", rows=EXPORT_MAX_ROWS))
    csv = recorded(key, lambda: exports.table_to_csv(rows()), format="csv", rows=count)
    xlsx = recorded(
        key,
        lambda: exports.table_to_xlsx(rows(), sheet_title=key[:31], number_formats=number_formats),
        format="xlsx",
        rows=count,
    )
    left, right, _ = st.columns([1, 1, 4])
    # Deferred: the file is built only when someone clicks, so big tables cost nothing to show. No rerun on
    # click ("ignore"): a rerun re-registers every deferred file, and a second click during it was lost.
    left.download_button(
        t("download_csv"),
        csv,
        file_name=f"{key}.csv",
        mime="text/csv",
        key=f"csv_{key}",
        on_click="ignore",
    )
    right.download_button(
        t("download_xlsx"),
        xlsx,
        file_name=f"{key}.xlsx",
        key=f"xlsx_{key}",
        on_click="ignore",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def _cell_text(value) -> str:
    """A float as written by hand (7 not 7.000000, 1.5 not 1.500000); anything else as it is."""
    return f"{value:.6f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _when_text(values: pd.Series) -> pd.Series:
    """Dates as 2024-03-05; with the time when any value has one. Missing stays missing (shown as —)."""
    dated = values.dropna()
    with_time = bool(len(dated)) and bool((dated != dated.dt.normalize()).any())
    text = values.dt.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
    return text.astype(object).where(values.notna(), None)


def open_unit(unit_id: str) -> None:
    # A one-time request the unit page consumes, so the unit's own picker stays free afterwards.
    st.session_state["open_unit"] = unit_id
    st.switch_page(UNIT_PAGE)


def beijing_time(utc) -> str:
    """The marts keep UTC; the office reads Beijing time."""
    when = pd.Timestamp(utc)
    return "" if pd.isna(when) else (when + pd.Timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")


def beijing(utc: pd.Series) -> pd.Series:
    """A column of UTC timestamps in Beijing time (for tables: shown as such, downloaded as date-times)."""
    return pd.to_datetime(utc) + pd.Timedelta(hours=8)


def freshness() -> str:
    info = data.publication()
    when = beijing_time(info.get("published_at"))
    return t("published", when=when, files=int(info.get("source_files") or 0)) if when else ""


# A rectification problem as every list of them shows it (the 整改 page, a unit's page).
PROBLEM_COLUMNS = {
    "source_label": "problem_source",
    "description": "problem",
    "measure": "rect_measure",
    "owner": "owner",
    "deadline": "deadline",
    "note": "note",
    "file": "file",
    "row": "row",
}


def with_source_label(problems: pd.DataFrame) -> pd.DataFrame:
    """The problems with the user's word for where each came from (自查, 督察反馈 …)."""
    return problems.assign(source_label=labels("problem_source", problems["source"]))


def improvement(year: int, scope: str, subject: str, key: str) -> None:
    """What it would take for a unit or region: its path easiest first, the score and rank each step
    reaches, and the smallest set of items that would lift it one place (`improvement_paths`)."""
    st.subheader(t("improvement"), help=t("improvement_help"))
    totals = queries.improvement_totals(year, scope, subject)
    if not totals["items"]:
        st.caption(t("improvement_none"))
        return
    fmt = SCORE.text
    if totals["lift_items"]:
        st.caption(
            t(
                "improvement_totals",
                items=int(totals["items"]),
                points=fmt(totals["points"]),
                lift_items=int(totals["lift_items"]),
                lift_points=fmt(totals["lift_points"]),
            )
        )
    else:
        st.caption(t("improvement_totals_no_lift", items=int(totals["items"]), points=fmt(totals["points"])))
    path = queries.improvement_path(year, scope, subject)
    path = path.assign(
        kind_label=path["kind"].map(lambda k: label("path_kind", k)),
        lift=path["in_smallest_lift"].map({True: "✓", False: ""}),
    )
    table(
        path,
        key=key,
        highlight=path["in_smallest_lift"],
        columns={
            "step": "step",
            "item": "item",
            "kind_label": "improvement_kind",
            "action": "action",
            "due_date": "due_date",
            "points": "points_gained",
            "score_after": "score_after",
            "rank_after": "rank_after",
            "lift": "in_smallest_lift",
        },
        shown_as={"points": SCORE, "score_after": SCORE},
    )
