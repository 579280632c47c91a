"""单位详情: one unit's sheet with lost points, its evidence rows, self-score vs records, its history."""
import pandas as pd
import streamlit as st

from dashboards import data, figures
from dashboards.formats import MISSING, fmt_rank_change, fmt_score, fmt_score_change
from dashboards.i18n import fmt_rank, label, role_label, t
from dashboards.ui import page, plain, table

f = page("page_unit")

units = data.query(f"""
    select unit_id, unit_name, region, role from marts.unit_scores where {f.where()}
    order by region, role, unit_name""",
                   **f.params)
wanted = st.session_state.pop("open_unit", None)
if wanted is None and "unit_pick" not in st.session_state:  # first visit: a shared link may name the unit
    wanted = st.query_params.get("unit")
if wanted and wanted not in set(units["unit_id"]):  # opened from elsewhere: show it even if the filters hide it
    units = pd.concat([data.query("""select unit_id, unit_name, region, role from marts.unit_scores
                                     where year = $year and unit_id = $unit""", year=f.year, unit=wanted), units])
if units.empty:
    st.info(t("no_unit"))
    st.stop()
labels = {r.unit_id: f"{r.unit_name}（{role_label(r.role)}，{r.region}）" for r in units.itertuples()}
if wanted in labels:
    st.session_state["unit_pick"] = wanted
elif st.session_state.get("unit_pick") not in labels:
    st.session_state["unit_pick"] = next(iter(labels))
unit_id = st.selectbox(t("choose_unit"), list(labels), format_func=labels.get, key="unit_pick")

me = data.query("""select * from marts.unit_scores where year = $year and unit_id = $unit""",
                year=f.year, unit=unit_id).iloc[0]
peers = data.query("""select count(*) as n from marts.unit_scores
                       where year = $year and role = $role and rank = $rank""",
                   year=f.year, role=me["role"], rank=None if pd.isna(me["rank"]) else int(me["rank"]))["n"].iloc[0]
st.subheader(plain(labels[unit_id]))
c1, c2, c3, c4 = st.columns(4)
change = None if pd.isna(me["prev_score"]) or pd.isna(me["score"]) else me["score"] - me["prev_score"]
c1.metric(t("score"), fmt_score(me["score"]) or "—", fmt_score_change(change) if change is not None else None)
rank_text = fmt_rank(me["rank"], peers > 1)
if pd.notna(me["rank"]):
    rank_text += f" / {int(me['rank_total'])}"
rank_change = None if pd.isna(me["prev_rank"]) or pd.isna(me["rank"]) else int(me["prev_rank"] - me["rank"])
c2.metric(t("rank"), rank_text, fmt_rank_change(rank_change) if rank_change is not None else None)
c3.metric(t("status"), plain(label("status", me["status"])))
c4.metric(t("score_source"), plain(label("source", me["score_source"])) or MISSING)
if me["is_bottom"]:
    st.error(t("bottom"))
if isinstance(me["source_file"], str):
    st.caption(f"{t('source_file')}：{plain(me['source_file'])}")

st.subheader(t("sheet"))
sheet = data.query("""
    select s.duty_no, k.duty, s.task_no, k.text, s.max_points, s.self_points, s.verified_points, s.points,
           s.lost_points, s.evidence_points, s.evidence_max, s.flag, s.flag_note, s.file, s.sheet, s."row"
    from marts.task_scores s join marts.score_sheet_tasks k using (role, duty_no, task_no)
    where s.year = $year and s.unit_id = $unit order by s.task_no""", year=f.year, unit=unit_id)
evidence = sheet["evidence_max"].notna()
sheet["evidence"] = [f"{p:g}/{m:g}" if ok else "" for p, m, ok in
                     zip(sheet["evidence_points"].fillna(0), sheet["evidence_max"].fillna(0), evidence)]
table(sheet, key=f"sheet_{unit_id}_{f.year}", highlight=sheet["lost_points"].fillna(0) > 0,
      columns={"task_no": "task_no", "text": "task", "max_points": "max_points", "self_points": "self_points",
               "verified_points": "verified_points", "points": "points", "lost_points": "lost_points",
               "evidence": "evidence_points", "flag_note": "flag", "file": "file", "row": "row"})

flags = sheet[sheet["flag"] == "evidence_shortfall"]
st.subheader(t("flags"))
table(flags, key=f"flags_{unit_id}_{f.year}",
      columns={"task_no": "task_no", "text": "task", "points": "points", "evidence": "evidence_points",
               "flag_note": "note"})

st.subheader(t("evidence_rows"))
meetings = data.query("""
    select date, type_text, topic, array_to_string(meeting_types, '、') as types, is_study, hours, is_duplicate,
           file, sheet, "row"
    from marts.meetings where year = $year and unit_id = $unit order by date""", year=f.year, unit=unit_id)
table(meetings, key=f"meetings_{unit_id}_{f.year}",
      columns={"date": "meeting_date", "type_text": "meeting_kind", "topic": "topic", "types": "meeting_types",
               "is_study": "is_study", "hours": "hours", "is_duplicate": "is_duplicate", "file": "file",
               "sheet": "sheet_name", "row": "row"})

st.subheader(t("history"))
past = data.query("""select year, score, rank from marts.unit_scores where unit_id = $unit order by year""",
                  unit=unit_id)
st.plotly_chart(figures.history(past, title=t("history"), score_label=t("score"), rank_label=t("rank")),
                key="unit_history")
