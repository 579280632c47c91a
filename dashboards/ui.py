"""Pieces every page uses: the empty states, tables with their downloads, data as plain text, the jump to a
unit."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, TypedDict

import pandas as pd
import streamlit as st

from access import audit
from dashboards import auth, data, exports, queries
from dashboards.filters import Filters, current
from dashboards.formats import MISSING, SCORE, Shown, is_missing, isolated
from dashboards.i18n import label, t
from dashboards.pages import UNIT_PAGE

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

HIGHLIGHT = "background-color: #fde0e0"
EXPORT_MAX_ROWS = 500_000  # a download carries at most this many rows (Excel's limit is 1,048,576)

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


def table(
    frame: pd.DataFrame,
    key: str,
    *,
    columns: dict[str, str] | None = None,
    shown_as: dict[str, Shown | pd.Series] | None = None,
    select: bool = False,
    height: int | None = None,
    highlight: pd.Series | None = None,
    export: str = "export",
):
    """A table with CSV and Excel downloads.

    `frame` holds the values; the downloads carry them as they are (numbers stay numbers, text from the
    data stays text, `exports` neutralising formulas in it). `columns` picks, orders and names the columns
    (column → label key, or a `Heading`; default: every column under its own name). `shown_as` says how a
    column reads on screen: a `Shown` (whose Excel number format goes with the download) or the text of each
    row. Dates show as dates, missing values as —. `highlight` marks rows (e.g. 末位) in light red. With `select=True`
    returns the selected row position (or None): the pages' drill-downs. The downloads are offered only to a
    viewer holding the `export` capability (access/policy.yaml), and each download is recorded in the audit trail.
    """
    if frame.empty:
        st.caption(t("no_rows"))
        return None
    frame = frame.reset_index(drop=True)
    shown_as = shown_as or {}
    screen = frame.copy()
    for column, how in shown_as.items():
        screen[column] = list(how) if isinstance(how, pd.Series) else frame[column].map(how.text)
    for column in screen.columns:
        if pd.api.types.is_datetime64_any_dtype(screen[column]):
            screen[column] = _when_text(screen[column])
    number_formats = {c: how.excel for c, how in shown_as.items() if isinstance(how, Shown)}
    if columns:
        names = {c: k if isinstance(k, Heading) else t(k) for c, k in columns.items()}
        frame, screen = (f[list(columns)].rename(columns=names) for f in (frame, screen))
        number_formats = {names[c]: f for c, f in number_formats.items() if c in names}
    options: _TableOptions = {"hide_index": True, "key": f"tbl_{key}", "placeholder": MISSING}
    if height:
        options["height"] = height
    shown: pd.DataFrame | Styler = screen
    if highlight is not None and highlight.any():
        marks = list(highlight.fillna(False))
        # A styled table shows the Styler's text, so it is told how numbers and missing values read.
        shown = screen.style.apply(
            lambda row: [HIGHLIGHT if marks[row.name] else ""] * len(row), axis=1
        ).format(_cell_text, na_rep=MISSING)
    if select:
        event = st.dataframe(shown, on_select="rerun", selection_mode="single-row", **options)
        rows = event.selection.rows if event else []
    else:
        st.dataframe(shown, **options)
        rows = []
    if auth.can(export):
        _downloads(frame, key, number_formats)
    return rows[0] if rows else None


def recorded(what: str, build: Callable[[], bytes], **details) -> Callable[[], bytes]:
    """`build` for a download button, recording the download in the audit trail when it is built. That
    happens later, outside this script run, so the viewer is taken now."""
    viewer = auth.viewer()

    def build_and_record() -> bytes:
        audit.record("export", viewer.name, viewer.role, what=what, **details)
        return build()

    return build_and_record


def _downloads(frame: pd.DataFrame, key: str, number_formats: dict) -> None:
    if len(frame) > EXPORT_MAX_ROWS:
        st.caption(t("export_capped", rows=EXPORT_MAX_ROWS))
        frame = frame.head(EXPORT_MAX_ROWS)
    csv = recorded(key, lambda: exports.table_to_csv(frame), format="csv", rows=len(frame))
    xlsx = recorded(
        key,
        lambda: exports.table_to_xlsx(frame, sheet_title=key[:31], number_formats=number_formats),
        format="xlsx",
        rows=len(frame),
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
    return problems.assign(source_label=problems["source"].map(lambda s: label("problem_source", s)))


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
