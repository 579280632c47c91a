"""预警: where each unit stands on the year's requirements and filings as of the computation date —
what is at risk, overdue or unmet, by region and then unit by unit, each with what is still needed and
by when."""

import pandas as pd
import streamlit as st

from dashboards import queries
from dashboards.i18n import label, labels, role_labels, t
from dashboards.ui import Paged, page, table

f = page("page_warnings")

as_of = queries.as_of()
if as_of is None:
    st.info(t("warnings_unavailable"))
    st.stop()
st.caption(t("as_of_note", date=as_of.strftime("%Y-%m-%d")))

counts = queries.warning_counts(f)
columns = st.columns(len(queries.ALERT_STATES))
for column, state in zip(columns, queries.ALERT_STATES, strict=True):
    column.metric(label("warning", state), counts.get(state, 0))

states = st.multiselect(
    t("warning_states"),
    list(queries.ALERT_STATES),
    default=list(queries.ALERT_STATES),
    format_func=lambda s: label("warning", s),
    key="warning_states",
)
chosen = tuple(states) or queries.ALERT_STATES

st.subheader(t("warnings_by_region"))
table(
    queries.warnings_by_region(f, chosen),
    key=f"warnings_regions_{f.year}",
    columns={"region": "region", "units": "units_warned", **{s: f"warning_{s}" for s in chosen}},
)


def _in_words(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(
        role_label=rows["role"].map(role_labels()),
        state_label=labels("warning", rows["state"]),
    )


st.subheader(t("warnings_by_unit"))
table(
    Paged(
        queries.warnings_total(f, chosen),
        lambda offset, limit: queries.warnings_list(f, chosen, offset, limit),
    ),
    key=f"warnings_units_{f.year}",
    prepare=_in_words,
    columns={
        "region": "region",
        "unit_name": "unit_name",
        "role_label": "role",
        "state_label": "warning_state",
        "name": "requirement",
        "period": "period",
        "due_date": "due_date",
        "message": "what_is_needed",
    },
)
