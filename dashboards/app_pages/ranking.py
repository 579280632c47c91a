"""排名: regions and units, ties (并列), 末位 flagged, change against last year, the circular (通报)."""

import datetime
from typing import cast

import pandas as pd
import streamlit as st

from dashboards import auth, data, exports, queries
from dashboards.formats import RANK_CHANGE, SCORE, SCORE_CHANGE
from dashboards.i18n import fmt_rank, label, region_score_label, role_label, role_labels, t
from dashboards.ui import Heading, open_unit, page, plain, recorded, table

f = page("page_ranking")
changed = queries.restatements(f.year)
if len(changed):
    st.info(t("restated_notice", n=len(changed)))
tab_regions, tab_units = st.tabs([t("regions"), t("units")])


def _remark(row) -> str:
    parts = [t("bottom")] if row.is_bottom else []
    if isinstance(row.note, str) and row.note:
        parts.append(row.note)
    return "；".join(parts)


def _ranks(frame: pd.DataFrame) -> pd.Series:
    return pd.Series([fmt_rank(r, tie) for r, tie in zip(frame["rank"], frame["tie"], strict=False)])


with tab_regions:
    regions = queries.region_ranking(f)
    # One score column per role forming a region's score, headed by that role (党委得分, 政府得分).
    role_scores = {
        column: Heading(region_score_label(role)) for column, role in queries.region_score_columns().items()
    }
    regions["remark"] = [_remark(r) for r in regions.itertuples()]
    table(
        regions,
        key=f"region_ranking_{f.year}",
        highlight=regions["is_bottom"],
        columns={
            "rank": "rank",
            "region": "region",
            "score": "score",
            **role_scores,
            "prev_rank": "prev_rank",
            "rank_change": "rank_change",
            "score_change": "score_change",
            "remark": "remark",
        },
        shown_as={
            "rank": _ranks(regions),
            "score": SCORE,
            **dict.fromkeys(role_scores, SCORE),
            "rank_change": RANK_CHANGE,
            "score_change": SCORE_CHANGE,
        },
    )

    info = data.publication()

    def circular() -> bytes:  # built only when downloaded
        return exports.ranking_circular(
            regions.assign(note=regions["note"].fillna("")),
            year=f.year,
            title=t("circular_title", year=f.year),
            issued_on=datetime.date.today(),
            policy_note=info["ranking_policy"] if isinstance(info.get("ranking_policy"), str) else "",
            columns={
                "rank": t("rank"),
                "region": t("region"),
                "score": t("score"),
                **{c: role_scores.get(c) for c in queries.REGION_SCORE_COLUMNS.values()},
                "rank_change": t("rank_change"),
                "score_change": t("score_change"),
                "note": t("remark"),
                "year_label": t("year"),
                "date_label": t("date_label"),
                "tie_label": t("tie"),
                "not_ranked_label": t("not_ranked"),
                "policy_label": t("policy_label"),
                "bottom_label": t("bottom"),
            },
        )

    if auth.can("export_circular"):
        st.download_button(
            t("circular_download"),
            recorded("ranking_circular", circular, year=f.year),
            file_name=f"{f.year}_ranking_circular.xlsx",
            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            type="primary",
            key="circular",
            on_click="ignore",
        )

    units_of_region = queries.region_role_units(f)
    if len(units_of_region):
        st.caption(t("open_unit"))
        choices = {
            i: f"{region} · {role_label(role)}"
            for i, region, role in zip(
                units_of_region.index, units_of_region["region"], units_of_region["role"], strict=True
            )
        }
        pick = st.selectbox(
            t("choose_unit"), list(choices), key="ranking_region_unit", format_func=choices.__getitem__
        )
        if st.button(t("go_unit"), key="ranking_go_region_unit"):
            # pandas types a cell as any scalar; unit ids are text
            open_unit(cast(str, units_of_region.at[pick, "unit_id"]))

with tab_units:
    units = queries.unit_ranking(f)
    names = role_labels()
    roles = [r for r in f.roles if r in set(units["role"])]
    if not roles:
        st.caption(t("no_rows"))
    for role in roles:
        group = units[units["role"] == role].reset_index(drop=True)
        # Translated once per distinct value, not once per unit (thousands of rows at province scale).
        group["source_label"] = group["score_source"].map(
            {v: t(f"source_{v}") for v in group["score_source"].dropna().unique()}
        )
        group["status_label"] = group["status"].map({v: label("status", v) for v in group["status"].unique()})
        group["remark"] = group["is_bottom"].map(lambda b: t("bottom") if b else "")
        st.subheader(plain(names[role]), anchor=False)  # no link named after data
        picked = table(
            group,
            key=f"unit_ranking_{role}_{f.year}",
            select=True,
            highlight=group["is_bottom"],
            columns={
                "rank": "rank",
                "unit_name": "unit_name",
                "region": "region",
                "score": "score",
                "score_change": "score_change",
                "rank_change": "rank_change",
                "source_label": "score_source",
                "status_label": "status",
                "remark": "remark",
            },
            shown_as={
                "rank": _ranks(group),
                "score": SCORE,
                "score_change": SCORE_CHANGE,
                "rank_change": RANK_CHANGE,
            },
        )
        if picked is not None:
            open_unit(cast(str, group.at[picked, "unit_id"]))  # as above
