"""短板: region × duty group heatmap with drill-down, the tasks and requirements lost most often."""
import streamlit as st

from dashboards import data, figures
from dashboards.formats import RATE, SCORE
from dashboards.i18n import label, role_label, t
from dashboards.ui import open_unit, page, table

f = page("page_weak")

sheet_roles = [r for r in f.roles if r in data.ALL_ROLES]
if not sheet_roles:
    st.caption(t("no_rows"))
    st.stop()
role = st.radio(t("heatmap_role"), sheet_roles, horizontal=True, format_func=role_label, key="weak_role")

cells = data.query("""
    select u.region, k.duty_no, any_value(k.duty) as duty,
           sum(s.points) / nullif(sum(s.max_points), 0) as rate
    from marts.task_scores s
    join marts.units u using (unit_id, role)
    join marts.score_sheet_tasks k using (role, duty_no, task_no)
    where s.year = $year and s.role = $role
      and (len($regions) = 0 or list_contains($regions, u.region))
    group by all""", year=f.year, regions=list(f.regions), role=role)
if cells.empty:
    st.caption(t("no_rows"))
    st.stop()
cells["duty_label"] = cells["duty_no"].astype(str) + ". " + cells["duty"].str.slice(0, 14)
duty_order = cells.sort_values("duty_no")["duty_label"].drop_duplicates().tolist()
region_order = cells.groupby("region")["rate"].mean().sort_values().index.tolist()  # weakest first
event = st.plotly_chart(
    figures.heatmap(cells, x="region", y="duty_label", z="rate", title=t("heatmap"), z_label=t("score_rate"),
                    x_order=region_order, y_order=duty_order),
    on_select="rerun", selection_mode="points", key="weak_heatmap")

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
behind = data.query("""
    select s.unit_id, u.unit_name, s.task_no, k.text, s.max_points, s.points, s.lost_points, s.flag_note
    from marts.task_scores s join marts.units u using (unit_id, role)
    join marts.score_sheet_tasks k using (role, duty_no, task_no)
    where s.year = $year and s.role = $role and u.region = $region and s.duty_no = $duty_no
    order by s.lost_points desc, s.task_no""", year=f.year, role=role, region=region, duty_no=duty_no)
behind["text"] = behind["text"].str.slice(0, 40)
picked = table(behind, key=f"weak_cell_{f.year}", select=True,
               columns={"unit_name": "unit_name", "task_no": "task_no", "text": "task", "max_points": "max_points",
                        "points": "points", "lost_points": "lost_points", "flag_note": "flag"})
if picked is not None:
    open_unit(behind.at[picked, "unit_id"])

left, right = st.columns(2)
with left:
    st.subheader(t("tasks_lost"))
    tasks = data.query("""
        select s.role, s.task_no, any_value(k.text) as text, count(*) filter (where s.lost_points > 0) as losing,
               count(*) as units, sum(s.lost_points) as lost
        from marts.task_scores s join marts.units u using (unit_id, role)
        join marts.score_sheet_tasks k using (role, duty_no, task_no)
        where s.year = $year and list_contains($roles, s.role)
          and (len($regions) = 0 or list_contains($regions, u.region))
        group by all having losing > 0 order by losing desc, lost desc limit 15""", **f.params)
    tasks = tasks.assign(role_label=tasks["role"].map(role_label), task=tasks["text"].str.slice(0, 30),
                         units_losing=tasks["losing"].astype(str) + "/" + tasks["units"].astype(str))
    table(tasks, key=f"tasks_lost_{f.year}",
          columns={"role_label": "role", "task_no": "task_no", "task": "task", "units_losing": "units_losing",
                   "lost": "lost_points"},
          shown_as={"lost": SCORE})
with right:
    st.subheader(t("reqs_missed"))
    reqs = data.query(f"""
        select r.name, count(*) filter (where not c.met) as missed, count(*) as total,
               avg(c.met::int) as met_rate
        from marts.requirement_compliance c join marts.rulebook_requirements r using (requirement_id)
        where {f.where('c')} group by all having missed > 0 order by missed desc""", **f.params)
    reqs = reqs.assign(units_losing=reqs["missed"].astype(str) + "/" + reqs["total"].astype(str))
    table(reqs, key=f"reqs_missed_{f.year}",
          columns={"name": "requirement", "units_losing": "units_losing", "met_rate": "met_rate"},
          shown_as={"met_rate": RATE})

st.subheader(t("findings"))
findings = data.query("""
    select w.scope, w.scope_id, w.item, w.severity, w.note, u.region,
           case w.scope when 'unit' then u.role when 'task' then split_part(w.scope_id, '-', 1) end as role,
           coalesce(u.unit_name, w.scope_id) as subject
    from marts.weak_spots w left join marts.units u on w.scope = 'unit' and u.unit_id = w.scope_id
    where w.year = $year
    order by case w.severity when 'high' then 0 when 'medium' then 1 else 2 end, w.scope, w.scope_id""", year=f.year)
# Each finding follows the filters it can: regions by region or unit, roles by unit or task.
region_of = findings["region"].where(findings["scope"] == "unit",
                                     findings["scope_id"].where(findings["scope"] == "region"))
findings = findings[(region_of.isna() | region_of.isin(f.regions) if f.regions else True)
                    & (findings["role"].isna() | findings["role"].isin(f.roles))]
findings = findings.assign(subject=[f"{role_label(r)} 第{s.partition('-')[2]}项" if sc == "task" else s
                                    for s, sc, r in zip(findings["subject"], findings["scope"], findings["role"])],
                           scope=findings["scope"].map(lambda v: label("scope", v)),
                           severity=findings["severity"].map(lambda v: label("severity", v)))
table(findings, key=f"weak_spots_{f.year}",
      columns={"severity": "severity", "scope": "scope", "subject": "subject", "item": "metric", "note": "note"})
