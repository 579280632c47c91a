"""The dbt models: their unit tests (the business rules on given rows), their documentation, and the
README's contract, which is checked against the models' YAML (the one place columns are declared)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
import yaml
from builders import city_units, losing, write_score_sheet, write_units
from conftest import model_relations, run_fazhi

from pipelines.lib.dbt_project import DBT_EXECUTABLE
from pipelines.lib.schema import DBT_DIR, mart_tables


@pytest.fixture(scope="module")
def work_db(tmp_path_factory) -> Path:
    """A work database the real pipeline built (unit tests need the models' upstream relations)."""
    root = tmp_path_factory.mktemp("models")
    raw = root / "raw"
    write_units(raw, city_units(["清丰县", "范县"]))
    for region in ("清丰县", "范县"):
        write_score_sheet(raw, 2024, region, "party", losing("party", 2))
        write_score_sheet(raw, 2024, region, "government")
    run_fazhi(raw, root / "marts" / "fazhi.duckdb")
    return root / "marts" / ".work" / "fazhi_work.duckdb"


def _dbt(project: Path, work_db: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    target = work_db.parent / "dbt_unit_tests"
    env = {
        **os.environ,
        "FAZHI_WORK_DB": str(work_db),
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(target),
        "DBT_PROFILES_DIR": str(project),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    done = subprocess.run(
        [DBT_EXECUTABLE, *args], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )
    results = (
        json.loads((target / "run_results.json").read_text())["results"]
        if (target / "run_results.json").exists()
        else []
    )
    return done, results


def test_the_business_rules_hold_on_their_unit_tests(work_db):
    done, results = _dbt(DBT_DIR, work_db, "test", "--select", "test_type:unit")
    assert done.returncode == 0, done.stdout[-4000:]
    names = {r["unique_id"].split(".")[-1] for r in results}
    assert len(names) >= 11 and all(r["status"] == "pass" for r in results)
    for rule in (
        "competition_ranking_with_ties",
        "bottom_cut_with_ties",
        "evidence",
        "periods",
        "duplicates",
        "on_time_on_the_due_date",
        "three_rates",
    ):
        assert any(rule in n for n in names), f"no unit test for {rule}: {sorted(names)}"


def test_a_wrong_expectation_fails_its_unit_test(work_db, tmp_path):
    """The harness reports a broken rule: the ranking test expecting 1, 2, 3, 4 instead of 1, 2, 2, 4."""
    project = tmp_path / "fazhi_dbt"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    spec = project / "models" / "marts" / "unit_scores.yml"
    text = spec.read_text(encoding="utf-8")
    wrong = text.replace(
        "{year: 2024, unit_id: P3, score: 80, rank: 2,", "{year: 2024, unit_id: P3, score: 80, rank: 3,"
    )
    assert wrong != text
    spec.write_text(wrong, encoding="utf-8")
    done, results = _dbt(project, work_db, "test", "--select", "unit_scores_competition_ranking_with_ties")
    assert done.returncode != 0
    assert [r["status"] for r in results] == ["fail"]


def test_every_mart_and_column_is_documented_and_typed():
    marts = mart_tables()
    assert {
        "unit_scores",
        "region_rankings",
        "task_scores",
        "requirement_compliance",
        "study_sessions_quarterly",
        "filing_rates",
        "normative_doc_rates",
        "weak_spots",
        "ingest_issues",
        "submissions",
        "units",
        "score_sheet_tasks",
        "rulebook_requirements",
        "meetings",
        "rulebook_roles",
    } <= set(marts)
    for table in marts.values():
        assert table.description, table.name
        for column in table.columns:
            assert column.description and column.data_type, (table.name, column.name)
        assert (DBT_DIR / "models" / "marts" / f"{table.name}.sql").exists()


def test_the_published_tables_have_exactly_the_declared_columns(work_db):
    from conftest import Warehouse

    wh = Warehouse(Path(), work_db.parent.parent / "fazhi.duckdb")
    for table in mart_tables().values():
        published = list(wh.df(f"select * from marts.{table.name} limit 0").columns)
        assert published == table.column_names, table.name


def test_the_readme_contract_is_written_from_the_models_yaml():
    """README.md's contract section is exactly what the models' YAML says (regenerate it with
    `.venv/bin/python -m pipelines.lib.contract`)."""
    from pipelines.lib.contract import SECTION, render

    assert SECTION.read() == render()


def test_sources_declare_every_column_the_python_side_writes():
    data = yaml.safe_load((DBT_DIR / "models" / "sources.yml").read_text(encoding="utf-8"))
    for source in data["sources"]:
        for table in source["tables"]:
            for column in table["columns"]:
                assert column.get("data_type"), (table["name"], column["name"])


def test_the_marts_step_builds_exactly_what_dbt_build_builds(work_db, tmp_path):
    """The pipeline's marts step runs the compiled SQL itself (pipelines/lib/marts_build.py); `dbt build`
    on a copy of the same work database must give the same tables, columns, types and rows, and pass."""
    copy = tmp_path / "fazhi_work.duckdb"
    shutil.copy(work_db, copy)
    done, results = _dbt(DBT_DIR, copy, "build", "--exclude-resource-type", "unit_test")
    assert done.returncode == 0, done.stdout[-4000:]
    assert len(results) > 300 and {r["status"] for r in results} <= {"success", "pass"}
    con = duckdb.connect()
    con.execute(f"attach '{work_db}' as ours (read_only)")
    con.execute(f"attach '{copy}' as dbts (read_only)")
    ours, theirs = model_relations(con, "ours"), model_relations(con, "dbts")
    assert ours == theirs and len(ours) >= 30
    for table, columns in ours.items():
        # computed_at and other timestamps differ between the two builds by when they ran
        names = ", ".join(f'"{c}"' for c, kind in columns if not kind.startswith("TIMESTAMP"))
        for a, b in (("ours", "dbts"), ("dbts", "ours")):
            extra = con.execute(
                f"select count(*) from (select {names} from {a}.{table} except all select {names} from {b}.{table})"
            ).fetchone()
            assert extra == (0,), f"{table}: rows only in {a}"
    for table in (
        "marts.unit_scores",
        "marts.region_rankings",
        "main.int_rank_stability",
        "marts.weak_spots",
    ):
        assert con.execute(f"select count(*) from ours.{table}").fetchone()[0] > 0, table


def test_a_corrected_score_draws_its_own_role_again_and_equals_a_whole_simulation(work_db, tmp_path):
    """int_rank_stability keeps the rows of the groups whose inputs did not change (SQL digests of what
    each year and role reads, pipelines/lib/stability.py): after one party unit's score is corrected,
    the government rows are kept (marked here so that kept rows show), party and regions are drawn
    again, and the table is what a whole simulation of the corrected scores gives."""
    from pipelines.lib import marts_build
    from pipelines.lib.dbt_project import prepared_project

    project = marts_build.load_project(prepared_project().manifest_path)
    corrected, whole = tmp_path / "corrected.duckdb", tmp_path / "whole.duckdb"
    shutil.copy(work_db, corrected)
    with duckdb.connect(str(corrected)) as con:
        con.execute(
            "update stg_task_scores set self_points = self_points - 1 where rowid = "
            "(select min(rowid) from stg_task_scores where role = 'party' and self_points >= 1)"
        )
        con.execute("update int_rank_stability set tier_name = '标记'")  # no test reads it
    shutil.copy(corrected, whole)
    for path, keep in ((corrected, True), (whole, False)):
        con = marts_build.connect(path, project, "1GB")
        if not keep:
            con.execute("drop table main.int_rank_stability")
        built = marts_build.build(con, project)
        assert not built.failed and "model.fazhi.int_rank_stability" not in built.reused
        con.close()
    con = duckdb.connect()
    con.execute(f"attach '{corrected}' as corrected (read_only)")
    con.execute(f"attach '{whole}' as whole (read_only)")
    kept = con.execute(
        "select distinct scope from corrected.main.int_rank_stability where tier_name = '标记'"
    ).fetchall()
    assert kept == [("government",)]
    differs = con.execute(
        "select scope, count(*) from (select * from whole.main.int_rank_stability except all "
        "select * from corrected.main.int_rank_stability) group by all order by all"
    ).fetchall()
    assert differs == [("government", 2)]  # the marked rows alone
    assert con.execute("select count(*) from whole.main.int_rank_stability").fetchone()[0] > 4
