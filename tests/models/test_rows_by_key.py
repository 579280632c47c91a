"""Models that declare `rows_by` (pipelines/lib/marts_build.py): when only some units' or files' rows of
their keyed inputs change, the build makes those keys' rows again and keeps the rest; the tables must
be exactly what a whole build of the same inputs makes. On a generated city year, changed many ways."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import generate_city, model_relations, run_fazhi

from pipelines.lib import fingerprints, marts_build
from pipelines.lib.dbt_project import prepared_project
from pipelines.lib.warehouse import Paths, publish, sql_text, table_differences

BY_UNIT = {
    "model.fazhi.meetings",
    "model.fazhi.requirement_compliance",
    "model.fazhi.study_sessions_quarterly",
    "model.fazhi.filing_rates",
    "model.fazhi.normative_doc_rates",
    "model.fazhi.int_evidence",
    "model.fazhi.task_scores",
    "model.fazhi.early_warnings",
    "model.fazhi.int_improvement_items",
    "model.fazhi.task_evidence",
    "model.fazhi.rectification_items",
}
BY_FILE = {"model.fazhi.ingest_issues", "model.fazhi.feedback_items", "model.fazhi.submissions"}
BY_ROLE = {
    "model.fazhi.unit_scores",
    "model.fazhi.duty_scores",
    "model.fazhi.int_improvement_unit_paths",
    "model.fazhi.int_region_role_units",
    "model.fazhi.int_region_role_items",
}
BY_SCOPE_AND_ROLE = {"model.fazhi.improvement_paths"}
# What each round changes (`_change`) makes these models again by key (round 3: files' issues and records
# and rectifications only).
PATCHED = {
    1: {
        "model.fazhi.unit_scores",
        "model.fazhi.duty_scores",
        "model.fazhi.feedback_items",
        "model.fazhi.meetings",
        "model.fazhi.requirement_compliance",
        "model.fazhi.study_sessions_quarterly",
        "model.fazhi.filing_rates",
        "model.fazhi.normative_doc_rates",
        "model.fazhi.task_scores",
        "model.fazhi.rectification_items",
        "model.fazhi.ingest_issues",
        "model.fazhi.submissions",
        "model.fazhi.int_improvement_unit_paths",
        "model.fazhi.improvement_paths",
        "model.fazhi.int_region_role_units",  # a department's scores: its role's rows, none here
    },
    3: {
        "model.fazhi.rectification_items",
        "model.fazhi.ingest_issues",
        "model.fazhi.feedback_items",
        "model.fazhi.submissions",
    },
}
# round 2's task scores change may leave a role's improvement items as they were (it depends on the
# generated year): the units' paths are made again by role in round 1
PATCHED[2] = PATCHED[1] - {"model.fazhi.int_improvement_unit_paths", "model.fazhi.improvement_paths"}


@pytest.fixture(scope="module")
def work_db(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rows_by")
    raw = root / "raw"
    generate_city(raw, "2024", seed=5)
    run_fazhi(raw, root / "marts" / "fazhi.duckdb")
    return root / "marts" / ".work" / "fazhi_work.duckdb"


def _units(con: duckdb.DuckDBPyConnection, table: str, n: int, where: str = "true") -> list[str]:
    """n units with rows in a staging table, the same ones every run."""
    rows = con.execute(
        f"select distinct unit_id from {table} where unit_id is not null and {where} order by 1"
    ).fetchall()
    assert len(rows) >= n, table
    return [u for (u,) in rows[1 : n + 1]]


def _change(con: duckdb.DuckDBPyConnection, round_no: int) -> None:
    """Change a few units' rows of each keyed staging table: a value, rows gone, a row added, a row
    moved to another year; in round 2 the same and other units again; in round 3 files' issues and
    records and rectifications alone."""
    _change_files(con, round_no)
    i = _units(con, "stg_rectifications", 3)[round_no - 1]
    con.execute("update stg_rectifications set deadline = deadline + 30 where unit_id = ?", [i])
    if round_no == 3:
        return
    a, b, c, d = _units(con, "stg_meetings", 4)
    con.execute(f"update stg_meetings set hours = coalesce(hours, 0) + {round_no} where unit_id = ?", [a])
    con.execute("delete from stg_meetings where unit_id = ?", [b if round_no == 1 else c])
    con.execute(
        "insert into stg_meetings select * replace ('补充' || topic as topic, false as is_duplicate) "
        "from stg_meetings where unit_id = ? limit 1",
        [c if round_no == 1 else a],
    )
    con.execute(
        "update stg_meetings set year = year - 1, date = (date - interval 1 year)::date where rowid = (select min(rowid) from stg_meetings where unit_id = ?)",
        [d],
    )
    # two units of one role: the other roles' scores, ranks and medians are kept
    e, f = _units(con, "stg_task_scores", 2, where="role = 'department'")
    con.execute(
        "update stg_task_scores set points = greatest(points - 1, 0) where unit_id = ? and points >= 1",
        [e if round_no == 1 else f],
    )
    con.execute("delete from stg_task_scores where unit_id = ? and task_no = 1", [f])
    g = _units(con, "stg_filings", 2)[round_no - 1]
    con.execute("update stg_filings set filed_date = null where unit_id = ?", [g])
    (h,) = _units(con, "stg_normative_docs", 1)
    con.execute(
        "insert into stg_normative_docs select * from stg_normative_docs where unit_id = ? limit 1", [h]
    )


def _change_files(con: duckdb.DuckDBPyConnection, round_no: int) -> None:
    """A file's issue added, another's gone, a third file's record changed."""
    files = [f for (f,) in con.execute("select distinct file from stg_meeting_issues order by 1").fetchall()]
    assert len(files) >= 9
    added, gone, changed = files[3 * round_no - 3 : 3 * round_no]
    con.execute(
        "insert into stg_meeting_issues select * replace (message || '（复核）' as message) "
        "from stg_meeting_issues where file = ? limit 1",
        [added],
    )
    con.execute(
        "delete from stg_meeting_issues where rowid = "
        "(select min(rowid) from stg_meeting_issues where file = ? and severity = 'warning')",
        [gone],
    )
    con.execute("update stg_meeting_files set sha256 = sha256 || ? where file = ?", [str(round_no), changed])


def _differing(patched: Path, whole: Path) -> dict[str, tuple[int, int]]:
    """The model tables (marts and intermediate) whose rows differ; their columns and types must match."""
    con = duckdb.connect()
    con.execute(f"attach '{patched}' as patched (read_only)")
    con.execute(f"attach '{whole}' as whole (read_only)")
    tables = model_relations(con, "patched")
    assert tables == model_relations(con, "whole") and len(tables) >= 30
    con.close()
    return table_differences(patched, whole, intermediate=True)


def test_keys_changed_in_keyed_inputs_are_made_again_alone_and_equal_a_whole_build(work_db, tmp_path):
    project = marts_build.load_project(prepared_project().manifest_path)
    assert {m.unique_id: m.key for m in project.models if m.key} == {
        **dict.fromkeys(BY_UNIT, ("year", "unit_id")),
        **dict.fromkeys(BY_FILE, ("year", "file")),
        **dict.fromkeys(BY_ROLE, ("role",)),
        **dict.fromkeys(BY_SCOPE_AND_ROLE, ("scope", "role")),
    }
    # each round's marts published from the served file, and published whole from the whole build
    served = Paths(tmp_path / "raw", tmp_path / "served" / "fazhi.duckdb")
    patched = served.work_db
    patched.parent.mkdir(parents=True)
    shutil.copy(work_db, patched)
    publish(served, 0)
    for round_no in (1, 2, 3):
        written_whole = Paths(tmp_path / "raw", tmp_path / f"whole{round_no}" / "fazhi.duckdb")
        whole = written_whole.work_db
        whole.parent.mkdir(parents=True)
        with duckdb.connect(str(patched)) as con:
            _change(con, round_no)
        shutil.copy(patched, whole)
        for path, reuse in ((patched, True), (whole, False)):
            con = marts_build.connect(path, project, "1GB")
            built = marts_build.build(con, project, reuse=reuse)
            # what a patched table holds is worked out from the rows replaced: it must be what it holds
            comments = fingerprints.comments(con)
            for uid in built.patched:
                table = next(f"{m.schema}.{m.name}" for m in project.models if m.unique_id == uid)
                content = fingerprints.recorded_content(comments[table])
                assert content == fingerprints.table_content(con, table), (round_no, uid)
                assert fingerprints.recorded_holds(comments[table]) == fingerprints.holds(con, table)[0]
            con.close()
            assert not built.failed
            if reuse:
                assert set(built.patched) >= PATCHED[round_no], (round_no, built.patched)
                assert all(0 < n <= 10 for n in built.patched.values()), {
                    uid: n for uid, n in built.patched.items() if not 0 < n <= 10
                }
            else:
                assert built.patched == {}
        assert _differing(patched, whole) == {}
        # the served copy brought up to date by the keys each patched mart's build changed
        published = publish(served, 0)
        marts = {uid.split(".")[-1] for uid in PATCHED[round_no] if not uid.split(".")[-1].startswith("int_")}
        assert set(published.by_change) >= marts, (round_no, published.by_change)
        differences = table_differences(
            published.path, publish(written_whole, 0).path, where={"restatements": "false"}
        )
        assert differences == {}


def test_a_change_outside_the_keyed_inputs_makes_the_model_whole(work_db, tmp_path):
    """The rulebook's roles are read whole by study_sessions_quarterly: changed, its rows are made whole;
    the rows the model kept otherwise are marked, and a whole build must not keep the mark."""
    project = marts_build.load_project(prepared_project().manifest_path)
    path = tmp_path / "work.duckdb"
    shutil.copy(work_db, path)
    with duckdb.connect(str(path)) as con:
        con.execute("update rulebook_roles set study_required_per_quarter = study_required_per_quarter + 1")
        con.execute("update marts.study_sessions_quarterly set region = '标记'")  # kept rows would show it
        _change(con, 1)
    con = marts_build.connect(path, project, "1GB")
    built = marts_build.build(con, project)
    marked = con.execute(
        "select count(*) from marts.study_sessions_quarterly where region = '标记'"
    ).fetchone()
    con.close()
    assert "model.fazhi.study_sessions_quarterly" not in built.patched
    assert "model.fazhi.meetings" in built.patched  # reads no rulebook: still made by unit
    assert marked == (0,)


def test_a_keyed_input_holding_the_same_rows_is_not_digested_again(work_db, tmp_path, monkeypatch):
    """Only files' issues and rectifications change: the task scores, which feedback_items reads by file
    too, hold what they held when its digests were made, and are not digested again; a change to them
    later is still found, and every table equals a whole build's. The inputs patched in the same build
    are digested by the keys of the rows their patch replaced alone."""
    project = marts_build.load_project(prepared_project().manifest_path)
    digested: dict[str, list[str]] = {}
    by_rows: dict[str, list[str]] = {}  # of those, the ones digested by the rows their patch replaced
    real = marts_build._digest_inputs

    def spied(con, project, model, inputs, made, by_delta):
        digested[model.unique_id], by_rows[model.unique_id] = list(inputs), list(by_delta)
        real(con, project, model, inputs, made, by_delta)

    monkeypatch.setattr(marts_build, "_digest_inputs", spied)
    patched, whole = tmp_path / "patched.duckdb", tmp_path / "whole.duckdb"
    shutil.copy(work_db, patched)
    for round_no, change in ((1, lambda con: _change(con, 3)), (2, _task_change)):
        with duckdb.connect(str(patched)) as con:
            change(con)
        shutil.copy(patched, whole)
        for path, reuse in ((patched, True), (whole, False)):
            digested.clear()
            con = marts_build.connect(path, project, "1GB")
            built = marts_build.build(con, project, reuse=reuse)
            con.close()
            assert not built.failed
            if reuse:
                assert "model.fazhi.feedback_items" in built.patched, (round_no, built.patched)
                read = digested["model.fazhi.feedback_items"]
                assert ("model.fazhi.task_scores" in read) == (round_no == 2), (round_no, read)
                assert "model.fazhi.ingest_issues" in read
                assert set(by_rows["model.fazhi.feedback_items"]) == set(read) & {
                    "model.fazhi.ingest_issues",
                    "model.fazhi.task_scores",
                    "model.fazhi.submissions",
                }, by_rows
        assert _differing(patched, whole) == {}


def _task_change(con: duckdb.DuckDBPyConnection, role: str = "department") -> None:
    (unit,) = _units(con, "stg_task_scores", 1, where=f"role = {sql_text(role)} and points >= 1")
    con.execute("update stg_task_scores set points = points - 1 where unit_id = ? and points >= 1", [unit])
    _change_files(con, 3)


def test_a_sheet_of_a_role_outside_the_regions_leaves_the_regions_paths_as_they_were(work_db, tmp_path):
    """The regions' rankings and paths are made whole from the region roles' rows (int_region_role_units
    and _items, made by role). A department's scores lowered: those rows are patched to what they were
    and the regions' rankings and paths kept; a party unit's: they are made again. Both equal a whole
    build."""
    project = marts_build.load_project(prepared_project().manifest_path)
    regions = {"model.fazhi.region_rankings", "model.fazhi.int_improvement_region_paths"}
    patched, whole = tmp_path / "patched.duckdb", tmp_path / "whole.duckdb"
    shutil.copy(work_db, patched)
    for role, kept in (("department", True), ("party", False)):
        with duckdb.connect(str(patched)) as con:
            _task_change(con, role)
        built = _built_both_ways(project, patched, whole)[True]
        assert "model.fazhi.int_region_role_units" in built.patched, (role, built.patched)
        assert (regions <= set(built.reused)) == kept, (role, built.reused)
        assert kept or not regions & set(built.reused), (role, built.reused)
        assert _differing(patched, whole) == {}


def test_a_corrected_score_keeps_what_units_owe(work_db, tmp_path):
    """What units owe (int_missing_submissions) reads the sheets not received (int_missing_score_sheets),
    not the scores, which a corrected sheet changes for its whole role: a department's scores lowered
    leaves it as it was, and the warehouse equals a whole build."""
    project = marts_build.load_project(prepared_project().manifest_path)
    patched, whole = tmp_path / "patched.duckdb", tmp_path / "whole.duckdb"
    shutil.copy(work_db, patched)
    with duckdb.connect(str(patched)) as con:
        _task_change(con, "department")
    built = _built_both_ways(project, patched, whole)[True]
    assert "model.fazhi.unit_scores" in built.patched, built.patched
    assert "model.fazhi.int_missing_submissions" in built.reused, built.reused
    assert _differing(patched, whole) == {}


def _built_both_ways(
    project: marts_build.Project, patched: Path, whole: Path
) -> dict[bool, marts_build.Built]:
    """`patched` built reusing what it can, and a copy of it as `whole` built whole: each build, by
    whether it reused. Neither may fail a test."""
    shutil.copy(patched, whole)
    built = {}
    for path, reuse in ((patched, True), (whole, False)):
        con = marts_build.connect(path, project, "1GB")
        built[reuse] = marts_build.build(con, project, reuse=reuse)
        con.close()
        assert not built[reuse].failed
    return built


def test_files_restaged_twice_before_a_build_are_both_found(work_db, tmp_path):
    """Staging keeps only its last replace's rows; a build after two (the first one's marts were never
    built) cannot find the keys from them alone, and digests the whole table: both changes are made."""
    from pipelines.lib.staging import common

    project = marts_build.load_project(prepared_project().manifest_path)
    patched, whole = tmp_path / "patched.duckdb", tmp_path / "whole.duckdb"
    shutil.copy(work_db, patched)
    with duckdb.connect(str(patched)) as con:
        files = [
            f for (f,) in con.execute("select distinct file from stg_meetings order by 1 limit 2").fetchall()
        ]
        for file in files:  # each ledger's meetings an hour longer, staged again alone
            rows = con.sql(
                f"select * replace (coalesce(hours, 0) + 1 as hours) from stg_meetings where file = {sql_text(file)}"
            ).to_arrow_table()
            common.replace(con, "stg_meetings", rows, [file])
    built = _built_both_ways(project, patched, whole)
    assert "model.fazhi.meetings" in built[True].patched and not built[False].patched
    assert _differing(patched, whole) == {}


def test_a_model_with_more_of_its_keys_changed_than_the_limit_is_made_whole(work_db, tmp_path, monkeypatch):
    """Past PATCH_LIMIT of its keys, patching costs what making the table whole does: it is made whole,
    and its kept digests with it, so that the next build patches it again."""
    project = marts_build.load_project(prepared_project().manifest_path)
    path = tmp_path / "work.duckdb"
    shutil.copy(work_db, path)
    with duckdb.connect(str(path)) as con:
        _change(con, 1)
    monkeypatch.setattr(marts_build, "PATCH_LIMIT", 1e-9)
    con = marts_build.connect(path, project, "1GB")
    built = marts_build.build(con, project)
    con.close()
    assert not built.failed and built.patched == {}
    monkeypatch.undo()
    with duckdb.connect(str(path)) as con:
        _change(con, 2)
    con = marts_build.connect(path, project, "1GB")
    built = marts_build.build(con, project)
    con.close()
    assert set(built.patched) >= PATCHED[2], built.patched
