"""排名: regions and units with their coverage, ties (并列), the rank band and tier of each place, 末位 and
whether it is distinguishable from the place above, change against last year and whether it is inside
the band, the circular (通报) as an Excel table and as the formal Word document."""

import datetime
from typing import cast

import pandas as pd
import streamlit as st

from dashboards import auth, data, exports, queries
from dashboards.formats import RANK_CHANGE, SCORE, SCORE_CHANGE
from dashboards.i18n import fmt_rank, label, region_score_label, role_labels, t
from dashboards.ui import RANKING_PAGE_ROWS, Heading, open_unit, page, plain, recorded, search_box, table
from pipelines.lib.circular import circular_docx
from pipelines.lib.warehouse import today

f = page("page_ranking")
changed = queries.restatements(f.year)
if len(changed):
    st.info(t("restated_notice", n=len(changed)))
tab_regions, tab_units = st.tabs([t("regions"), t("units")])


def _remark(row) -> str:
    parts = []
    if row.is_bottom:
        parts.append(t("bottom_distinct") if row.distinct_from_above is True else t("bottom_close"))
    elif row.status != "ranked" and row.status != "scored":
        parts.append(label("status", row.status))
    if isinstance(getattr(row, "note", None), str) and row.note:
        parts.append(row.note)
    return "；".join(parts)


def _ranks(frame: pd.DataFrame) -> pd.Series:
    return pd.Series([fmt_rank(r, tie) for r, tie in zip(frame["rank"], frame["tie"], strict=False)])


def _stability(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with their band, tier and change judgement as the ranking shows them."""
    return frame.assign(
        band=[
            "" if pd.isna(lo) else f"{int(lo)}–{int(hi)}"
            for lo, hi in zip(frame["p05"], frame["p95"], strict=True)
        ],
        change_note=frame["stable_change"].map({True: t("stable"), False: t("beyond_band")}).fillna(""),
        remark=[_remark(r) for r in frame.itertuples()],
    )


def _unit_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Units as their ranking shows them: the words for their score source and status, and `_stability`."""
    # Translated once per distinct value, not once per unit.
    frame = frame.assign(
        source_label=frame["score_source"].map(
            {v: t(f"source_{v}") for v in frame["score_source"].dropna().unique()}
        ),
        status_label=frame["status"].map({v: label("status", v) for v in frame["status"].unique()}),
    )
    return _stability(frame)


def _bottom_notes(frame: pd.DataFrame, name: str) -> None:
    for row in frame[frame["is_bottom"] & frame["p_below_above"].notna()].itertuples():
        key = "bottom_distinct_note" if row.distinct_from_above is True else "bottom_close_note"
        st.caption(t(key, name=plain(getattr(row, name)), share=f"{row.p_below_above:.0%}"))


info = data.publication()
st.caption(t("band_help", draws=queries.stability_draws(f.year)))


with tab_regions:
    regions = queries.region_ranking(f)
    ranked, total = queries.region_coverage(f.year)
    st.markdown(t("coverage_regions", ranked=ranked, total=total), help=t("coverage_help"))
    # One score column per role forming a region's score, headed by that role (党委得分, 政府得分).
    role_scores = {
        column: Heading(region_score_label(role)) for column, role in queries.region_score_columns().items()
    }
    table(
        regions,
        key=f"region_ranking_{f.year}",
        page_rows=RANKING_PAGE_ROWS,
        prepare=_stability,
        highlight="is_bottom",
        columns={
            "rank": "rank",
            "region": "region",
            "score": "score",
            **role_scores,
            "band": "band",
            "tier_name": "tier",
            "prev_rank": "prev_rank",
            "rank_change": "rank_change",
            "change_note": "change_stability",
            "score_change": "score_change",
            "remark": "remark",
        },
        shown_as={
            "rank": _ranks,
            "score": SCORE,
            **dict.fromkeys(role_scores, SCORE),
            "rank_change": RANK_CHANGE,
            "score_change": SCORE_CHANGE,
        },
    )
    _bottom_notes(regions, "region")

    def circular() -> bytes:  # built only when downloaded
        return exports.ranking_circular(
            _stability(regions).assign(note=regions["note"].fillna("")),
            year=f.year,
            title=t("circular_title", year=f.year),
            issued_on=datetime.date.today(),
            policy_note=info["ranking_policy"] if isinstance(info.get("ranking_policy"), str) else "",
            columns={
                "rank": t("rank"),
                "region": t("region"),
                "score": t("score"),
                **{c: role_scores.get(c) for c in queries.REGION_SCORE_COLUMNS.values()},
                "band": t("band"),
                "tier": t("tier"),
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
        excel, word = st.columns(2)
        excel.download_button(
            t("circular_download"),
            recorded("ranking_circular", circular, year=f.year),
            file_name=f"{f.year}_ranking_circular.xlsx",
            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            type="primary",
            key="circular",
            on_click="ignore",
        )
        word.download_button(
            t("circular_docx_download"),
            recorded(
                "ranking_circular_docx", lambda: circular_docx(data.query, f.year, today()), year=f.year
            ),
            file_name=f"{f.year}年度法治建设第一责任人履职情况通报.docx",
            mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            key="circular_docx",
            on_click="ignore",
        )

    units_of_region = queries.region_role_units(f)
    if len(units_of_region):
        st.caption(t("open_unit"))
        role_names = role_labels()
        choices = {
            i: f"{region} · {role_names[role]}"
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
    coverage = queries.unit_coverage(f.year)
    # A long ranking (more than a page) can be searched by unit or region name; the ranks stay the ranks
    # among all the units of the role.
    long = any(total > RANKING_PAGE_ROWS for _ranked, total in coverage.values())
    search = search_box("ranking_unit_search", "search_units") if long else ""
    units = queries.unit_ranking(f, search=search)
    names = role_labels()
    present = set(units["role"].unique())
    roles = [r for r in f.roles if r in present]
    if not roles:
        st.caption(t("no_rows"))
    for role in roles:
        group = units[units["role"] == role]
        st.subheader(plain(names[role]), anchor=False)  # no link named after data
        ranked, total = coverage.get(role, (0, 0))
        st.markdown(t("coverage_units", ranked=ranked, total=total), help=t("coverage_help"))
        picked = table(
            group,
            key=f"unit_ranking_{role}_{f.year}",
            page_rows=RANKING_PAGE_ROWS,
            select=True,
            prepare=_unit_rows,
            highlight="is_bottom",
            columns={
                "rank": "rank",
                "unit_name": "unit_name",
                "region": "region",
                "score": "score",
                "band": "band",
                "tier_name": "tier",
                "score_change": "score_change",
                "rank_change": "rank_change",
                "change_note": "change_stability",
                "source_label": "score_source",
                "status_label": "status",
                "remark": "remark",
            },
            shown_as={
                "rank": _ranks,
                "score": SCORE,
                "score_change": SCORE_CHANGE,
                "rank_change": RANK_CHANGE,
            },
        )
        _bottom_notes(group, "unit_name")
        if picked is not None:
            open_unit(cast(str, picked["unit_id"]))  # as above
