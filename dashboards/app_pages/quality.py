"""数据质量: files received, loaded, superseded, rejected; every issue in Chinese; what each unit must be told
(summarised per file, with its notice to download); who submitted nothing."""

from functools import partial

import pandas as pd
import streamlit as st

from dashboards import auth, data, figures, queries, ui
from dashboards.formats import MISSING, fmt_score, is_missing
from dashboards.i18n import fmt_rank, label, role_labels, t
from dashboards.ui import beijing, page, plain, recorded
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


def _text(value) -> str:
    """A value as a select box shows it (plain text): — when missing, a row number without a decimal point."""
    if is_missing(value):
        return MISSING
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


# The files of the year its units' regions and roles allow, and those no filter can apply to (see queries).
files = queries.submissions(f)
files["loaded_at"] = beijing(files["loaded_at"])
counts = files["status"].value_counts()
files["status_label"] = files["status"].map(lambda v: label("file_status", v))
files["kind_label"] = files["kind"].map(lambda v: label("kind", v))
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric(t("files_received"), len(files))
c2.metric(t("files_loaded"), int(counts.get("loaded", 0)))
c3.metric(t("files_partial"), int(counts.get("partially_loaded", 0)))
c4.metric(t("files_superseded"), int(counts.get("superseded", 0)))
c5.metric(t("files_rejected"), int(counts.get("rejected", 0)))
st.caption(
    f"{t('rows_read')} {int(files['rows_read'].sum())} = {t('rows_loaded')} {int(files['rows_loaded'].sum())}"
    f" + {t('rows_rejected')} {int(files['rows_rejected'].sum())}"
)

st.subheader(t("issues"))
issues = queries.issues(f)
st.caption(t("issue_totals", n=len(issues), errors=int((issues["severity"] == "error").sum())))
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
codes = right.multiselect(t("code"), sorted(by_code["code"]), key="quality_codes", placeholder=t("all"))
shown = issues[(issues["severity"] == "error") | (not errors_only)]
if codes:
    shown = shown[shown["code"].isin(codes)]
shown = shown.sort_values(["severity", "file", "row"]).reset_index(drop=True)
shown["severity_label"] = shown["severity"].map(lambda s: t(f"severity_{s}"))
picked = table(
    shown,
    key=f"issues_{f.year}",
    select=True,
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
choices = shown.index.tolist()
if choices:
    if picked is not None:
        st.session_state["quality_issue"] = picked
    if st.session_state.get("quality_issue") not in choices:
        st.session_state["quality_issue"] = choices[0]
    pick = st.selectbox(
        t("issue_detail"),
        choices,
        key="quality_issue",
        label_visibility="collapsed",
        format_func=lambda i: " · ".join(
            (
                _text(shown.at[i, "file"]),
                _text(shown.at[i, "sheet"]),
                f"{t('row')} {_text(shown.at[i, 'row'])}",
                _text(shown.at[i, "code"]),
            )
        ),
    )
    issue = shown.loc[pick]
    st.markdown(
        f"**{t('file')}**：{plain(issue['file'])}　**{t('sheet_name')}**：{plain(issue['sheet'])}　"
        f"**{t('row')}**：{plain(issue['row'])}"
    )
    st.warning(plain(issue["message"]))
    table(
        files[files["file"] == issue["file"]],
        key=f"issue_file_{f.year}",
        columns={**FILE_COLUMNS, "loaded_at": "loaded_at"},
    )

st.subheader(t("feedback"))
st.caption(t("feedback_help"))
# The notices read what this viewer may read (a liaison: its region's units only, by the mart's row filter).
year_notices, unresolved = notices.load(data.query, f.year)
year_notices = [n for n in year_notices if n.role in f.roles and (not f.regions or n.region in f.regions)]
if not year_notices:
    st.caption(t("feedback_none"))
else:
    items = pd.concat([n.items for n in year_notices], ignore_index=True)
    items["category_label"] = items["category"].map(lambda v: label("feedback", v))
    items["rows"] = [notices.rows_text(item) for _, item in items.iterrows()]
    st.caption(
        t(
            "feedback_totals",
            units=len(year_notices),
            items=len(items),
            rows=int(items["rows_affected"].sum()),
        )
    )
    table(
        items,
        key=f"feedback_{f.year}",
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
    by_unit = {n.unit_id: n for n in year_notices}
    chosen = st.selectbox(
        t("feedback_unit"),
        list(by_unit),
        key="feedback_unit",
        format_func=lambda u: t(
            "feedback_unit_option",
            region=by_unit[u].region or MISSING,
            unit=by_unit[u].unit_name,
            n=len(by_unit[u].items),
        ),
    )
    if auth.can("export_quality") and chosen in by_unit:
        notice = by_unit[chosen]
        issued_on = today()
        left, right = st.columns(2)
        # Built when clicked, recorded in the audit trail like every download.
        left.download_button(
            t("feedback_download_unit"),
            recorded(
                f"notice_{f.year}",
                lambda: notices.notice_docx(notice, issued_on),
                format="docx",
                unit=notice.unit_id,
            ),
            file_name=notice.file_name,
            mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            key="feedback_notice",
            on_click="ignore",
        )
        right.download_button(
            t("feedback_download_all", n=len(year_notices)),
            recorded(
                f"notices_{f.year}",
                lambda: notices.notices_zip(year_notices, issued_on),
                format="zip",
                units=len(year_notices),
            ),
            file_name=notices.ZIP_NAME.format(year=f.year),
            mime="application/zip",
            key="feedback_notices_zip",
            on_click="ignore",
        )
if len(unresolved):
    st.subheader(t("feedback_unresolved"))
    st.caption(t("feedback_unresolved_help"))
    unresolved = unresolved.assign(rows=[notices.rows_text(item) for _, item in unresolved.iterrows()])
    table(
        unresolved,
        key=f"feedback_unresolved_{f.year}",
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
    files,
    key=f"files_{f.year}",
    columns=FILE_COLUMNS,
)

st.subheader(t("nothing_submitted"))
missing = queries.nothing_submitted(f)
missing["role"] = missing["role"].map(role_labels())
table(
    missing,
    key=f"nothing_{f.year}",
    columns={"unit_name": "unit_name", "region": "region", "role": "role"},
)
