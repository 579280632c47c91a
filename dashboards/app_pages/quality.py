"""数据质量: files received, loaded, superseded, rejected; every issue in Chinese; what each unit must be told
(summarised per file, with its notice to download); who submitted nothing."""

from functools import partial
from typing import cast

import pandas as pd
import streamlit as st

from dashboards import auth, data, figures, queries, ui
from dashboards.formats import MISSING, fmt_score, is_missing
from dashboards.i18n import fmt_rank, label, labels, role_labels, t
from dashboards.ui import PAGE_ROWS, Paged, beijing, narrowed, page, plain, recorded, shown_offset
from pipelines.lib import notices
from pipelines.lib.warehouse import today

# Every list on this page is a data-quality list: its downloads follow that capability.
table = partial(ui.table, export="export_quality")
# A submitted file as both file lists show it (the one under an issue adds when it was loaded).
FILE_COLUMNS = {
    "file": "file",
    "kind_label": "kind",
    "unit_name": "unit",
    "status_label": "status",
    "rows_read": "rows_read",
    "rows_loaded": "rows_loaded",
    "rows_rejected": "rows_rejected",
    "superseded_by": "superseded_by",
}

f = page("page_quality")


def _text(value, missing: str = MISSING) -> str:
    """A value as a select box shows it (plain text): — when missing, a row number without a decimal point."""
    if is_missing(value):
        return missing
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _files_in_words(files: pd.DataFrame) -> pd.DataFrame:
    """Files as the lists show them: loaded in Beijing time, status and kind in words."""
    return files.assign(
        loaded_at=beijing(files["loaded_at"]),
        status_label=labels("file_status", files["status"]),
        kind_label=labels("kind", files["kind"]),
    )


def _notice_docx(year: int, unit_id: str, issued_on) -> bytes:
    notice = queries.unit_notice(year, unit_id)
    if notice is None:  # republished meanwhile, with nothing to tell the unit any more
        raise ValueError(f"no notice for {unit_id} in {year}")
    return notices.notice_docx(notice, issued_on)


def _where_in_sheet(items: pd.DataFrame) -> pd.DataFrame:
    """Feedback items with where each is in its sheet, in words (one row, or a summary's examples)."""
    # Each row as a mapping (rows_text reads it by name): far cheaper than a Series per row.
    return items.assign(rows=[notices.rows_text(cast(pd.Series, item)) for item in items.to_dict("records")])


issues_key = f"issues_{f.year}"
errors_only_now = st.session_state.get("quality_errors_only", True)
codes_now = tuple(st.session_state.get("quality_codes", ()))
# The page's longest reads, at once (see data.prefetch); each is asked for again where it is drawn.
data.prefetch(
    lambda: queries.submission_totals(f),
    lambda: queries.issue_counts(f),
    lambda: queries.issues(f, errors_only_now, codes_now, shown_offset(issues_key), PAGE_ROWS),
    lambda: queries.feedback_totals(f),
    lambda: queries.feedback_items(f, shown_offset(f"feedback_{f.year}"), PAGE_ROWS),
    lambda: queries.submissions(f, shown_offset(f"files_{f.year}"), PAGE_ROWS),
    lambda: queries.nothing_submitted(f),
    lambda: queries.unresolved_feedback(f.year),
)

# The files of the year its units' regions and roles allow, and those no filter can apply to (see queries).
totals = queries.submission_totals(f)
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric(t("files_received"), totals["files"])
c2.metric(t("files_loaded"), totals.get("loaded", 0))
c3.metric(t("files_partial"), totals.get("partially_loaded", 0))
c4.metric(t("files_superseded"), totals.get("superseded", 0))
c5.metric(t("files_rejected"), totals.get("rejected", 0))
st.caption(
    f"{t('rows_read')} {totals['rows_read']} = {t('rows_loaded')} {totals['rows_loaded']}"
    f" + {t('rows_rejected')} {totals['rows_rejected']}"
)

st.subheader(t("issues"))
issue_totals = queries.issue_totals(f)
st.caption(t("issue_totals", n=issue_totals["issues"], errors=issue_totals["errors"]))
by_code = queries.issue_counts(f)
if len(by_code):
    st.plotly_chart(
        figures.count_bar(
            by_code,
            label="code",
            value="n",
            title=t("issue_counts"),
            color="severity",
            colors={"error": "#c62828", "warning": "#ef6c00"},
        ),
        key="issue_counts",
    )
left, right = st.columns(2)
errors_only = left.toggle(t("error_only"), value=True, key="quality_errors_only")
codes = tuple(
    right.multiselect(t("code"), sorted(by_code["code"]), key="quality_codes", placeholder=t("all"))
)
# Sorted by severity, file and row, read a page at a time (hundreds of thousands at nation scale).
shown = Paged(
    queries.issue_total(f, errors_only, codes),
    lambda offset, limit: queries.issues(f, errors_only, codes, offset, limit),
)
picked = table(
    shown,
    key=issues_key,
    select=True,
    prepare=lambda rows: rows.assign(
        severity_label=rows["severity"].map({s: t(f"severity_{s}") for s in rows["severity"].unique()})
    ),
    columns={
        "file": "file",
        "sheet": "sheet_name",
        "row": "row",
        "unit": "unit",
        "severity_label": "severity",
        "code": "code",
        "message": "message",
    },
)

st.subheader(t("issue_detail"))
# The issues of the page shown above, by their position in the whole list.
offset = shown_offset(issues_key)
on_page = shown.rows(offset, PAGE_ROWS) if shown.total else pd.DataFrame()
row_word = t("row")
described = (
    {
        offset + n: " · ".join((_text(file), _text(sheet), f"{row_word} {_text(row)}", _text(code)))
        for n, (file, sheet, row, code) in enumerate(
            zip(*(on_page[c].tolist() for c in ("file", "sheet", "row", "code")), strict=True)
        )
    }
    if len(on_page)
    else {}
)
choices = list(described)
if choices:
    if picked is not None:
        st.session_state["quality_issue"] = picked.name
    if st.session_state.get("quality_issue") not in choices:
        st.session_state["quality_issue"] = choices[0]
    pick = st.selectbox(
        t("issue_detail"),
        choices,
        key="quality_issue",
        label_visibility="collapsed",
        format_func=described.__getitem__,
    )
    issue = on_page.loc[pick - offset]
    st.markdown(
        f"**{t('file')}**：{plain(issue['file'])}　**{t('sheet_name')}**：{plain(issue['sheet'])}　"
        f"**{t('row')}**：{plain(issue['row'])}"
    )
    st.warning(plain(issue["message"]))
    table(
        queries.submission_file(f, str(issue["file"])),
        key=f"issue_file_{f.year}",
        prepare=_files_in_words,
        columns={**FILE_COLUMNS, "loaded_at": "loaded_at"},
    )

st.subheader(t("feedback"))
st.caption(t("feedback_help"))
# What this viewer may read (a liaison: its region's units only, by the mart's row filter), in the notices'
# order, a page at a time.
feedback = queries.feedback_totals(f)
if not feedback["units"]:
    st.caption(t("feedback_none"))
else:
    st.caption(t("feedback_totals", units=feedback["units"], items=feedback["items"], rows=feedback["rows"]))
    table(
        Paged(feedback["items"], lambda offset, limit: queries.feedback_items(f, offset, limit)),
        key=f"feedback_{f.year}",
        prepare=lambda items: _where_in_sheet(
            items.assign(category_label=labels("feedback", items["category"]))
        ),
        columns={
            "unit_name": "unit",
            "region": "region",
            "category_label": "feedback_category",
            "file": "file",
            "sheet": "sheet_name",
            "rows": "row",
            "message": "message",
            "action": "feedback_action",
            "resubmit_by": "feedback_resubmit_by",
        },
    )
    search, most = narrowed(
        "feedback_unit", feedback["units"], lambda text: queries.feedback_unit_total(f, text)
    )
    told = queries.feedback_units(f, search, most)
    by_unit = {
        u: t("feedback_unit_option", region=_text(r), unit=_text(name, ""), n=int(n))
        for u, r, name, n in zip(told["unit_id"], told["region"], told["unit_name"], told["n"], strict=True)
    }
    chosen = (
        st.selectbox(t("feedback_unit"), list(by_unit), key="feedback_unit", format_func=by_unit.__getitem__)
        if by_unit
        else None
    )
    if auth.can("export_quality") and chosen is not None:
        # The notice is read when its download is clicked; its file's name is the notice's own.
        named = told[told["unit_id"] == chosen].iloc[0]
        file_name = queries.notice_file_name(f.year, chosen, named["unit_name"], named["region"])
        issued_on = today()
        left, right = st.columns(2)
        # Built when clicked, recorded in the audit trail like every download.
        left.download_button(
            t("feedback_download_unit"),
            recorded(
                f"notice_{f.year}",
                partial(_notice_docx, f.year, chosen, issued_on),
                format="docx",
                unit=chosen,
            ),
            file_name=file_name,
            mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            key="feedback_notice",
            on_click="ignore",
        )
        right.download_button(
            t("feedback_download_all", n=feedback["units"]),
            recorded(
                f"notices_{f.year}",
                lambda: notices.notices_zip(queries.year_notices(f), issued_on),
                format="zip",
                units=feedback["units"],
            ),
            file_name=notices.ZIP_NAME.format(year=f.year),
            mime="application/zip",
            key="feedback_notices_zip",
            on_click="ignore",
        )
unresolved = queries.unresolved_feedback(f.year)
if len(unresolved):
    st.subheader(t("feedback_unresolved"))
    st.caption(t("feedback_unresolved_help"))
    table(
        unresolved,
        key=f"feedback_unresolved_{f.year}",
        prepare=_where_in_sheet,
        columns={
            "unit_text": "feedback_unit_text",
            "file": "file",
            "sheet": "sheet_name",
            "rows": "row",
            "message": "message",
        },
    )

st.subheader(t("restatements"))
changed = queries.restatements_in_scope(f)
if changed.empty:
    st.caption(t("no_restatements"))
else:
    number = {"score": fmt_score, "rank": lambda v: fmt_rank(v, False)}
    changed = changed.assign(
        scope=changed["scope"].map(lambda v: label("scope", v)),
        measure_label=changed["measure"].map(t),
        restated_at=beijing(changed["restated_at"]),
    )
    table(
        changed,
        key=f"restatements_{f.year}",
        columns={
            "restated_at": "restated_at",
            "scope": "scope",
            "subject": "subject",
            "measure_label": "measure",
            "old_value": "old_value",
            "new_value": "new_value",
            "reason": "reason",
        },
        shown_as={
            "old_value": pd.Series(
                [number[m](v) for m, v in zip(changed["measure"], changed["old_value"], strict=False)]
            ),
            "new_value": pd.Series(
                [number[m](v) for m, v in zip(changed["measure"], changed["new_value"], strict=False)]
            ),
        },
    )

st.subheader(t("submissions"))
table(
    Paged(totals["files"], lambda offset, limit: queries.submissions(f, offset, limit)),
    key=f"files_{f.year}",
    prepare=_files_in_words,
    columns=FILE_COLUMNS,
)

st.subheader(t("nothing_submitted"))
table(
    queries.nothing_submitted(f),
    key=f"nothing_{f.year}",
    prepare=lambda missing: missing.assign(role=missing["role"].map(role_labels())),
    columns={"unit_name": "unit_name", "region": "region", "role": "role"},
)
