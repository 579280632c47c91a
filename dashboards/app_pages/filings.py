"""报送: filing and on-time rates by report type, the overdue list, normative-document rates."""
import pandas as pd
import streamlit as st

from dashboards import data, figures
from dashboards.formats import RATE, fmt_rate
from dashboards.i18n import role_label, t
from dashboards.ui import page, table

f = page("page_filings")

filings = data.query(f"""
    select r.name as report, f.report_type, f.unit_id, u.unit_name, f.region, f.role, f.required, f.filed,
           f.on_time, f.due_date, f.filed_date, f.days_late
    from marts.filing_rates f join marts.units u using (unit_id, role)
    left join marts.rulebook_requirements r on r.requirement_id = f.report_type
    where {f.where('f')}""", **f.params)
if filings.empty:
    st.caption(t("no_rows"))
else:
    filings["report"] = filings["report"].fillna(filings["report_type"])
    rates = (filings.groupby("report", as_index=False)[["required", "filed", "on_time"]].sum()
             .assign(filing_rate=lambda d: d["filed"] / d["required"].where(d["required"] > 0),
                     on_time_rate=lambda d: d["on_time"] / d["required"].where(d["required"] > 0)))
    st.plotly_chart(figures.rates_bar(rates, label="report", title=t("page_filings"),
                                      rates={"filing_rate": t("filing_rate"), "on_time_rate": t("on_time_rate")}),
                    key="filing_rates")
    table(rates, key=f"filing_rates_{f.year}",
          columns={"report": "report_type", "required": "required", "filed": "filed", "filing_rate": "filing_rate",
                   "on_time_rate": "on_time_rate"},
          shown_as={"filing_rate": RATE, "on_time_rate": RATE})

    st.subheader(t("overdue"))
    late = filings[(filings["filed"] < filings["required"]) | (filings["on_time"] < filings["filed"])]
    late = late.sort_values(["days_late", "unit_name"], ascending=[False, True], na_position="first")
    late = late.assign(role_label=late["role"].map(role_label))
    dates = pd.to_datetime(late["filed_date"])
    table(late, key=f"overdue_{f.year}",
          columns={"unit_name": "unit_name", "role_label": "role", "region": "region", "report": "report_type",
                   "due_date": "due_date", "filed_date": "filed_date", "days_late": "days_late"},
          shown_as={"filed_date": dates.dt.strftime("%Y-%m-%d").where(dates.notna(), t("not_filed"))})

st.subheader(t("normative"))
docs = data.query(f"""
    select n.unit_id, u.unit_name, n.region, n.role, n.issued, n.filed, n.filed_on_time, n.compliant,
           n.filing_rate, n.timely_rate, n.compliance_rate
    from marts.normative_doc_rates n join marts.units u using (unit_id, role)
    where {f.where('n')} order by n.timely_rate nulls last, n.filing_rate nulls last""", **f.params)
if docs.empty:
    st.caption(t("no_rows"))
else:
    totals = docs[["issued", "filed", "filed_on_time", "compliant"]].sum()
    c1, c2, c3 = st.columns(3)
    issued, filed = totals["issued"] or float("nan"), totals["filed"] or float("nan")
    # Same denominators as the mart: filing and timeliness over issued, compliance over filed.
    c1.metric(t("filing_rate"), fmt_rate(totals["filed"] / issued) or "—")
    c2.metric(t("timely_rate"), fmt_rate(totals["filed_on_time"] / issued) or "—")
    c3.metric(t("compliance_rate"), fmt_rate(totals["compliant"] / filed) or "—")
    table(docs, key=f"normative_{f.year}",
          columns={"unit_name": "unit_name", "region": "region", "issued": "issued", "filed": "filed",
                   "filing_rate": "filing_rate", "timely_rate": "timely_rate", "compliance_rate": "compliance_rate"},
          shown_as={"filing_rate": RATE, "timely_rate": RATE, "compliance_rate": RATE})
