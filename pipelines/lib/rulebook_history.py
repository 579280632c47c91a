"""Which rulebook each year was scored under: when its figures were first published, and now.

Every run recomputes every year under the rulebook in force, so inside one publication all years share a
rulebook. But a year's figures were first published, and its circular issued to the counties, under the
rulebook in force then; when the rules change later, the year is recomputed under the new ones. Publication
therefore keeps two tables, carried over from the warehouse still served the way restatements are, and
written into the new file before it is swapped in (a killed publication changes neither):

- `marts.rulebook_snapshots`: what a rulebook says, one row per rule (an "indicator": a task's points, what
  the records decide, a requirement, a filing deadline, the ranking policy, a setting), in Chinese words, for
  every fingerprint a year still refers to;
- `marts.rulebook_years`: per year of the publication, the rulebook its figures were first published under
  and the one they are computed under now.

The snapshot is read with SQL from the rulebook tables of the run being published (`reference.rulebook_*` in
the work database). `compare` lists what differs between two snapshots; the method page (方法说明) warns
with it where a year's circular, or two consecutive years' circulars, were scored under other rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pipelines.lib.method import (
    DUTY_HOLDER,
    EFFORT_WORDS,
    LEVEL_WORDS,
    MEASURE_WORDS,
    PERIOD_WORDS,
    RECTIFICATION_SOURCE_WORDS,
    _date,
    _num,
    _percent,
    _short,
)
from pipelines.lib.rulebook import SCORE_BASIS_WORDS
from pipelines.lib.schema import Column, Table
from pipelines.lib.warehouse import WORK_CATALOG, one_row, sql_text

# The two tables, declared once: the DDL is made from here, and the README's contract documents exactly these
# columns (tests/end_to_end/test_rulebook_history.py checks that it does).
SNAPSHOTS = Table(
    "rulebook_snapshots",
    "publication",
    "One row per rule of every rulebook a year refers to",
    (
        Column("rulebook_id", "varchar", "the rulebook's id"),
        Column("version", "integer", "its version"),
        Column("fingerprint", "varchar", "its fingerprint; (`fingerprint`, `indicator`) is unique"),
        Column(
            "kind",
            "varchar",
            "`task` (a score-sheet task's points) / `evidence` (the points the records decide, and the rule) / "
            "`requirement` (a meeting or study frequency, its roles and the meeting types counted) / `filing` "
            "(a report's deadline and who files it) / `ranking` (the ranking policy) / `setting` (roles, the "
            "score sheet's due date, not-applicable tasks, meeting types counted as study, warnings, stability, "
            "weak spots, improvement, the inspection calendar, rectification)",
        ),
        Column(
            "indicator",
            "varchar",
            "a stable key: `party-27` (role and task), `party-27-evidence`, `committee_hearing` (requirement id), "
            "`shufa_report` (filing id), `score_basis`, `score_sheet_due` …",
        ),
        Column(
            "name", "varchar", "中文名称, e.g. 县（区）党委第27项 健全并落实县（区）委理论中心组学法制度…"
        ),
        Column(
            "value",
            "varchar",
            "what the rule says, e.g. 2分, 每半年至少1次；适用：县（区）党委、乡镇（街道）党委；计入：…, "
            "次年1月31日前；报送：…, 对照“…”：每少1次扣1分，最多2分",
        ),
    ),
)
YEARS = Table(
    "rulebook_years",
    "publication",
    "One row per year of this publication: the rulebook it was first published under, and now",
    (
        Column("year", "integer", "assessment year"),
        Column("first_published_at", "timestamp", "when the year's figures were first published (UTC)"),
        Column(
            "first_rulebook_id",
            "varchar",
            "the rulebook they were first published (and the circular issued) under: its id",
        ),
        Column(
            "first_version", "integer", "its version (null when the warehouse it came from did not record it)"
        ),
        Column("first_fingerprint", "varchar", "its fingerprint"),
        Column(
            "current_rulebook_id", "varchar", "the rulebook this publication computed the year under: its id"
        ),
        Column("current_version", "integer", "its version"),
        Column("current_fingerprint", "varchar", "its fingerprint (`publication.rulebook_fingerprint`)"),
        Column("published_at", "timestamp", "this publication (UTC)"),
    ),
)

KINDS = ("task", "evidence", "requirement", "filing", "ranking", "setting")
KIND_WORDS = {
    "task": "打分表事项",
    "evidence": "由记录决定的分值",
    "requirement": "频次要求",
    "filing": "报送要求",
    "ranking": "排名办法",
    "setting": "其他设定",
}
# The years a publication holds figures for (the dashboard's year list: dashboards/data.py `years`).
_YEARS_SQL = """
select distinct year from {db}marts.unit_scores where status not in ('pending', 'missing') and year is not null
union select distinct year from {db}marts.submissions where year is not null
order by 1
"""


# -- reading ----------------------------------------------------------------------------------------


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _tables(con: duckdb.DuckDBPyConnection, database: str, schema: str) -> set[str]:
    return {
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where database_name = ? and schema_name = ?",
            [database, schema],
        ).fetchall()
    }


# -- the snapshot of the rulebook being published --------------------------------------------------


def snapshot(con: duckdb.DuckDBPyConnection, db: str = WORK_CATALOG) -> list[dict[str, Any]]:
    """The rulebook in force as rows of `rulebook_snapshots`, read from `<db>.main.rulebook_*` (the work
    database's reference tables); no rows when that database holds no rulebook."""
    src = f"{db}.main"
    if "rulebook_info" not in _tables(con, db, "main"):
        return []
    info_rows = _rows(con, f"select * from {src}.rulebook_info")
    if not info_rows:
        return []
    info = info_rows[0]
    roles = _rows(con, f"select * from {src}.rulebook_roles order by display_order, role")
    role_short = {r["role"]: str(r["name"]).removesuffix(DUTY_HOLDER) or str(r["name"]) for r in roles}
    tasks = _rows(con, f"select * from {src}.rulebook_tasks")
    task_text = {(t["role"], t["task_no"]): t["text"] for t in tasks}
    meeting_types = _rows(con, f"select * from {src}.rulebook_meeting_types")
    meeting_names = {m["meeting_type"]: m["name"] for m in meeting_types}
    frequency = _rows(con, f"select * from {src}.rulebook_frequency_requirements")
    filings = _rows(con, f"select * from {src}.rulebook_filing_requirements")
    filing_names = {f["requirement_id"]: f["name"] for f in filings}

    def roles_of(ids: Iterable[str] | None) -> str:
        return "、".join(role_short.get(r, r) for r in ids or ())

    def task_name(role: str, task_no: int) -> str:
        return f"{role_short.get(role, role)}第{task_no}项 {_short(str(task_text.get((role, task_no)) or ''), 20)}"

    out: list[tuple[str, str, str, str]] = []  # kind, indicator, name, value
    for t in sorted(tasks, key=lambda t: (list(role_short).index(t["role"]), t["task_no"])):
        out.append(
            (
                "task",
                f"{t['role']}-{t['task_no']}",
                task_name(t["role"], t["task_no"]),
                f"{_num(t['points'])}分",
            )
        )
    for lk in _rows(con, f"select * from {src}.rulebook_evidence_links"):
        out.append(
            (
                "evidence",
                f"{lk['role']}-{lk['task_no']}-evidence",
                task_name(lk["role"], lk["task_no"]),
                _evidence_words(lk, frequency, filing_names),
            )
        )
    for r in frequency:
        unit = MEASURE_WORDS.get(r["measure"], r["measure"])
        least = "不少于" if r["measure"] == "hours" else "至少"
        counted = "、".join(meeting_names.get(m, m) for m in r["meeting_types"] or ())
        value = f"{PERIOD_WORDS.get(r['period'], r['period'])}{least}{_num(r['required'])}{unit}"
        out.append(
            (
                "requirement",
                r["requirement_id"],
                r["name"],
                f"{value}；适用：{roles_of(r['roles'])}；计入：{counted}",
            )
        )
    for f in filings:
        due = _date(f["due_year_offset"], f["due_month"], f["due_day"])
        out.append(("filing", f["requirement_id"], f["name"], f"{due}前；报送：{roles_of(f['roles'])}"))

    region_roles = [
        r["role"] for r in sorted(roles, key=lambda r: r["region_position"] or 0) if r["in_region_score"]
    ]
    out += [
        ("ranking", "region_roles", "县区综合得分", f"{roles_of(region_roles)}得分的平均值"),
        (
            "ranking",
            "score_basis",
            "计分依据",
            SCORE_BASIS_WORDS.get(info["score_basis"], str(info["score_basis"])),
        ),
        (
            "ranking",
            "require_all_region_roles",
            "县区综合得分所需角色缺报时",
            "不参与排名" if info["require_all_region_roles"] else "仍参与排名",
        ),
        ("ranking", "bottom_places", "末位", f"排名最后{info['bottom_places']}位（含并列）"),
    ]
    out += _settings(con, src, info, roles, role_short, filing_names, task_name)
    seen: dict[str, int] = {}
    for n, (kind, indicator, name, value) in enumerate(out):  # e.g. two links on one task: keys stay unique
        seen[indicator] = seen.get(indicator, 0) + 1
        if seen[indicator] > 1:
            out[n] = (kind, f"{indicator}-{seen[indicator]}", name, value)
    return [
        {
            "rulebook_id": info["rulebook_id"],
            "version": info["version"],
            "fingerprint": info["fingerprint"],
            "kind": kind,
            "indicator": indicator,
            "name": name,
            "value": value,
        }
        for kind, indicator, name, value in out
    ]


def _evidence_words(link: Mapping[str, Any], frequency: list[dict], filing_names: dict[str, str]) -> str:
    points = _num(link["evidence_max"])
    requirement = next((r for r in frequency if r["requirement_id"] == link["requirement_id"]), None)
    if link["rule"] in ("deduct_per_missing", "threshold") and requirement:
        unit = MEASURE_WORDS.get(requirement["measure"], requirement["measure"])
        if link["rule"] == "deduct_per_missing":
            return f"对照“{requirement['name']}”：每少1{unit}扣{_num(link['deduct'])}分，最多{points}分"
        return f"对照“{requirement['name']}”：全年达到{_num(link['min_count'])}{unit}得{points}分"
    if link["rule"] == "filed" and link["filing_id"]:
        return f"报送“{filing_names.get(link['filing_id'], link['filing_id'])}”得{points}分"
    if link["rule"] == "normative_rates":
        tiers = "，".join(
            f"均达到{_percent(rate)}得{_num(p)}分"
            for rate, p in zip(link["tier_rates"] or (), link["tier_points"] or (), strict=False)
        )
        return f"规范性文件报备率、及时率、规范率{tiers}"
    return f"{link['rule']}，最多{points}分"


def _settings(
    con, src: str, info: dict, roles: list[dict], role_short: dict, filing_names: dict, task_name
) -> list:
    out: list[tuple[str, str, str, str]] = []

    def add(indicator: str, name: str, value: str) -> None:
        out.append(("setting", indicator, name, value))

    for r in roles:
        add(
            f"role-{r['role']}",
            f"角色：{r['name']}",
            f"单位类型：{r['unit_type']}；层级：{LEVEL_WORDS.get(r['level'], r['level'])}",
        )
    # One reference row per unit a task does not apply to: one indicator per task, its units by reason.
    not_applicable: dict[tuple[str, int], dict[str, list[str]]] = {}
    for na in _rows(con, f"select * from {src}.rulebook_not_applicable order by role, task_no, unit_name"):
        units = not_applicable.setdefault((na["role"], na["task_no"]), {}).setdefault(str(na["reason"]), [])
        units.append(na["unit_name"] or "本角色全部单位")
    for (role, task_no), reasons in not_applicable.items():
        add(
            f"not_applicable-{role}-{task_no}",
            f"不适用：{task_name(role, task_no)}",
            "；".join(f"{'、'.join(units)}（{reason}）" for reason, units in reasons.items()),
        )
    for m in _rows(con, f"select * from {src}.rulebook_meeting_types"):
        add(
            f"meeting_type-{m['meeting_type']}",
            f"会议类型：{m['name']}",
            "计入学法" if m["is_study"] else "不计入学法",
        )
    due = _date(
        info["score_sheet_due_year_offset"], info["score_sheet_due_month"], info["score_sheet_due_day"]
    )
    add("score_sheet_due", "打分表报送截止日期", f"{due}前")
    add("normative_deadline_days", "规范性文件报备期限", f"印发之日起{info['normative_deadline_days']}日内")
    add("days_per_missing", "预警：有风险", f"剩余天数少于每缺1次会议{info['days_per_missing']}天")
    add("session_hours", "预警：学时的折算", f"每缺{_num(info['session_hours'])}学时按缺1次会议计")
    add("filing_due_soon_days", "预警：即将到期", f"截止日期前{info['filing_due_soon_days']}天内")
    add("resubmit_days", "反馈通知的重新报送期限", f"{info['resubmit_days']}天")
    add("stability_draws", "名次稳定性：模拟次数", f"{info['stability_draws']}次")
    add("stability_seed", "名次稳定性：随机种子", str(info["stability_seed"]))
    add(
        "stability_band",
        "名次稳定性：名次区间",
        f"模拟名次的{_percent(info['band_low'])}至{_percent(info['band_high'])}分位数",
    )
    add(
        "distinct_probability",
        "名次稳定性：末位与上一名确有差别",
        f"至少{_percent(info['distinct_probability'])}的模拟中得分更低",
    )
    add(
        "self_vs_verified",
        "名次稳定性：自评分与核定分",
        "两者不同时每次随机取其一" if info["self_vs_verified"] else "不变动",
    )
    add(
        "contradicted_points",
        "名次稳定性：与记录不符的分值",
        "每次随机取所报分值或记录支持的分值" if info["contradicted_points"] else "不变动",
    )
    for w in _rows(con, f"select * from {src}.rulebook_weight_ranges order by role"):
        add(
            f"weight_range-{w['role']}",
            f"名次稳定性：{role_short.get(w['role'], w['role'])}职责组权重",
            f"{_num(w['factor_low'])}～{_num(w['factor_high'])}",
        )
    add(
        "peer_margin",
        "短板的差距阈值",
        f"低于同类单位中位数{_num(float(info['peer_margin']) * 100)}个百分点及以上",
    )
    for kind, words in EFFORT_WORDS.items():
        if f"effort_{kind}" in info:
            add(f"effort-{kind}", f"提升路径：{words}的努力程度", str(info[f"effort_{kind}"]))
    for p in _rows(con, f"select * from {src}.rulebook_calendar order by phase_no"):
        add(
            f"calendar-{p['phase_id']}",
            f"督察日程：{p['name']}",
            f"{p['start_month']}月{p['start_day']}日至{p['end_month']}月{p['end_day']}日",
        )
    filing = info["problem_list_filing"]
    add("problem_list_filing", "须附问题清单的报告", filing_names.get(filing, filing) if filing else "无")
    for key, name in (
        ("problem_list_source", "问题清单的问题来源"),
        ("feedback_source", "须填写整改措施的问题来源"),
    ):
        add(key, name, RECTIFICATION_SOURCE_WORDS.get(info[key], str(info[key])))
    return out


# -- publication -----------------------------------------------------------------------------------


def record(con: duckdb.DuckDBPyConnection, served: Path, now: datetime) -> None:
    """Into the warehouse being built on `con` (its marts copied, `marts.publication` written, the work
    database attached as `work`): this publication's rulebook per year, each year's first rulebook carried
    over from the served warehouse (a year it does not hold starts with this publication), and the snapshots
    of every rulebook a year refers to."""
    con.execute(SNAPSHOTS.ddl("marts"))
    con.execute(YEARS.ddl("marts"))
    rows = snapshot(con, WORK_CATALOG)
    if rows:
        current = (rows[0]["rulebook_id"], rows[0]["version"], rows[0]["fingerprint"])
    else:  # a work database without the rulebook tables: what the publication names
        rulebook_id, fingerprint = one_row(
            con, "select rulebook_id, rulebook_fingerprint from marts.publication"
        )
        current = (rulebook_id, None, fingerprint)
    years = _years(con, "")
    first: dict[int, tuple] = {}
    if served.exists():
        con.execute(f"attach {sql_text(str(served))} as served (read_only)")
        try:
            first = _first_published(con, current)
            needed = {first[y][3] for y in years if y in first} - {current[2]}
            if needed and "rulebook_snapshots" in _tables(con, "served", "marts"):
                con.execute(
                    "insert into marts.rulebook_snapshots select * from served.marts.rulebook_snapshots "
                    "where list_contains($needed, fingerprint)",
                    {"needed": sorted(needed)},
                )
        finally:
            con.execute("detach served")
    if rows:
        frame = pd.DataFrame(rows, columns=SNAPSHOTS.column_names)
        con.register("current_snapshot", frame)
        try:
            con.execute("insert into marts.rulebook_snapshots select * from current_snapshot")
        finally:
            con.unregister("current_snapshot")
    if years:  # executemany refuses an empty list
        con.executemany(
            "insert into marts.rulebook_years values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[year, *first.get(year, (now, *current)), *current, now] for year in years],
        )


def _years(con: duckdb.DuckDBPyConnection, db: str) -> list[int]:
    """The years the warehouse `db` (`""`: the one being built, `"served."`) holds figures for."""
    database = db.rstrip(".") or one_row(con, "select current_database()")[0]
    if not {"unit_scores", "submissions"} <= _tables(con, database, "marts"):
        return []
    return [int(r[0]) for r in con.execute(_YEARS_SQL.format(db=db)).fetchall()]


def _first_published(con: duckdb.DuckDBPyConnection, current: tuple) -> dict[int, tuple]:
    """Year → (first_published_at, rulebook_id, version, fingerprint) as the served warehouse knows them.
    A warehouse from before rulebook_years was kept: its years were first published no later than it was,
    under the rulebook it names (its version known only when that is the current one)."""
    tables = _tables(con, "served", "marts")
    if "rulebook_years" in tables:
        return {
            int(r[0]): tuple(r[1:])
            for r in con.execute(
                """select year, first_published_at, first_rulebook_id, first_version, first_fingerprint
                   from served.marts.rulebook_years"""
            ).fetchall()
        }
    if "publication" not in tables:
        return {}
    published_at, rulebook_id, fingerprint = one_row(
        con, "select published_at, rulebook_id, rulebook_fingerprint from served.marts.publication"
    )
    if not fingerprint:
        return {}
    version = current[1] if fingerprint == current[2] else None
    return dict.fromkeys(_years(con, "served."), (published_at, rulebook_id, version, fingerprint))


# -- comparing two rulebooks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One indicator that differs between two rulebooks: added (`was` None), removed (`now` None) or
    changed (its value, or its name)."""

    kind: str
    indicator: str
    name: str
    was: str | None
    now: str | None
    was_name: str | None = None

    @property
    def words(self) -> str:
        """The change in Chinese, e.g. 打分表事项 县（区）党委第27项 …：2分 → 3分."""
        what = KIND_WORDS.get(self.kind, self.kind)
        if self.was is None:
            return f"新增{what} {self.name}：{self.now}"
        if self.now is None:
            return f"删去{what} {self.name}（原为：{self.was}）"
        if self.was_name is not None and self.was_name != self.name:
            renamed = f"{what} {self.was_name} 改称 {self.name}"
            return renamed if self.was == self.now else f"{renamed}：{self.was} → {self.now}"
        return f"{what} {self.name}：{self.was} → {self.now}"


def _natural(text: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def compare(old: pd.DataFrame, new: pd.DataFrame) -> list[Change]:
    """The indicators that differ between two snapshots (rows of `rulebook_snapshots` of one fingerprint
    each: kind, indicator, name, value), in the order of the kinds, then of the indicators."""
    before, after = _rules(old), _rules(new)
    out = []
    for key in sorted(before.keys() | after.keys(), key=lambda k: (_kind_order(k[0]), _natural(k[1]))):
        was, now = before.get(key), after.get(key)
        if was is None and now is not None:
            out.append(Change(*key, name=now[0], was=None, now=now[1]))
        elif now is None and was is not None:
            out.append(Change(*key, name=was[0], was=was[1], now=None))
        elif was is not None and now is not None and was != now:
            out.append(Change(*key, name=now[0], was=was[1], now=now[1], was_name=was[0]))
    return out


def _rules(snapshot: pd.DataFrame) -> dict[tuple[str, str], tuple[str, str]]:
    """(kind, indicator) → (name, value)."""
    columns = (snapshot[c].astype(str) for c in ("kind", "indicator", "name", "value"))
    return {(kind, indicator): (name, value) for kind, indicator, name, value in zip(*columns, strict=True)}


def _kind_order(kind: str) -> int:
    return KINDS.index(kind) if kind in KINDS else len(KINDS)
