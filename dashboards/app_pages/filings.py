"""报送: filing and on-time rates by report type, the overdue list, normative-document rates."""
import pandas as pd
import streamlit as st

from dashboards import data, figures
from dashboards.formats import fmt_rate
from dashboards.i18n import role_label, t
from dashboards.ui import labelled, page, table

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
             .assign(filing_rate=lambda d: d["filed"] / d["required"], on_time_rate=lambda d: d["on_time"] / d["required"]))
    st.plotly_chart(figures.rates_bar(rates, label="report", title=t("page_filings"),
                                      rates={"filing_rate": t("filing_rate"), "on_time_rate": t("on_time_rate")}),
                    key="filing_rates")
    table(labelled(pd.DataFrame({"report_type": rates["report"], "required": rates["required"],
                                 "filed": rates["filed"], "filing_rate": rates["filing_rate"].map(fmt_rate),
                                 "on_time_rate": rates["on_time_rate"].map(fmt_rate)})),
          key=f"filing_rates_{f.year}")

    st.subheader(t("overdue"))
    late = filings[(filings["filed"] < filings["required"]) | (filings["on_time"] < filings["filed"])]
    late = late.sort_values(["days_late", "unit_name"], ascending=[False, True], na_position="first")
    table(pd.DataFrame({
        t("unit_name"): late["unit_name"], t("role"): late["role"].map(role_label), t("region"): late["region"],
        t("report_type"): late["report"], t("due_date"): late["due_date"].map(lambda d: "" if pd.isna(d) else f"{d:%Y-%m-%d}"),
        t("filed_date"): late["filed_date"].map(lambda d: t("not_filed") if pd.isna(d) else f"{d:%Y-%m-%d}"),
        t("days_late"): late["days_late"]}), key=f"overdue_{f.year}")

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
    table(pd.DataFrame({
        t("unit_name"): docs["unit_name"], t("region"): docs["region"], t("issued"): docs["issued"],
        t("filed"): docs["filed"], t("filing_rate"): docs["filing_rate"].map(fmt_rate),
        t("timely_rate"): docs["timely_rate"].map(fmt_rate),
        t("compliance_rate"): docs["compliance_rate"].map(fmt_rate)}), key=f"normative_{f.year}")
