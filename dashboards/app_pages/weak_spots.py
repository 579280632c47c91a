"""短板: region × duty group heatmap with drill-down, the tasks and requirements lost most often, the
findings (against peers and the unit's own past among them), and what it would take for a region."""

from typing import cast

import pandas as pd
import streamlit as st

from dashboards import figures, queries
from dashboards.formats import RATE, SCORE
from dashboards.i18n import labels, role_labels, t
from dashboards.ui import CHART_ENDS, improvement, open_unit, page, plain, table

f = page("page_weak")
names = role_labels()

if not f.roles:
    st.caption(t("no_rows"))
    st.stop()
role = st.radio(
    t("heatmap_role"), f.roles, horizontal=True, format_func=lambda r: plain(names[r]), key="weak_role"
)

cells = queries.duty_score_rates(f, role)
if cells.empty:
    st.caption(t("no_rows"))
    st.stop()
cells["duty_label"] = cells["duty_no"].astype(str) + ". " + cells["duty"].str.slice(0, 14)
duty_order = cells.sort_values("duty_no")["duty_label"].drop_duplicates().tolist()
# Weakest region first.
region_order = cells.drop_duplicates("region").sort_values(["region_rate", "region"])["region"].tolist()
# More regions than a grid can name (nation scale): the weakest; every region stays in the picker below.
drawn = region_order[: 2 * CHART_ENDS]
if len(drawn) < len(region_order):
    st.caption(t("heatmap_weakest", n=len(drawn), total=len(region_order)))
event = st.plotly_chart(
    figures.heatmap(
        cells[cells["region"].isin(drawn)],
        x="region",
        y="duty_label",
        z="rate",
        title=t("heatmap"),
        z_label=t("score_rate"),
        x_order=drawn,
        y_order=duty_order,
    ),
    on_select="rerun",
    selection_mode="points",
    key="weak_heatmap",
)

# The cell behind a click (or the two pickers, for keyboards and printouts).
points = (event.selection.points if event and event.selection else []) or []
if points:  # categories come back as drawn (escaped for Plotly)
    st.session_state["weak_region"] = figures.data_of(points[0]["x"])
    st.session_state["weak_duty"] = figures.data_of(points[0]["y"])
st.subheader(t("cell_detail"))
st.caption(t("pick_cell"))
left, right = st.columns(2)
if st.session_state.get("weak_region") not in region_order:
    st.session_state["weak_region"] = region_order[0]
if st.session_state.get("weak_duty") not in duty_order:
    st.session_state["weak_duty"] = duty_order[0]
region = left.selectbox(t("region"), region_order, key="weak_region")
duty_label = right.selectbox(t("duty"), duty_order, key="weak_duty")
duty_no = int(duty_label.split(".", 1)[0])
behind = queries.duty_tasks(f.year, role, region, duty_no)
behind["text"] = behind["text"].str.slice(0, 40)
picked = table(
    behind,
    key=f"weak_cell_{f.year}",
    select=True,
    columns={
        "unit_name": "unit_name",
        "task_no": "task_no",
        "text": "task",
        "max_points": "max_points",
        "points": "points",
        "lost_points": "lost_points",
        "flag_note": "flag",
    },
)
if picked is not None:
    open_unit(cast(str, picked["unit_id"]))  # pandas types a cell as any scalar; ids are text

left, right = st.columns(2)
with left:
    st.subheader(t("tasks_lost"))
    tasks = queries.tasks_lost_most(f)
    tasks = tasks.assign(role_label=tasks["role"].map(names), task=tasks["text"].str.slice(0, 30))
    table(
        tasks,
        key=f"tasks_lost_{f.year}",
        columns={
            "role_label": "role",
            "task_no": "task_no",
            "task": "task",
            "units_losing": "units_losing",
            "lost": "lost_points",
        },
        shown_as={"lost": SCORE},
    )
with right:
    st.subheader(t("reqs_missed"))
    reqs = queries.requirements_missed_most(f)
    table(
        reqs,
        key=f"reqs_missed_{f.year}",
        columns={"name": "requirement", "units_losing": "units_losing", "met_rate": "met_rate"},
        shown_as={"met_rate": RATE},
    )

ranked = queries.region_ranking(f)
if len(ranked):
    # weakest ranked region first: the one whose leader most needs the answer
    order = ranked.sort_values(["rank", "region"], ascending=[False, True], na_position="last")[
        "region"
    ].tolist()
    pick = st.selectbox(t("choose_region"), order, key="weak_path_region", format_func=plain)
    improvement(f.year, "region", pick, key=f"region_path_{pick}_{f.year}")


def _in_words(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings as they read: a task by its role and number, scope and severity in words."""
    return findings.assign(
        subject=[
            f"{names[r]} 第{n}项" if sc == "task" else s
            for s, sc, r, n in zip(
                findings["subject"], findings["scope"], findings["role"], findings["task_no"], strict=False
            )
        ],
        scope=labels("scope", findings["scope"]),
        severity=labels("severity", findings["severity"]),
    )


st.subheader(t("findings"))
table(
    queries.weak_spot_findings(f),
    key=f"weak_spots_{f.year}",
    prepare=_in_words,
    columns={
        "severity": "severity",
        "scope": "scope",
        "subject": "subject",
        "item": "metric",
        "note": "note",
    },
)
