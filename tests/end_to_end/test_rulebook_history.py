"""Which rulebook each year was scored under (pipelines/lib/rulebook_history.py): real pipeline runs on real
DuckDB files. 2023 and 2024 are published under the default rulebook and republished with the rules
unchanged; then the office raises a task's points and a study requirement (a rulebook folder that extends the
default, version 2) and 2025's sheets arrive. Each year keeps the rulebook it was first published under; the
method page (方法说明) names the rules that changed where a year's circular, or two consecutive years', were
scored under other rules; a killed publication changes none of it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pandas as pd
import pytest
import yaml
from builders import city_units, losing, write_score_sheet, write_units
from conftest import Warehouse, run_fazhi
from sessions import signed_in
from streamlit.testing.v1 import AppTest

from access.scope import scoped_copy
from pipelines.lib import rulebook_history
from pipelines.lib.faults import ENV
from pipelines.lib.pipeline import publish_marts
from pipelines.lib.rulebook import RULES_DIR, load_rulebook
from pipelines.lib.warehouse import Paths

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboards" / "streamlit_app.py")
README = ROOT / "README.md"
REGIONS = ["清丰县", "南乐县", "范县"]
HISTORY = "select * from marts.rulebook_years order by year"


def _write_v2(folder: Path) -> Path:
    """Version 2 of the rules: party task 27 worth 3 points instead of 2; Xi Jinping Thought on the rule of
    law studied at least 3 times a year instead of 2."""
    (folder / "templates").mkdir(parents=True)
    (folder / "rulebook.yaml").write_text(
        """extends: default
id: default
name: 默认规则（第2版）
version: 2
frequency_requirements:
  xi_thought_study:
    name: 中心组每年学习习近平法治思想不少于3次
    min: 3
""",
        encoding="utf-8",
    )
    party = yaml.safe_load((RULES_DIR / "default" / "templates" / "party.yaml").read_text(encoding="utf-8"))
    task = next(t for t in party["tasks"] if t["task_no"] == 27)
    assert task["points"] == 2
    task["points"] = 3
    (folder / "templates" / "party.yaml").write_text(
        yaml.safe_dump(party, allow_unicode=True), encoding="utf-8"
    )
    return folder


def _sheets(raw: Path, year: int) -> None:
    for n, region in enumerate(REGIONS):
        write_score_sheet(raw, year, region, "party", losing("party", n + 1))
        write_score_sheet(raw, year, region, "government", losing("government", 2 * n))


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Two pipeline runs and one publication in between: `first` (2023 and 2024 under the default rules),
    `unchanged` (republished, rules unchanged), `changed` (version 2, with 2025)."""
    root = tmp_path_factory.mktemp("rulebook_history")
    raw, warehouse = root / "raw", root / "marts" / "fazhi.duckdb"
    write_units(raw, city_units(REGIONS))
    for year in (2023, 2024):
        _sheets(raw, year)
    run_fazhi(raw, warehouse)
    first = root / "first.duckdb"
    shutil.copy(warehouse, first)
    publish_marts(Paths.from_env(raw, warehouse), load_rulebook())  # the same rules published again
    unchanged = root / "unchanged.duckdb"
    shutil.copy(warehouse, unchanged)
    v2 = _write_v2(root / "rules_v2")
    _sheets(raw, 2025)
    run_fazhi(raw, warehouse, rulebook=str(v2))
    return SimpleNamespace(
        root=root,
        raw=raw,
        v2=v2,
        first=Warehouse(raw, first),
        unchanged=Warehouse(raw, unchanged),
        changed=Warehouse(raw, warehouse),
        default=load_rulebook(),
        rules=load_rulebook(v2),
    )


def _snapshot(wh: Warehouse, fingerprint: str) -> pd.DataFrame:
    return wh.df("select * from marts.rulebook_snapshots where fingerprint = ?", [fingerprint])


def test_each_year_keeps_the_rulebook_it_was_first_published_under(history):
    default, v2 = history.default, history.rules
    assert default.fingerprint != v2.fingerprint and (default.id, v2.id) == ("default", "default")
    (first_published,) = history.first.one("select published_at from marts.publication")
    first = history.first.df(HISTORY)
    assert list(first.columns) == rulebook_history.YEARS.column_names
    assert list(first["year"]) == [2023, 2024]
    assert set(first["first_fingerprint"]) == set(first["current_fingerprint"]) == {default.fingerprint}
    assert (first["first_published_at"] == first_published).all() and set(first["first_version"]) == {1}

    # Republished with the same rules: the first publication stays the first.
    (republished,) = history.unchanged.one("select published_at from marts.publication")
    again = history.unchanged.df(HISTORY)
    assert republished > first_published
    assert (again["first_published_at"] == first_published).all() and (
        again["published_at"] == republished
    ).all()
    assert set(again["first_fingerprint"]) == set(again["current_fingerprint"]) == {default.fingerprint}

    # Version 2: 2023 and 2024 keep version 1 as their first rulebook; 2025 starts under version 2.
    (published,) = history.changed.one("select published_at from marts.publication")
    now = history.changed.df(HISTORY).set_index("year")
    assert list(now.index) == [2023, 2024, 2025]
    assert (now["current_fingerprint"] == v2.fingerprint).all() and (now["current_version"] == 2).all()
    assert (now["current_rulebook_id"] == "default").all() and (now["published_at"] == published).all()
    for year in (2023, 2024):
        row = now.loc[year]
        assert (row["first_rulebook_id"], row["first_version"], row["first_fingerprint"]) == (
            "default",
            1,
            default.fingerprint,
        )
        assert row["first_published_at"] == first_published
    assert (now.loc[2025, "first_fingerprint"], now.loc[2025, "first_version"]) == (v2.fingerprint, 2)
    assert now.loc[2025, "first_published_at"] == published


def test_the_snapshots_of_every_rulebook_a_year_refers_to(history):
    default, v2 = history.default, history.rules
    kept = history.changed.df("select fingerprint, count(*) as n from marts.rulebook_snapshots group by 1")
    assert set(kept["fingerprint"]) == {default.fingerprint, v2.fingerprint}
    assert history.changed.one(
        "select count(*) = count(distinct (fingerprint, indicator)) from marts.rulebook_snapshots"
    ) == (True,)
    # The version 1 snapshot is carried over as it was first written.
    columns = ["kind", "indicator", "name", "value"]
    carried = _snapshot(history.changed, default.fingerprint).sort_values(columns).reset_index(drop=True)
    written = _snapshot(history.first, default.fingerprint).sort_values(columns).reset_index(drop=True)
    pd.testing.assert_frame_equal(carried, written)
    assert set(
        history.unchanged.df("select distinct fingerprint from marts.rulebook_snapshots")["fingerprint"]
    ) == {default.fingerprint}
    # Every kind of rule, in words.
    rows = written.set_index("indicator")
    assert set(written["kind"]) == set(rulebook_history.KINDS)
    assert (rows.loc["party-27", "kind"], rows.loc["party-27", "value"]) == ("task", "2分")
    assert rows.loc["party-27", "name"].startswith(
        "县（区）党委第27项 健全并落实县（区）委理论中心组学法制度"
    )
    assert rows.loc["committee_hearing", "value"].startswith(
        "每半年至少1次；适用：县（区）党委、乡镇（街道）党委"
    )
    assert rows.loc["shufa_report", "value"].startswith("次年1月31日前；报送：县（区）党委")
    assert rows.loc["party-1-evidence", "value"] == (
        "对照“党委常委会每半年至少听取一次法治建设工作汇报”：每少1次扣1分，最多2分"
    )
    assert rows.loc["region_roles", "value"] == "县（区）党委、县（区）政府得分的平均值"
    assert rows.loc["score_sheet_due", "value"] == "次年1月31日前"
    assert len(written) == len(set(written["indicator"])) > 150


def test_the_change_list_names_exactly_the_changed_rules(history):
    old = _snapshot(history.changed, history.default.fingerprint)
    new = _snapshot(history.changed, history.rules.fingerprint)
    changes = rulebook_history.compare(old, new)
    assert [(c.kind, c.indicator) for c in changes] == [
        ("task", "party-27"),
        ("requirement", "xi_thought_study"),
    ]
    assert (
        changes[0].words == "打分表事项 县（区）党委第27项 健全并落实县（区）委理论中心组学法制度…：2分 → 3分"
    )
    assert changes[1].words.startswith(
        "频次要求 中心组每年学习习近平法治思想不少于2次 改称 中心组每年学习习近平法治思想不少于3次："
        "每年至少2次；适用：县（区）党委、乡镇（街道）党委；计入：中心组学习习近平法治思想 → 每年至少3次；"
    )
    assert rulebook_history.compare(old, old) == []
    # Added and removed rules, both ways round.
    added = rulebook_history.compare(old[old["indicator"] != "party-27"], old)
    assert [c.words for c in added] == [
        "新增打分表事项 县（区）党委第27项 健全并落实县（区）委理论中心组学法制度…：2分"
    ]
    removed = rulebook_history.compare(old, old[old["indicator"] != "shufa_report"])
    assert [c.words for c in removed] == [
        "删去报送要求 年终述法（列入年度述职报告）（原为：次年1月31日前；报送：县（区）党委、县（区）政府、市直部门、"
        "乡镇（街道）党委、乡镇（街道）政府）"
    ]


def _open_method_page(warehouse: Path, monkeypatch, rulebook: Path | None = None) -> AppTest:
    monkeypatch.setenv("FAZHI_WAREHOUSE", str(warehouse))
    if rulebook:
        monkeypatch.setenv("FAZHI_RULEBOOK", str(rulebook))
    else:
        monkeypatch.delenv("FAZHI_RULEBOOK", raising=False)
    at = signed_in(AppTest.from_file(APP, default_timeout=60)).run()
    at.switch_page("app_pages/method.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _unescaped(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def test_the_method_page_warns_where_years_were_scored_under_other_rules(history, monkeypatch):
    default, v2 = history.default, history.rules
    at = _open_method_page(history.changed.path, monkeypatch, history.v2)
    assert "各年度所用规则" in [s.value for s in at.subheader]
    years = at.dataframe[0].value
    assert list(years.columns) == ["年度", "首次发布所用规则", "首次发布时间（北京时间）", "本次计算所用规则"]
    v1_label, v2_label = (
        f"default 第1版（指纹 {default.fingerprint}）",
        f"default 第2版（指纹 {v2.fingerprint}）",
    )
    assert years.values[:, [0, 1, 3]].tolist() == [
        ["2023", v1_label, v2_label],
        ["2024", v1_label, v2_label],
        ["2025", v2_label, v2_label],
    ]
    warnings = [_unescaped(w.value) for w in at.warning]
    assert len(warnings) == 2, warnings
    rescored, differ = warnings
    assert rescored.startswith(f"注意：2023、2024年度的数字第一次发布时按规则库 {v1_label} 计算")
    assert f"本次发布按 {v2_label} 重新计算" in rescored
    assert differ.startswith(
        f"注意：2024年度和2025年度第一次发布时所用的规则不同（2024年度：{v1_label}；2025年度：{v2_label}）"
    )
    for text in (rescored, differ):
        listed = [line for line in text.splitlines() if line.startswith("- ")]
        assert len(listed) == 2, text
        assert (
            listed[0] == "- 打分表事项 县（区）党委第27项 健全并落实县（区）委理论中心组学法制度…：2分 → 3分"
        )
        assert listed[1].startswith(
            "- 频次要求 中心组每年学习习近平法治思想不少于2次 改称 中心组每年学习习近平法治思想不少于3次"
        )
    at.sidebar.radio(key="lang").set_value("en").run()
    warnings = [_unescaped(w.value) for w in at.warning]
    assert len(warnings) == 2 and warnings[0].startswith(
        "Note: the figures of 2023, 2024 were first published under rulebook default version 1"
    )
    assert "2分 → 3分" in warnings[0] and warnings[1].startswith(
        "Note: 2024 and 2025 were first published under"
    )


def test_no_warning_when_the_rules_did_not_change(history, monkeypatch):
    at = _open_method_page(history.unchanged.path, monkeypatch)
    assert not at.warning, [w.value for w in at.warning]
    assert "各年度第一次发布时所用的规则与本次计算所用的相同，相邻年度第一次发布时所用的规则也相同。" in [
        c.value for c in at.caption
    ]
    years = at.dataframe[0].value
    label = f"default 第1版（指纹 {history.default.fingerprint}）"
    assert years.values[:, [0, 1, 3]].tolist() == [["2023", label, label], ["2024", label, label]]


def test_a_killed_publication_changes_no_history(history, tmp_path):
    """Killed with SIGKILL after the new file is complete, just before the swap: what is served, history
    included, is what it was; the next publication carries the same history on."""
    marts = tmp_path / "marts"
    shutil.copytree(history.changed.path.parent, marts)
    served = marts / "fazhi.duckdb"
    before = served.read_bytes()
    tables = {
        t: Warehouse(history.raw, served).df(f"select * from marts.{t}")
        for t in ("rulebook_years", "rulebook_snapshots")
    }
    publish = (
        "import sys; from pipelines.lib.pipeline import publish_marts; from pipelines.lib.rulebook import "
        "load_rulebook; from pipelines.lib.warehouse import Paths; "
        "publish_marts(Paths.from_env(sys.argv[1], sys.argv[2]), load_rulebook(sys.argv[3]))"
    )
    command = [sys.executable, "-c", publish, str(history.raw), str(served), str(history.v2)]
    killed = subprocess.run(
        command, env={**os.environ, ENV: "publish.before_swap"}, capture_output=True, text=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert served.read_bytes() == before
    done = subprocess.run(
        command, env={k: v for k, v in os.environ.items() if k != ENV}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    after = Warehouse(history.raw, served)
    years = after.df(HISTORY)
    kept = ["year", "first_published_at", "first_rulebook_id", "first_version", "first_fingerprint"]
    pd.testing.assert_frame_equal(years[kept], tables["rulebook_years"][kept])
    assert (years["published_at"] > tables["rulebook_years"]["published_at"]).all()
    columns = list(tables["rulebook_snapshots"].columns)
    pd.testing.assert_frame_equal(
        after.df("select * from marts.rulebook_snapshots").sort_values(columns).reset_index(drop=True),
        tables["rulebook_snapshots"].sort_values(columns).reset_index(drop=True),
    )
    assert sorted(p.name for p in marts.iterdir()) == [".work", "fazhi.duckdb"], (
        "the killed attempt's file is left"
    )


def test_a_warehouse_from_before_the_history_was_kept(history, tmp_path):
    """The first publication over a warehouse without rulebook_years: its years were first published when
    it was, under the rulebook its publication names."""
    marts = tmp_path / "marts"
    shutil.copytree(history.changed.path.parent, marts)
    served = marts / "fazhi.duckdb"
    with duckdb.connect(str(served)) as con:
        con.execute("drop table marts.rulebook_years")
        con.execute("drop table marts.rulebook_snapshots")
        con.execute(
            "update marts.publication set rulebook_id = 'old', rulebook_fingerprint = '00000000feedbeef'"
        )
        (old_published,) = con.execute("select published_at from marts.publication").fetchone()
    publish_marts(Paths.from_env(history.raw, served), history.rules)
    years = Warehouse(history.raw, served).df(HISTORY)
    assert list(years["year"]) == [2023, 2024, 2025]
    assert set(years["first_rulebook_id"]) == {"old"} and set(years["first_fingerprint"]) == {
        "00000000feedbeef"
    }
    assert years["first_version"].isna().all() and (years["first_published_at"] == old_published).all()
    assert set(years["current_fingerprint"]) == {history.rules.fingerprint}


def test_a_region_scoped_viewer_reads_the_history(history):
    con = scoped_copy(history.changed.path, "清丰县")
    try:
        assert con.execute("select count(*) from marts.rulebook_years").fetchone() == (3,)
        assert con.execute("select count(distinct fingerprint) from marts.rulebook_snapshots").fetchone() == (
            2,
        )
    finally:
        con.close()


def _readme_columns(table: str) -> list[tuple[str, str, str]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(f"### `{table}`") :]
    section = section[: section.index("```sql")]
    return re.findall(r"^\| `(\w+)` \| ([\w\[\]]+) \| (.*) \|$", section, re.M)


@pytest.mark.parametrize("table", [rulebook_history.SNAPSHOTS, rulebook_history.YEARS], ids=lambda t: t.name)
def test_the_readme_documents_the_declared_columns(table):
    """The README's contract lists exactly the columns publication declares, with their types and meanings."""
    assert _readme_columns(table.name) == [(c.name, c.data_type, c.description) for c in table.columns]
