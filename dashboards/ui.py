"""Pieces every page uses: the empty states, tables with their downloads, the jump to a unit."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import data, exports
from dashboards.filters import Filters, current
from dashboards.i18n import t
from dashboards.pages import UNIT_PAGE

HIGHLIGHT = "background-color: #fde0e0"


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


def labelled(frame: pd.DataFrame, columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Keep `columns` (column → label key; default: every column, named by its label key) in order,
    under the user's labels."""
    columns = columns or {c: c for c in frame.columns}
    return frame[list(columns)].rename(columns={c: t(k) for c, k in columns.items()})


def table(frame: pd.DataFrame, key: str, *, select: bool = False, height: int | None = None,
          highlight: pd.Series | None = None, **kwargs):
    """A table with CSV and Excel downloads (through `exports`, which keeps text as text).

    `highlight` marks rows (e.g. 末位) in light red. With `select=True` returns the selected row
    position (or None): the pages' drill-downs.
    """
    if frame.empty:
        st.caption(t("no_rows"))
        return None
    frame = frame.reset_index(drop=True)
    options = dict(hide_index=True, key=f"tbl_{key}", **kwargs)
    if height:
        options["height"] = height
    shown = frame
    if highlight is not None and highlight.any():
        marks = list(highlight.fillna(False))
        shown = frame.style.apply(lambda row: [HIGHLIGHT if marks[row.name] else ""] * len(row), axis=1)
    if select:
        event = st.dataframe(shown, on_select="rerun", selection_mode="single-row", **options)
        rows = event.selection.rows if event else []
    else:
        st.dataframe(shown, **options)
        rows = []
    left, right, _ = st.columns([1, 1, 4])
    # Deferred: the file is built only when someone clicks, so big tables cost nothing to show. No rerun on
    # click ("ignore"): a rerun re-registers every deferred file, and a second click during it was lost.
    left.download_button(t("download_csv"), lambda: exports.table_to_csv(frame), file_name=f"{key}.csv",
                         mime="text/csv", key=f"csv_{key}", on_click="ignore")
    right.download_button(t("download_xlsx"), lambda: exports.table_to_xlsx(frame, sheet_title=key[:31]),
                          file_name=f"{key}.xlsx", key=f"xlsx_{key}", on_click="ignore",
                          mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return rows[0] if rows else None


def open_unit(unit_id: str) -> None:
    # A one-time request the unit page consumes, so the unit's own picker stays free afterwards.
    st.session_state["open_unit"] = unit_id
    st.switch_page(UNIT_PAGE)


def beijing_time(utc) -> str:
    """The marts keep UTC; the office reads Beijing time."""
    when = pd.Timestamp(utc)
    return "" if pd.isna(when) else (when + pd.Timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")


def freshness() -> str:
    info = data.publication()
    when = beijing_time(info.get("published_at"))
    return t("published", when=when, files=int(info.get("source_files") or 0)) if when else ""
