"""The marts step's builder (pipelines/lib/marts_build.py) on small projects made here: dbt's order and
skips, contracts, and refusal of what it does not do as dbt does. That it builds what `dbt build`
builds on the real project is tests/models/test_models.py::test_the_marts_step_builds_exactly_what_dbt_build_builds."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines.lib import marts_build
from pipelines.lib.marts_build import DataTest, Model, Project
from pipelines.lib.staging import common as staging
from pipelines.lib.warehouse import held


def _model(
    name: str,
    sql: str,
    deps: tuple[str, ...] = (),
    contract: tuple[tuple[str, str], ...] = (),
    key: tuple[str, ...] = (),
    keyed_inputs: tuple[str, ...] = (),
) -> Model:
    return Model(
        f"model.p.{name}",
        name,
        f'"work"."main"."{name}"',
        "main",
        "sql",
        sql,
        contract,
        deps,
        key,
        keyed_inputs,
    )


def _test(name: str, sql: str, deps: tuple[str, ...]) -> DataTest:
    return DataTest(f"test.p.{name}", name, sql, deps)


@pytest.fixture
def con(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "work.duckdb"))
    connection.execute("create table src as select * from range(3) t(n)")
    connection.execute("create table other_src as select 'x' as s")
    yield connection
    connection.close()


SOURCES = {"source.p.s.src": "main.src", "source.p.s.other_src": "main.other_src"}


def _project(models: list[Model], tests: list[DataTest]) -> Project:
    return Project("work", tuple(models), tuple(tests), {}, SOURCES)


def test_models_build_in_order_and_a_test_counts_its_failing_rows(con):
    a = _model("a", "select n from src", ("source.p.s.src",))
    b = _model("b", 'select n * 2 as m from "work"."main"."a"', (a.unique_id,))
    ok = _test("b_small", 'select * from "work"."main"."b" where m > 10', (b.unique_id,))
    bad = _test("a_positive", 'select * from "work"."main"."a" where n <= 0', (a.unique_id,))
    built = marts_build.build(con, _project([a, b], [ok]))
    assert built.rows == {a.unique_id: 3, b.unique_id: 3} and built.failures == {ok.unique_id: 0}
    built = marts_build.build(con, _project([a, b], [ok, bad]))
    # a is built and its test fails (n = 0): b, which reads a, is skipped and keeps what it had
    assert built.failures == {bad.unique_id: 1} and built.failed == [bad.unique_id]
    assert set(built.rows) == {a.unique_id} and built.skipped == [b.unique_id, ok.unique_id]


def test_a_failing_source_test_skips_every_model_that_reads_the_source(con):
    a = _model("a", "select n from src", ("source.p.s.src",))
    other = _model("other", "select 1 as one")
    dup = _test("src_unique", "select n from src group by n having count(*) > 1", ("source.p.s.src",))
    con.execute("insert into src values (1)")
    built = marts_build.build(con, _project([a, other], [dup]))
    assert built.failed == [dup.unique_id] and built.skipped == [a.unique_id]
    assert set(built.rows) == {other.unique_id}


def test_a_contract_is_checked_by_name_and_type_and_sets_the_column_order(con):
    typed = _model("typed", "select 'x' as b, 1 as a", contract=(("a", "integer"), ("b", "varchar")))
    marts_build.build(con, _project([typed], []))
    assert con.execute('describe "work"."main"."typed"').fetchall()[0][:2] == ("a", "INTEGER")
    wrong = _model("wrong", "select 1::bigint as a", contract=(("a", "integer"),))
    with pytest.raises(marts_build.UnsupportedFeature, match="contract"):
        marts_build.build(con, _project([wrong], []))


def test_a_failed_build_leaves_every_table_as_it_was(con):
    a = _model("a", "select n from src", ("source.p.s.src",))
    marts_build.build(con, _project([a], []))
    broken = _model("broken", "select no_such_column from src", (a.unique_id,))
    con.execute("insert into src values (7)")
    with pytest.raises(duckdb.Error):
        marts_build.build(con, _project([a, broken], []))
    assert con.execute('select count(*) from "work"."main"."a"').fetchone() == (3,)


def _manifest(folder: Path, **model_config) -> Path:
    node = {
        "unique_id": "model.p.a",
        "resource_type": "model",
        "name": "a",
        "database": "work",
        "schema": "main",
        "relation_name": '"work"."main"."a"',
        "language": "sql",
        "compiled_code": "select 1 as one",
        "columns": {},
        "constraints": [],
        "depends_on": {"nodes": []},
        "config": {"materialized": "table", "contract": {"enforced": False}, **model_config},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.json"
    path.write_text(json.dumps({"nodes": {"model.p.a": node}, "macros": {}}))
    return path


def test_what_it_would_not_build_as_dbt_does_is_refused(tmp_path):
    assert [m.name for m in marts_build.load_project(_manifest(tmp_path)).models] == ["a"]
    with pytest.raises(marts_build.UnsupportedFeature, match="materialized=view"):
        marts_build.load_project(_manifest(tmp_path / "view", materialized="view"))
    with pytest.raises(marts_build.UnsupportedFeature, match="hooks"):
        marts_build.load_project(_manifest(tmp_path / "hooks", **{"post-hook": ["select 1"]}))


def test_models_built_from_unchanged_sources_are_kept_and_so_are_the_tests_they_passed(con):
    """A test that passed on what its nodes hold now passes again: it is reported, not run; a test whose
    nodes changed runs, and one that failed runs every time until it passes."""
    a = _model("a", "select n from src", ("source.p.s.src",))
    check = _test("a_small", 'select * from "work"."main"."a" where n > 5', (a.unique_id,))
    project = _project([a], [check])
    first = marts_build.build(con, project)
    assert first.reused == [] and first.passed_before == []
    again = marts_build.build(con, project)
    assert again.reused == [a.unique_id] and again.rows == {a.unique_id: 3}
    assert again.failures == {check.unique_id: 0} and again.passed_before == [check.unique_id]
    assert marts_build.build(con, project, reuse=False).passed_before == []
    con.execute("insert into src values (9)")  # a source changed: rebuilt, and its test sees the new row
    changed = marts_build.build(con, project)
    assert changed.reused == [] and changed.rows == {a.unique_id: 4} and changed.failed == [check.unique_id]
    failing = marts_build.build(con, project)
    assert failing.failed == [check.unique_id] and failing.passed_before == []
    con.execute("delete from src where n = 9")
    assert marts_build.build(con, project).failed == []
    edited = _project([_model("a", "select n + 0 as n from src", ("source.p.s.src",))], [])
    assert marts_build.build(con, edited).reused == []  # the model's SQL changed
    # a test whose SQL changed runs, though what it reads did not
    stricter = _test("a_small", 'select * from "work"."main"."a" where n > 1', (a.unique_id,))
    assert marts_build.build(con, _project([a], [stricter])).failed == [stricter.unique_id]


def test_a_changed_source_rebuilds_the_models_standing_on_it_and_keeps_the_others(con):
    """A corrected meeting ledger need not rebuild the marts made from score sheets alone: each model
    keeps the fingerprint of its own inputs, and a model's inputs include the inputs of the models it reads."""
    a = _model("a", "select n from src", ("source.p.s.src",))
    b = _model("b", 'select n * 2 as m from "work"."main"."a"', (a.unique_id,))
    o = _model("o", "select s from other_src", ("source.p.s.other_src",))
    both = _model(
        "both",
        'select count(*) as k from "work"."main"."b", "work"."main"."o"',
        (b.unique_id, o.unique_id),
    )
    project = _project([a, b, o, both], [])
    k = 'select k from "work"."main"."both"'
    marts_build.build(con, project)
    con.execute("insert into other_src values ('y')")
    built = marts_build.build(con, project)
    assert built.reused == [a.unique_id, b.unique_id] and con.sql(k).fetchall() == [(6,)]
    con.execute("insert into src values (7)")
    built = marts_build.build(con, project)
    assert built.reused == [o.unique_id] and con.sql(k).fetchall() == [(8,)]


def test_a_model_rebuilt_to_the_same_rows_keeps_the_models_reading_it(con):
    """The list of years made again from a corrected score sheet is the same list: the marts read from it
    (the meetings of those years) are not made again; a change in what it holds reaches them."""
    years = _model("years", "select distinct n % 2 as y from src", ("source.p.s.src",))
    reader = _model("reader", 'select y, 1 as n from "work"."main"."years"', (years.unique_id,))
    project = _project([years, reader], [])
    marts_build.build(con, project)
    con.execute("insert into src values (4)")  # another row, the same years
    built = marts_build.build(con, project)
    assert built.reused == [reader.unique_id] and built.rows[years.unique_id] == 2
    con.execute("delete from src where n % 2 = 1")  # one year fewer
    built = marts_build.build(con, project)
    assert built.reused == [] and con.sql('select y from "work"."main"."reader"').fetchall() == [(0,)]
    con.execute("insert into src values (6)")
    assert marts_build.build(con, project).reused == [reader.unique_id]


def test_a_model_by_key_makes_again_the_keys_that_changed_and_only_those(con):
    """`rows_by`: a key's rows made again from its rows of the keyed input, a NULL key like any other;
    a kept key's rows stay as they were (marked here to show it); more than a fifth of the keys
    changed, a change in an input read whole, or no digests kept: the table made whole."""
    con.execute(
        "create table facts as select 2024 as year, 'u' || (i % 10) as unit, i as v from range(40) t(i)"
    )
    con.execute("insert into facts values (2024, null, 100)")
    con.execute("create table factor as select 1 as f")
    sources = {**SOURCES, "source.p.s.facts": "main.facts", "source.p.s.factor": "main.factor"}
    by_unit = _model(
        "by_unit",
        "select year, unit, sum(v) * any_value(f) as total from main.facts cross join main.factor group by all",
        ("source.p.s.facts", "source.p.s.factor"),
        key=("year", "unit"),
        keyed_inputs=("source.p.s.facts",),
    )
    project = Project("work", (by_unit,), (), {}, sources)
    table = '"work"."main"."by_unit"'
    expected = "select year, unit, sum(v) * any_value(f) from facts cross join factor group by all"

    def build() -> dict[str, int]:
        patched = marts_build.build(con, project).patched
        (differ,) = con.execute(
            f"select count(*) from ((select * from {table} except all {expected}) "
            f"union all ({expected} except all select * from {table}))"
        ).fetchone()
        assert differ == 0
        return patched

    assert build() == {}  # first build: made whole, digests kept
    con.execute(
        f"update {table} set total = -total where unit = 'u1'"
    )  # a mark on a key that will not change
    con.execute("update facts set v = v + 1 where unit is null or unit = 'u2'")
    assert marts_build.build(con, project).patched == {by_unit.unique_id: 2}
    assert con.execute(f"select total from {table} where unit = 'u1'").fetchone()[0] < 0  # kept as it was
    con.execute(f"update {table} set total = -total where unit = 'u1'")
    con.execute("delete from facts where unit = 'u3'")  # a key gone
    con.execute("insert into facts values (2023, 'u4', 1)")  # a key new
    assert build() == {by_unit.unique_id: 2}
    con.execute("update facts set v = v + 1 where unit in ('u5', 'u6', 'u7')")  # 3 of 11 keys
    assert build() == {}
    con.execute("update factor set f = 2")  # read whole
    con.execute("update facts set v = v + 1 where unit = 'u8'")
    assert build() == {}
    con.execute('drop table main."marts_keys__by_unit"')
    con.execute("update facts set v = v + 1 where unit = 'u8'")
    assert build() == {}
    con.execute("update facts set v = v + 1 where unit = 'u9'")
    assert build() == {by_unit.unique_id: 1}


def test_a_coarse_key_s_rows_are_replaced_only_in_the_groups_that_differ(con):
    """A model keyed by role makes its role's rows again when one unit's input changed, but replaces
    only the units whose rows differ (`FINER`): the others keep their rows as they lie (their row ids),
    and the build's change names those units alone. The table equals a whole build's."""
    con.execute(
        "create table facts as select chr((97 + r)::integer) as role, 'u' || i as unit_id, i::double as v "
        "from range(10) t(i), range(10) r(r)"  # roles a to j
    )
    by_role = Model(
        "model.p.by_role",
        "by_role",
        '"work"."main"."by_role"',
        "main",
        "sql",
        "select f.role, f.unit_id, f.v, m.peer from main.facts f "
        "join (select role, median(v) as peer from main.facts group by role) m on m.role = f.role",
        (),
        ("source.p.s.facts",),
        key=("role",),
        keyed_inputs=("source.p.s.facts",),
    )
    project = Project("work", (by_role,), (), {}, {**SOURCES, "source.p.s.facts": "main.facts"})
    table, changes = '"work"."main"."by_role"', marts_build.change_table("by_role")

    def build() -> list[tuple]:
        marts_build.build(con, project)
        (differ,) = con.execute(
            f"select count(*) from ((select * from {table} except all {by_role.code}) "
            f"union all ({by_role.code} except all select * from {table}))"
        ).fetchone()
        assert differ == 0
        return sorted(con.execute(f"select * from {changes}").fetchall())

    marts_build.build(con, project)  # made whole: no change kept

    def row_ids(unit: str) -> list[int]:
        return [
            r
            for (r,) in con.execute(
                f"select rowid from {table} where unit_id = ? order by 1", [unit]
            ).fetchall()
        ]

    kept = {unit: row_ids(unit) for unit in ("u5", "u9")}
    con.execute("update facts set v = 3.5 where role = 'a' and unit_id = 'u3'")  # the median stays 4.5
    assert build() == [("a", "u3")]
    assert {unit: row_ids(unit) for unit in kept} == kept
    con.execute("update facts set v = 7 where role = 'a' and unit_id = 'u3'")  # the median moves
    assert build() == [("a", f"u{i}") for i in sorted(range(10), key=str)]


def test_a_test_that_passed_runs_on_the_rows_a_change_put_in_and_finds_what_it_finds_on_all(con):
    """A row test or a uniqueness test that passed before a change reads only the rows put in — a
    source's replaced files, a model's keys made again — and the rows sharing their values, and counts
    what it would count on the whole table: a duplicate of a new row and an old one, two new rows of a
    NULL key. A test that failed, or reads two tables, runs on the whole."""
    con.execute(
        "create table facts as select 'f' || (i % 50) as file, i as seq, 2024 as year, "
        "'u' || (i % 50) as unit, 't' || i as tag from range(200) t(i)"
    )
    con.execute("insert into facts values ('f_null', 200, 2024, null, 'a'), ('f_null', 201, 2024, null, 'b')")
    lines = Model(
        "model.p.lines",
        "lines",
        '"work"."main"."lines"',
        "main",
        "sql",
        "select year, unit, tag from main.facts",
        (),
        ("source.p.s.facts",),
        key=("year", "unit"),
        keyed_inputs=("source.p.s.facts",),
    )
    unique_facts = DataTest(
        "test.p.unique_facts",
        "unique_facts",
        "select year, seq from main.facts group by all having count(*) > 1",
        ("source.p.s.facts",),
        "unique_combination",
        ("year", "seq"),
    )
    unique_lines = DataTest(
        "test.p.unique_lines",
        "unique_lines",
        'select year, unit, tag from "work"."main"."lines" group by all having count(*) > 1',
        (lines.unique_id,),
        "unique_combination",
        ("year", "unit", "tag"),
    )
    tagged = DataTest(
        "test.p.tagged",
        "tagged",
        'select * from "work"."main"."lines" where tag = \'bad\'',
        (lines.unique_id,),
        "expression_is_true",
    )
    both = _test(
        "both",
        'select * from "work"."main"."lines" where not exists (select 1 from main.src)',
        (lines.unique_id, "source.p.s.src"),
    )
    tests = (unique_facts, unique_lines, tagged, both)
    numbers = itertools.count(1000)  # new rows' numbers, none an old row's
    project = Project("work", (lines,), tests, {}, {**SOURCES, "source.p.s.facts": "main.facts"})

    def replaced(rows: list[tuple[str, int, str | None, str]]) -> marts_build.Built:
        frame = pd.DataFrame(
            [(file, next(numbers) if seq is None else seq, 2024, unit, tag) for file, seq, unit, tag in rows],
            columns=["file", "seq", "year", "unit", "tag"],
        )
        staging.replace(con, "main.facts", frame, sorted(set(frame["file"])))
        built = marts_build.build(con, project)
        for t in tests:  # what each test run counts on the whole of what it reads
            if t.unique_id in built.failures:
                assert (
                    built.failures[t.unique_id]
                    == con.execute(f"select count(*) from ({t.code})").fetchone()[0]
                )
        return built

    assert marts_build.build(con, project).on_rows_put_in == []
    # f2 holds u2's rows: two of them now share a tag, and one is u3's, with a tag an old u3 row has
    built = replaced(
        [
            ("f2", None, "u2", "t2"),
            ("f2", None, "u2", "t2"),
            ("f2", None, "u3", "t3"),
            ("f_null", None, None, "a"),
            ("f_null", None, None, "a"),
        ]
    )
    assert built.patched == {lines.unique_id: 3}  # u2, u3 and the NULL unit
    assert built.on_rows_put_in == [unique_facts.unique_id, unique_lines.unique_id, tagged.unique_id]
    assert built.failures == {
        unique_facts.unique_id: 0,
        unique_lines.unique_id: 3,
        tagged.unique_id: 0,
        both.unique_id: 0,
    }
    # it failed last time: on the whole until it passes
    built = replaced([("f2", None, "u2", "t2"), ("f_null", None, None, "a"), ("f_null", None, None, "b")])
    assert built.on_rows_put_in == [unique_facts.unique_id, tagged.unique_id] and built.failed == []
    built = replaced([("f2", None, "u2", "bad"), ("f7", None, "u7", "t8")])  # u7's new tag is u8's
    assert built.on_rows_put_in == [unique_facts.unique_id, unique_lines.unique_id, tagged.unique_id]
    assert built.failed == [tagged.unique_id] and both.unique_id in built.failures
    # a new row of f7 with the number an old row of f5 has
    built = replaced([("f2", None, "u2", "t2"), ("f7", 5, "u7", "t7")])
    assert built.on_rows_put_in == [unique_facts.unique_id] and built.failures == {unique_facts.unique_id: 1}


def test_a_relationship_test_runs_on_the_rows_put_in_while_the_table_it_refers_to_is_unchanged(con):
    """A relationship test that passed, whose rows changed and whose parent did not, reads the rows a
    change put in and counts what it would on the whole: a new row of a unit the registry lacks. Once
    the parent changed (a unit gone, whose old rows now fail), it runs on the whole table."""
    con.execute("create table units as select 'u' || i as unit from range(10) t(i)")
    con.execute(
        "create table facts as select 'f' || (i % 10) as file, 'u' || (i % 10) as unit from range(40) t(i)"
    )
    sources = {**SOURCES, "source.p.s.facts": "main.facts", "source.p.r.units": "main.units"}
    lines = _model("lines", "select file, unit from main.facts", ("source.p.s.facts",))
    lines = replace(lines, key=("file",), keyed_inputs=("source.p.s.facts",))
    known = DataTest(
        "test.p.known_unit",
        "known_unit",
        'select unit from "work"."main"."lines" m where not exists (select 1 from main.units u where u.unit = m.unit)',
        ("source.p.r.units", lines.unique_id),
        "relationships",
        (),
        "source.p.r.units",
    )
    project = Project("work", (lines,), (known,), {}, sources)

    def build_after(rows: list[tuple[str, str]]) -> marts_build.Built:
        frame = pd.DataFrame(rows, columns=["file", "unit"])
        staging.replace(con, "main.facts", frame, sorted(set(frame["file"])))
        built = marts_build.build(con, project)
        whole = con.execute(f"select count(*) from ({known.code})").fetchone()[0]
        assert built.failures[known.unique_id] == whole
        return built

    assert marts_build.build(con, project).failures == {known.unique_id: 0}
    built = build_after([("f1", "u1"), ("f1", "u_new")])
    assert built.on_rows_put_in == [known.unique_id] and built.failures == {known.unique_id: 1}
    built = build_after([("f1", "u1")])  # failed last time: on the whole until it passes
    assert built.on_rows_put_in == [] and built.failed == []
    con.execute("delete from units where unit = 'u7'")
    built = build_after([("f2", "u2")])
    assert built.on_rows_put_in == [] and built.failures == {known.unique_id: 4}


def test_a_relationship_test_s_parent_is_the_node_its_to_names():
    node = {"depends_on": {"nodes": ["model.p.units", "model.p.lines", "source.p.ref.units"]}}
    assert marts_build._referenced(node, "ref('units')") == "model.p.units"
    assert marts_build._referenced(node, "source('ref', 'units')") == "source.p.ref.units"
    assert marts_build._referenced(node, "ref('elsewhere')") == ""
    assert marts_build._referenced(node, "units") == ""


def test_a_rows_by_naming_an_input_the_model_does_not_read_is_refused(tmp_path):
    path = _manifest(tmp_path, meta={"rows_by": {"key": ["n"], "inputs": ["elsewhere"]}})
    with pytest.raises(marts_build.UnsupportedFeature, match="elsewhere"):
        marts_build.load_project(path)


def test_a_source_no_model_or_test_reads_is_not_read(con):
    """The parse cache's tables are sources (the Python side makes them from their declaration) that no
    model reads: the build does not read them either. One that fails when read shows it."""
    con.execute("create view unread as select error('read') as e")
    a = _model("a", "select n from src", ("source.p.s.src",))
    project = Project("work", (a,), (), {}, {**SOURCES, "source.p.s.unread": "main.unread"})
    assert marts_build.build(con, project).rows == {a.unique_id: 3}


# A Python model as dbt-duckdb compiles it: the module with `model`, and dbt's `dbtObj` that reads a
# relation by name. `prepare` reads now and returns what makes the frame later; the probe (a module of
# this test) lets that work wait for the build to go on without it.
PYTHON_MODEL = """
import marts_build_probe as probe

class dbtObj:
    def __init__(self, load_df_function):
        self.ref = lambda name: load_df_function(f'"work"."main"."{name}"')

def model(dbt, session):
    return prepare(dbt, session)()

def prepare(dbt, session):
    rows = dbt.ref("a").df()
    def make():
        probe.went_on = probe.other_started.wait(10)
        if probe.fail:
            raise ValueError("simulation failed")
        return rows.assign(m=rows["n"] * 10)
    return make
"""


@pytest.fixture
def probe(monkeypatch):
    import sys
    import threading
    import types

    module = types.SimpleNamespace(other_started=threading.Event(), went_on=None, fail=False)
    monkeypatch.setitem(sys.modules, "marts_build_probe", module)
    return module


def _python_project() -> tuple[Project, dict[str, Model]]:
    a = _model("a", "select n from src", ("source.p.s.src",))
    py = Model("model.p.py", "py", '"work"."main"."py"', "main", "python", PYTHON_MODEL, (), (a.unique_id,))
    other = _model("other", 'select count(*) as c from "work"."main"."a"', (a.unique_id,))
    reader = _model("reader", 'select sum(m) as total from "work"."main"."py"', (py.unique_id,))
    models = {m.name: m for m in (a, py, other, reader)}
    check = _test("py_small", 'select * from "work"."main"."py" where m > 25', (py.unique_id,))
    return _project(list(models.values()), [check]), models


def test_a_python_model_is_made_beside_the_models_that_do_not_read_it(con, probe):
    """The simulation runs while the SQL models after it are built; the model that reads it, and its
    tests, wait for its rows."""
    project, models = _python_project()
    started: list[str] = []

    def on_model(model: Model) -> None:
        started.append(model.name)
        if model.name == "other":
            probe.other_started.set()

    built = marts_build.build(con, project, on_model=on_model)
    assert probe.went_on is True  # the model after it started before its rows were made
    assert started == ["a", "py", "other", "reader"]
    assert con.execute('select total from "work"."main"."reader"').fetchall() == [(30,)]
    assert built.rows[models["py"].unique_id] == 3 and built.failures == {"test.p.py_small": 0}
    assert marts_build.build(con, project).reused == [m.unique_id for m in models.values()]
    # its test judges the rows it made: one failing, the model reading it is skipped
    con.execute("insert into src values (5), (6)")
    built = marts_build.build(con, project)
    assert built.failures == {"test.p.py_small": 2} and built.skipped == [models["reader"].unique_id]


def test_a_python_model_that_fails_leaves_every_table_as_it_was(con, probe):
    project, _ = _python_project()
    probe.other_started.set()
    marts_build.build(con, project)
    con.execute("insert into src values (5)")
    probe.fail = True
    with pytest.raises(ValueError, match="simulation failed"):
        marts_build.build(con, project)
    assert con.execute('select c from "work"."main"."other"').fetchone() == (3,)
    assert con.execute('select count(*) from "work"."main"."py"').fetchone() == (3,)


def test_a_python_model_without_prepare_is_refused(con, probe):
    _, models = _python_project()
    plain = replace(models["py"], code=PYTHON_MODEL.replace("def prepare", "def prepared"))
    with pytest.raises(marts_build.UnsupportedFeature, match="prepare"):
        marts_build.build(con, _project([models["a"], plain], []))


def test_a_patched_build_leaves_its_checkpoint_to_whoever_closes_the_work_database(tmp_path):
    """DuckDB checkpoints the work database at the commit that takes its log past a threshold (16 MB,
    here 1 KB: a corrected nation score sheet's build writes 27 MB): a build that patched keys leaves
    it to the run, which closes the work database after publication; a build that made its models
    whole does not."""
    work = tmp_path / "work.duckdb"
    with duckdb.connect(str(work)) as setup:
        setup.execute("create table src as select * from range(3) t(n)")
        setup.execute("create table other_src as select 'x' as s")
        setup.execute("create table facts as select 'u' || (i % 10) as unit, i as v from range(10000) t(i)")
    sources = {**SOURCES, "source.p.s.facts": "main.facts"}
    by_unit = _model(
        "by_unit",
        "select unit, v, v * 2 as w from main.facts",
        ("source.p.s.facts",),
        key=("unit",),
        keyed_inputs=("source.p.s.facts",),
    )
    project = Project("work", (by_unit,), (), {}, sources)
    log = Path(f"{work}.wal")

    def build(change: str) -> dict[str, int]:
        with held(work):
            con = marts_build.connect(work, project, "500MB")
            con.execute("set checkpoint_threshold = '1KB'")
            con.execute(change)
            patched = marts_build.build(con, project).patched
            con.close()
            logged = log.exists() and log.stat().st_size > 1024
        assert not log.exists() or log.stat().st_size == 0  # closed: checkpointed
        assert logged == bool(patched)
        return patched

    assert build("select 1") == {}  # made whole: checkpointed at its commit
    assert build("update facts set v = v + 1 where unit = 'u3'") == {by_unit.unique_id: 1}
    with duckdb.connect(str(work), read_only=True) as after:
        assert after.execute("select sum(w) from main.by_unit").fetchall() == [(2 * (49995000 + 1000),)]
