"""会议学习: quarter-by-quarter compliance per unit and requirement; from a gap to the missing periods."""

import streamlit as st

from dashboards import figures, queries
from dashboards.formats import RATE
from dashboards.i18n import role_labels, t
from dashboards.ui import open_unit, page, table

f = page("page_meetings")
roles = role_labels()

compliance = queries.requirement_compliance(f)
if compliance.empty:
    st.caption(t("no_rows"))
    st.stop()

summary = queries.requirement_met_rates(f)
table(
    summary,
    key=f"requirement_rates_{f.year}",
    columns={"requirement": "requirement", "met_rate": "met_rate", "units_losing": "units_losing"},
    shown_as={"met_rate": RATE},
)

names = dict(zip(summary["requirement_id"], summary["requirement"], strict=False))
requirement = st.selectbox(
    t("requirement"), list(summary["requirement_id"]), format_func=names.__getitem__, key="meet_requirement"
)
chosen = compliance[compliance["requirement_id"] == requirement].copy()
chosen["label"] = chosen["unit_name"] + "（" + chosen["role"].map(roles) + "）"
chosen["cell"] = chosen["actual"].map(lambda v: f"{v:g}") + "/" + chosen["required"].map(lambda v: f"{v:g}")
# Weakest units first, and only so many rows that the matrix stays readable on a projector.
order = (
    chosen.drop_duplicates("label").sort_values(["unit_met_rate", "label"], kind="stable")["label"].tolist()
)
limit = (
    st.slider(
        t("units"),
        min_value=10,
        max_value=max(10, len(order)),
        value=min(40, max(10, len(order))),
        step=10,
        key="meet_limit",
    )
    if len(order) > 10
    else len(order)
)
chosen = chosen[chosen["label"].isin(order[:limit])]
periods = sorted(chosen["period"].unique(), key=lambda p: (len(p), p))
st.plotly_chart(
    figures.met_matrix(
        chosen,
        row="label",
        col="period",
        met="met",
        text="cell",
        title=f"{t('compliance_matrix')} · {names[requirement]}",
        met_label=t("met"),
        not_met_label=t("gaps"),
        col_order=periods,
    ),
    key="meet_matrix",
)

st.subheader(t("gaps"))
gaps = compliance[~compliance["met"]].sort_values(["unit_name", "requirement_id", "period"])
units = gaps.drop_duplicates("unit_id")[["unit_id", "unit_name", "role"]]
if len(units):
    unit_names = dict(zip(units["unit_id"], units["unit_name"], strict=False))
    pick = st.selectbox(
        t("pick_gap_unit"), list(unit_names), key="meet_gap_unit", format_func=unit_names.__getitem__
    )
    unit_gaps = gaps[gaps["unit_id"] == pick]
    table(
        unit_gaps,
        key=f"gaps_{pick}_{f.year}",
        columns={
            "requirement": "requirement",
            "period": "period",
            "required": "required",
            "actual": "actual",
        },
    )
    if st.button(t("go_unit"), key="meet_go_unit"):
        open_unit(pick)
else:
    st.caption(t("no_rows"))

st.subheader(t("study_matrix"))
study = queries.study_sessions(f)
if len(study):
    study["label"] = study["unit_name"] + "（" + study["role"].map(roles) + "）"
    study["quarter_label"] = "Q" + study["quarter"].astype(str)
    study["cell"] = study["sessions"].astype(str) + "/" + study["required"].astype(str)
    weakest = study.drop_duplicates("label").sort_values(["unit_met_rate", "label"], kind="stable")["label"][
        :40
    ]
    st.plotly_chart(
        figures.met_matrix(
            study[study["label"].isin(weakest)],
            row="label",
            col="quarter_label",
            met="met",
            text="cell",
            title=t("study_matrix"),
            met_label=t("met"),
            not_met_label=t("gaps"),
            col_order=["Q1", "Q2", "Q3", "Q4"],
        ),
        key="study_matrix",
    )
else:
    st.caption(t("no_rows"))
