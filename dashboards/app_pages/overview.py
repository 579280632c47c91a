"""总览: headline figures, the year's warnings as of the computation date, the ranking bar chart, change
since last year."""

import pandas as pd
import streamlit as st

from dashboards import figures, queries
from dashboards.formats import fmt_score
from dashboards.i18n import label, t
from dashboards.ui import CHART_ENDS, page, plain

f = page("page_overview")

rankings = queries.region_ranking(f)
summary = queries.region_summary(f)
counts = queries.unit_status_counts(f)
rejected = queries.rejected_files(f.year)

ranked = rankings[rankings["rank"].notna()]
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric(t("regions_ranked"), f"{summary['ranked']}/{summary['regions']}")
c2.metric(t("units_scored"), int(counts.get("scored", 0) + counts.get("incomplete", 0)))
c3.metric(t("avg_score"), fmt_score(summary["mean_score"]) or "—")
c4.metric(t("missing_units"), int(counts.get("missing", 0)))
c5.metric(t("rejected_files"), int(rejected))

warnings = queries.warning_counts(f)
if warnings:
    as_of = queries.as_of()
    st.subheader(t("warnings_headline"))
    if as_of is not None:
        st.caption(t("as_of_note", date=as_of.strftime("%Y-%m-%d")))
    w1, w2, w3, w4 = st.columns(4)
    w1.metric(label("warning", "at_risk"), warnings.get("at_risk", 0))
    w2.metric(label("warning", "due_soon"), warnings.get("due_soon", 0))
    w3.metric(label("warning", "overdue"), warnings.get("overdue", 0))
    w4.metric(label("warning", "unmet"), warnings.get("unmet", 0))
    st.page_link("app_pages/warnings.py", label=t("warnings_open"), icon=":material/notifications:")

if len(ranked):
    top = ranked[ranked["rank"] == ranked["rank"].min()]
    bottom = ranked[ranked["is_bottom"]]
    st.subheader(t("leaders_laggards"))
    left, right = st.columns(2)
    left.success(
        f"**{t('top_region')}**："
        + "、".join(f"{plain(r.region)}（{fmt_score(r.score)}）" for r in top.itertuples())
    )
    if len(bottom):
        right.error(
            f"**{t('bottom_region')}**："
            + "、".join(f"{plain(r.region)}（{fmt_score(r.score)}）" for r in bottom.itertuples())
        )

if len(rankings):
    # More regions than a chart can name (nation scale): the first and the last places, the 末位 among them.
    charted = (
        rankings
        if len(rankings) <= 2 * CHART_ENDS
        else pd.concat([ranked.head(CHART_ENDS), ranked.iloc[CHART_ENDS:].tail(CHART_ENDS)])
    )
    if len(charted) < len(rankings):
        st.caption(t("chart_ends", ends=CHART_ENDS, ranked=len(ranked), total=len(rankings)))
    st.plotly_chart(
        figures.ranking_bar(
            charted, label="region", value="score", title=t("ranking_chart"), value_label=t("score") + " "
        ),
        key="overview_ranking",
    )
    if rankings["prev_rank"].notna().any():
        st.plotly_chart(
            figures.change_bar(
                charted[charted["rank"].notna()],
                label="region",
                title=t("change_chart"),
                rank_change_label=t("rank_change"),
                score_change_label=t("score_change"),
            ),
            key="overview_change",
        )
else:
    st.caption(t("no_rows"))
