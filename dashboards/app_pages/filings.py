"""报送: filing and on-time rates by report type, the overdue list, normative-document rates."""

import pandas as pd
import streamlit as st

from dashboards import figures, queries
from dashboards.formats import RATE, fmt_rate
from dashboards.i18n import role_labels, t
from dashboards.ui import page, table

f = page("page_filings")


def _filed_on(late: pd.DataFrame) -> pd.Series:
    dates = pd.to_datetime(late["filed_date"])
    return dates.dt.strftime("%Y-%m-%d").where(dates.notna(), t("not_filed"))


rates = queries.filing_rates(f)
if rates.empty:
    st.caption(t("no_rows"))
else:
    st.plotly_chart(
        figures.rates_bar(
            rates,
            label="report",
            title=t("page_filings"),
            rates={"filing_rate": t("filing_rate"), "on_time_rate": t("on_time_rate")},
        ),
        key="filing_rates",
    )
    table(
        rates,
        key=f"filing_rates_{f.year}",
        columns={
            "report": "report_type",
            "required": "required",
            "filed": "filed",
            "filing_rate": "filing_rate",
            "on_time_rate": "on_time_rate",
        },
        shown_as={"filing_rate": RATE, "on_time_rate": RATE},
    )

    st.subheader(t("overdue"))
    table(
        queries.overdue_filings(f),
        key=f"overdue_{f.year}",
        prepare=lambda late: late.assign(role_label=late["role"].map(role_labels())),
        columns={
            "unit_name": "unit_name",
            "role_label": "role",
            "region": "region",
            "report": "report_type",
            "due_date": "due_date",
            "filed_date": "filed_date",
            "days_late": "days_late",
        },
        shown_as={"filed_date": _filed_on},
    )

st.subheader(t("normative"))
docs = queries.normative_docs(f)
if docs.empty:
    st.caption(t("no_rows"))
else:
    totals = queries.normative_totals(f)
    c1, c2, c3 = st.columns(3)
    c1.metric(t("filing_rate"), fmt_rate(totals["filing_rate"]) or "—")
    c2.metric(t("timely_rate"), fmt_rate(totals["timely_rate"]) or "—")
    c3.metric(t("compliance_rate"), fmt_rate(totals["compliance_rate"]) or "—")
    table(
        docs,
        key=f"normative_{f.year}",
        columns={
            "unit_name": "unit_name",
            "region": "region",
            "issued": "issued",
            "filed": "filed",
            "filing_rate": "filing_rate",
            "timely_rate": "timely_rate",
            "compliance_rate": "compliance_rate",
        },
        shown_as={"filing_rate": RATE, "timely_rate": RATE, "compliance_rate": RATE},
    )
