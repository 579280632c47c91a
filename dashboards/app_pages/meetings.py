"""会议学习: quarter-by-quarter compliance per unit and requirement; from a gap to the missing periods."""
import streamlit as st

from dashboards import data, figures
from dashboards.formats import RATE
from dashboards.i18n import role_label, t
from dashboards.ui import open_unit, page, table

f = page("page_meetings")

compliance = data.query(f"""
    select c.period, c.unit_id, u.unit_name, c.region, c.role, c.requirement_id, r.name as requirement,
           r.period as cadence, c.required, c.actual, c.met
    from marts.requirement_compliance c
    join marts.units u using (unit_id, role)
    join marts.rulebook_requirements r using (requirement_id)
    where {f.where('c')}""", **f.params)
if compliance.empty:
    st.caption(t("no_rows"))
    st.stop()

summary = (compliance.groupby(["requirement_id", "requirement"], as_index=False)
           .agg(met_rate=("met", "mean"), missed=("met", lambda m: int((~m).sum())), total=("met", "size")))
summary = summary.sort_values("met_rate")
summary["units_losing"] = summary["missed"].astype(str) + "/" + summary["total"].astype(str)
table(summary, key=f"requirement_rates_{f.year}",
      columns={"requirement": "requirement", "met_rate": "met_rate", "units_losing": "units_losing"},
      shown_as={"met_rate": RATE})

names = dict(zip(summary["requirement_id"], summary["requirement"]))
requirement = st.selectbox(t("requirement"), list(summary["requirement_id"]), format_func=names.get,
                           key="meet_requirement")
chosen = compliance[compliance["requirement_id"] == requirement].copy()
chosen["label"] = chosen["unit_name"] + "（" + chosen["role"].map(role_label) + "）"
chosen["cell"] = (chosen["actual"].map(lambda v: f"{v:g}") + "/" + chosen["required"].map(lambda v: f"{v:g}"))
# Weakest units first, and only so many rows that the matrix stays readable on a projector.
order = chosen.groupby("label")["met"].mean().sort_values(kind="stable").index
limit = st.slider(t("units"), min_value=10, max_value=max(10, len(order)), value=min(40, max(10, len(order))),
                  step=10, key="meet_limit") if len(order) > 10 else len(order)
chosen = chosen[chosen["label"].isin(order[:limit])]
periods = sorted(chosen["period"].unique(), key=lambda p: (len(p), p))
st.plotly_chart(figures.met_matrix(chosen, row="label", col="period", met="met", text="cell",
                                   title=f"{t('compliance_matrix')} · {names[requirement]}",
                                   met_label=t("met"), not_met_label=t("gaps"), col_order=periods),
                key="meet_matrix")

st.subheader(t("gaps"))
gaps = compliance[~compliance["met"]].sort_values(["unit_name", "requirement_id", "period"])
units = gaps.drop_duplicates("unit_id")[["unit_id", "unit_name", "role"]]
if len(units):
    unit_names = dict(zip(units["unit_id"], units["unit_name"]))
    pick = st.selectbox(t("pick_gap_unit"), list(unit_names), key="meet_gap_unit", format_func=unit_names.get)
    unit_gaps = gaps[gaps["unit_id"] == pick]
    table(unit_gaps, key=f"gaps_{pick}_{f.year}",
          columns={"requirement": "requirement", "period": "period", "required": "required", "actual": "actual"})
    if st.button(t("go_unit"), key="meet_go_unit"):
        open_unit(pick)
else:
    st.caption(t("no_rows"))

st.subheader(t("study_matrix"))
study = data.query(f"""
    select q.quarter, q.unit_id, u.unit_name, q.role, q.sessions, q.required, q.met
    from marts.study_sessions_quarterly q join marts.units u using (unit_id, role)
    where {f.where('q')}""", **f.params)
if len(study):
    study["label"] = study["unit_name"] + "（" + study["role"].map(role_label) + "）"
    study["quarter_label"] = "Q" + study["quarter"].astype(str)
    study["cell"] = study["sessions"].astype(str) + "/" + study["required"].astype(str)
    weakest = study.groupby("label")["met"].mean().sort_values(kind="stable").index[:40]
    st.plotly_chart(figures.met_matrix(study[study["label"].isin(weakest)], row="label", col="quarter_label",
                                       met="met", text="cell", title=t("study_matrix"), met_label=t("met"),
                                       not_met_label=t("gaps"), col_order=["Q1", "Q2", "Q3", "Q4"]),
                    key="study_matrix")
else:
    st.caption(t("no_rows"))
