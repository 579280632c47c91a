"""会议学习: quarter-by-quarter compliance per unit and requirement; from a gap to the missing periods."""

import streamlit as st

from dashboards import figures, queries
from dashboards.formats import RATE
from dashboards.i18n import role_labels, t
from dashboards.ui import narrowed, open_unit, page, table

# The most units a matrix draws, however many the filters hold: it must stay readable on a projector.
MATRIX_MAX_UNITS = 200

f = page("page_meetings")
roles = role_labels()

summary = queries.requirement_met_rates(f)
if summary.empty:
    st.caption(t("no_rows"))
    st.stop()

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
# Weakest units first, and only so many rows that the matrix stays readable on a projector.
units = queries.requirement_units(f, requirement, roles)
limit = (
    st.slider(
        t("units"),
        min_value=10,
        max_value=max(10, min(units, MATRIX_MAX_UNITS)),
        value=min(40, max(10, units)),
        step=10,
        key="meet_limit",
    )
    if units > 10
    else units
)
chosen = queries.requirement_matrix(f, requirement, roles, limit=limit)
chosen["cell"] = chosen["actual"].map(lambda v: f"{v:g}") + "/" + chosen["required"].map(lambda v: f"{v:g}")
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
search, most = narrowed(
    "meet_gap_unit", queries.gap_unit_total(f), lambda text: queries.gap_unit_total(f, text)
)
gap_units = queries.gap_units(f, search, most)
unit_names = dict(zip(gap_units["unit_id"], gap_units["unit_name"], strict=False))
pick = (
    st.selectbox(
        t("pick_gap_unit"), list(unit_names), key="meet_gap_unit", format_func=unit_names.__getitem__
    )
    if unit_names
    else None
)
if pick is not None:
    table(
        queries.unit_gaps(f, pick),
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
elif not search:
    st.caption(t("no_rows"))

st.subheader(t("study_matrix"))
study = queries.study_matrix(f, roles)
if len(study):
    study["quarter_label"] = "Q" + study["quarter"].astype(str)
    study["cell"] = study["sessions"].astype(str) + "/" + study["required"].astype(str)
    st.plotly_chart(
        figures.met_matrix(
            study,
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
