"""整改: where the year stands in the inspection calendar, the overdue problems first, completion by
region, the units the rectification rules flag, and every problem."""

import streamlit as st

from dashboards import queries
from dashboards.formats import RATE
from dashboards.i18n import label, t
from dashboards.ui import PROBLEM_COLUMNS, Paged, page, table, with_source_label

f = page("page_rectification")

as_of = queries.as_of()
if as_of is not None:
    st.caption(t("as_of_note", date=as_of.strftime("%Y-%m-%d")))

st.subheader(t("inspection_calendar"))
calendar = queries.inspection_calendar(f.year)
table(
    calendar.assign(state_label=calendar["state"].map(lambda s: label("phase", s))),
    key=f"calendar_{f.year}",
    columns={
        "phase_no": "phase_no",
        "name": "phase",
        "start_date": "start_date",
        "end_date": "end_date",
        "state_label": "phase_state",
        "source": "rule_source",
    },
    highlight=calendar["state"] == "current",
)


def _items(overdue_only: bool) -> Paged:
    """The problems of the filters (or only the overdue ones), a page at a time."""
    return Paged(
        queries.rectification_total(f, overdue_only),
        lambda offset, limit: queries.rectification_items(f, overdue_only, offset, limit),
    )


overdue = _items(overdue_only=True)
st.subheader(t("rectification_overdue", n=overdue.total))
table(
    overdue,
    key=f"rect_overdue_{f.year}",
    columns={
        "region": "region",
        "unit_name": "unit_name",
        "description": "problem",
        "owner": "owner",
        "deadline": "deadline",
        "overdue_days": "overdue_days",
        "note": "note",
    },
    export="export_quality",
)

st.subheader(t("rectification_by_region"))
table(
    queries.rectification_by_region(f),
    key=f"rect_regions_{f.year}",
    columns={
        "region": "region",
        "items": "rect_items",
        "done": "rect_done",
        "overdue": "rect_overdue",
        "on_time_rate": "rect_on_time_rate",
        "done_rate": "done_rate",
        "without_problem_list": "without_problem_list",
        "without_measure": "without_measure",
    },
    shown_as={"on_time_rate": RATE, "done_rate": RATE},
)

st.subheader(t("rectification_flags"))
table(
    queries.rectification_flags(f),
    key=f"rect_flags_{f.year}",
    columns={
        "region": "region",
        "unit_name": "unit_name",
        "without_problem_list": "without_problem_list",
        "without_measure": "without_measure",
    },
    export="export_quality",
)

st.subheader(t("rectification_all"))
table(
    _items(overdue_only=False),
    key=f"rect_items_{f.year}",
    prepare=with_source_label,
    columns={"region": "region", "unit_name": "unit_name", **PROBLEM_COLUMNS},
    export="export_quality",
)
