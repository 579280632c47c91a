"""单位详情: one unit's sheet with lost points, its evidence rows, self-score vs records, where it stands on
the year's requirements and filings, its rectification items, its history."""

import pandas as pd
import streamlit as st

from dashboards import figures, queries
from dashboards.formats import MISSING, RATE, SCORE, fmt_rank_change, fmt_score, fmt_score_change
from dashboards.i18n import fmt_rank, label, role_labels, t
from dashboards.ui import PROBLEM_COLUMNS, improvement, narrowed, page, plain, table, with_source_label

f = page("page_unit")

wanted = st.session_state.pop("open_unit", None)
if wanted is None and "unit_pick" not in st.session_state:  # first visit: a shared link may name the unit
    wanted = st.query_params.get("unit")
# More units than a select box can list (nation scale): found by name or region, the first matches listed.
search, most = narrowed("unit_pick", queries.unit_total(f), lambda text: queries.unit_total(f, text))
# Opened from elsewhere: listed even if the filters hide it; chosen before: listed however long the list.
kept = None if search or most is None else st.session_state.get("unit_pick")
units = queries.unit_choices(f, also=wanted, search=search, limit=most, keep=kept)
if units.empty:
    if not search:
        st.info(t("no_unit"))
    st.stop()
roles = role_labels()
labels: dict[str, str] = {
    unit_id: f"{name}（{roles[role]}，{region}）"
    for unit_id, name, role, region in zip(
        units["unit_id"], units["unit_name"], units["role"], units["region"], strict=True
    )
}
if wanted in labels:
    st.session_state["unit_pick"] = wanted
elif st.session_state.get("unit_pick") not in labels:
    st.session_state["unit_pick"] = next(iter(labels))
unit_id = st.selectbox(t("choose_unit"), list(labels), format_func=labels.__getitem__, key="unit_pick")

me = queries.unit_score(f.year, unit_id)
st.subheader(plain(labels[unit_id]), anchor=False)  # no link named after data
c1, c2, c3, c4 = st.columns(4)
c1.metric(
    t("score"),
    fmt_score(me["score"]) or "—",
    None if pd.isna(me["score_change"]) else fmt_score_change(me["score_change"]),
)
rank_text = fmt_rank(me["rank"], me["tie"])
if pd.notna(me["rank"]):
    rank_text += f" / {int(me['rank_total'])}"
c2.metric(t("rank"), rank_text, None if pd.isna(me["rank_change"]) else fmt_rank_change(me["rank_change"]))
c3.metric(t("status"), plain(label("status", me["status"])))
c4.metric(t("score_source"), plain(label("source", me["score_source"])) or MISSING)
if pd.notna(me["p05"]):
    st.caption(t("band_of", low=int(me["p05"]), high=int(me["p95"]), tier=plain(me["tier_name"])))
if pd.notna(me["applicable_max"]) and me["applicable_max"] < me["max_score"] - 1e-9:
    st.info(
        t(
            "applicable_note",
            applicable=SCORE.text(me["applicable_max"]),
            max=SCORE.text(me["max_score"]),
            rate=RATE.text(me["score_rate"]),
            scaled=SCORE.text(me["scaled_score"]),
        )
    )
if me["is_bottom"]:
    st.error(t("bottom_distinct") if me["distinct_from_above"] is True else t("bottom_close"))
if isinstance(me["source_file"], str):
    st.caption(f"{t('source_file')}：{plain(me['source_file'])}")

st.subheader(t("sheet"))
sheet = queries.unit_sheet(f.year, unit_id)
evidence = sheet["evidence_max"].notna()
sheet["evidence"] = [
    f"{p:g}/{m:g}" if ok else ""
    for p, m, ok in zip(
        sheet["evidence_points"].fillna(0), sheet["evidence_max"].fillna(0), evidence, strict=False
    )
]
table(
    sheet,
    key=f"sheet_{unit_id}_{f.year}",
    highlight=sheet["lost_points"].fillna(0) > 0,
    columns={
        "task_no": "task_no",
        "text": "task",
        "max_points": "max_points",
        "self_points": "self_points",
        "verified_points": "verified_points",
        "points": "points",
        "lost_points": "lost_points",
        "evidence": "evidence_points",
        "flag_note": "flag",
        "file": "file",
        "row": "row",
    },
)

flags = sheet[sheet["flag"] == "evidence_shortfall"]
st.subheader(t("flags"))
table(
    flags,
    key=f"flags_{unit_id}_{f.year}",
    columns={
        "task_no": "task_no",
        "text": "task",
        "points": "points",
        "evidence": "evidence_points",
        "flag_note": "note",
    },
)

st.subheader(t("evidence_rows"))
meetings = queries.unit_meetings(f.year, unit_id)
table(
    meetings,
    key=f"meetings_{unit_id}_{f.year}",
    columns={
        "date": "meeting_date",
        "type_text": "meeting_kind",
        "topic": "topic",
        "types": "meeting_types",
        "is_study": "is_study",
        "hours": "hours",
        "is_duplicate": "is_duplicate",
        "file": "file",
        "sheet": "sheet_name",
        "row": "row",
    },
)

improvement(f.year, "unit", unit_id, key=f"unit_path_{unit_id}_{f.year}")

st.subheader(t("unit_warnings"))
warnings = queries.unit_warnings(f.year, unit_id)
table(
    warnings.assign(state_label=warnings["state"].map(lambda s: label("warning", s))),
    key=f"unit_warnings_{unit_id}_{f.year}",
    columns={
        "name": "requirement",
        "period": "period",
        "due_date": "due_date",
        "state_label": "warning_state",
        "message": "what_is_needed",
    },
    highlight=warnings["state"].isin(queries.ALERT_STATES),
)

st.subheader(t("unit_rectifications"))
problems = queries.unit_rectifications(f.year, unit_id)
table(
    with_source_label(problems),
    key=f"unit_rect_{unit_id}_{f.year}",
    columns=PROBLEM_COLUMNS,
    highlight=problems["overdue_days"].notna(),
)

st.subheader(t("history"))
past = queries.unit_history(unit_id)
st.plotly_chart(
    figures.history(past, title=t("history"), score_label=t("score"), rank_label=t("rank")),
    key="unit_history",
)
