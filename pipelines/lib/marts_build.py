"""Build the marts from the dbt project's compiled SQL, in one connection and one transaction.

dbt declares the marts (one SQL and one YAML per model), compiles them, documents them and runs their
unit tests (fazhi_dbt/). Running them with `dbt build` costs dbt's own work per node — about 30 ms for
each of 328 models and tests whatever the data size, plus starting dbt and parsing the project: 14 to
18 s of a province run, which a clerk with one corrected file would wait for. This runs the same
compiled SQL the way dbt's table materialization and test runner do for the features the project
uses — a contract's column names and types checked before the table is made, its columns in the
contract's order; a data test fails when it returns rows — and refuses any other feature, so the two
cannot silently differ. tests/models/test_marts_build.py builds one work database both ways and
compares every table.

All models are replaced in one transaction: a killed or failed build leaves the previous marts.
What each data test found is kept beside them (`TEST_RESULTS`), with what it read: a test that passed
on the same inputs is not run again.

A model whose YAML declares `meta: rows_by: {key: [...], inputs: [...]}` says that its rows of one key
are made from the rows of the same key of those inputs (and from the whole of its other inputs). When
only those inputs changed, and only in a few keys, the build makes again the rows of those keys alone
(`_patch`); which keys changed it learns from each key's row count and row hash, kept beside the model
as it last read them (`_digest_table`), with what each input held then: an input that holds the same
rows is not digested again. tests/models/test_rows_by_key.py holds the rows so made to a
whole build's, on a city's year changed many ways.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import duckdb

from pipelines.lib import fingerprints
from pipelines.lib.schema import canonical_type
from pipelines.lib.warehouse import WORK_CATALOG, attached, one_row, sql_name, sql_text, transaction


class UnsupportedFeature(RuntimeError):
    """The dbt project uses something this builder does not do as dbt does."""


@dataclass(frozen=True)
class Model:
    unique_id: str
    name: str
    relation: str
    schema: str
    language: str
    code: str
    contract: tuple[tuple[str, str], ...]  # (column, declared type) in declared order; empty: none
    depends_on: tuple[str, ...]
    # `rows_by` (module docstring): the key's columns and the inputs read key by key; empty: none
    key: tuple[str, ...] = ()
    keyed_inputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataTest:
    unique_id: str
    name: str
    code: str
    depends_on: tuple[str, ...]  # the models and sources it reads
    # the generic test it is (dbt's or the project's own; "" for any other) and the columns it groups by
    kind: str = ""
    columns: tuple[str, ...] = ()
    parent: str = ""  # of a relationship test (`RELATION_TESTS`), the node its rows must be found in


# Generic tests whose failing rows each come from one row alone (`ROW_TESTS`), or from the rows that
# share the values of the test's columns (`GROUP_TESTS`: the rows of a key no two may share). On a
# table that passed one and has since had rows taken out and put in, only the rows put in (and those
# sharing their values) can fail it, and the failures counted among them are all the table's
# (`_on_rows_put_in`).
ROW_TESTS = frozenset({"not_null", "accepted_values", "expression_is_true", "value_between"})
GROUP_TESTS = frozenset({"unique", "unique_combination"})
# Tests that fail a row of one table for the row alone and another table (`DataTest.parent`, the `to`
# of dbt's relationships): while that table holds what it held, they are row tests of the first.
RELATION_TESTS = frozenset({"relationships", "relationships_on"})


@dataclass(frozen=True)
class Project:
    database: str  # the catalog name the compiled SQL refers to
    models: tuple[Model, ...]  # in build order
    tests: tuple[DataTest, ...]
    manifest: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)  # source unique_id → its table, schema.table

    @cached_property
    def relation_names(self) -> dict[str, str]:
        """Each source's and model's relation as the compiled SQL names it."""
        compiled = self.manifest.get("sources", {})
        return {
            uid: compiled.get(uid, {}).get("relation_name", table) for uid, table in self.sources.items()
        } | {m.unique_id: m.relation for m in self.models}


@dataclass
class Built:
    rows: dict[str, int]  # model unique_id → rows
    seconds: dict[str, float]
    failures: dict[str, int]  # test unique_id → failing rows
    skipped: list[str]  # models not built, and tests not run, because a test they stand on failed
    reused: list[str] = field(default_factory=list)  # models kept: already built from these inputs
    patched: dict[str, int] = field(default_factory=dict)  # model → keys made again (`rows_by`)
    passed_before: list[str] = field(default_factory=list)  # tests not run: passed on these inputs
    on_rows_put_in: list[str] = field(default_factory=list)  # tests run on the rows a change put in

    @property
    def failed(self) -> list[str]:
        return [uid for uid, n in self.failures.items() if n]


_SUPPORTED_TEST_CONFIG = {"severity": "error", "fail_calc": "count(*)", "warn_if": "!= 0", "error_if": "!= 0"}


def _check_supported(node: Mapping[str, Any]) -> None:
    config = node["config"]
    where = node["unique_id"]
    if node["resource_type"] == "model":
        if config.get("materialized") != "table":
            raise UnsupportedFeature(f"{where}: materialized={config.get('materialized')}")
        if config.get("pre-hook") or config.get("post-hook"):
            raise UnsupportedFeature(f"{where}: hooks")
        if node.get("constraints") or any(c.get("constraints") for c in node["columns"].values()):
            raise UnsupportedFeature(f"{where}: constraints")
        if config.get("incremental_strategy") or config.get("unique_key"):
            raise UnsupportedFeature(f"{where}: incremental settings")
    else:
        for key, value in _SUPPORTED_TEST_CONFIG.items():
            if str(config.get(key)).lower() != value:
                raise UnsupportedFeature(f"{where}: {key}={config.get(key)}")
        if config.get("limit") or config.get("store_failures"):
            raise UnsupportedFeature(f"{where}: limit or store_failures")
    if not node.get("compiled_code"):
        raise UnsupportedFeature(f"{where}: not compiled (run `dbt compile`)")


# How many of its keys a model may have made again before the whole table is made instead: patching
# a fifth of a table cost what making it whole does.
PATCH_LIMIT = 0.2


def _build_order(parents: Mapping[str, list[str]], python: set[str]) -> list[str]:
    """The models, each after the models it reads; the Python models, and what they read, as early as
    that allows, and what reads them as late: the build makes a Python model's rows beside the models
    between (`build`)."""
    children: dict[str, list[str]] = {}
    for uid, mine in parents.items():
        for parent in mine:
            children.setdefault(parent, []).append(uid)
    early, late = _reached(python, parents) | python, _reached(python, children)
    sorter = TopologicalSorter(parents)
    sorter.prepare()
    ready: list[str] = []
    order: list[str] = []
    while sorter.is_active():
        ready.extend(sorter.get_ready())
        ready.sort(key=lambda uid: (uid in late, uid not in early, uid))
        order.append(ready.pop(0))
        sorter.done(order[-1])
    return order


def _reached(start: set[str], edges: Mapping[str, list[str]]) -> set[str]:
    """The nodes `edges` lead to from `start`, however far."""
    reached: set[str] = set()
    stack = list(start)
    while stack:
        for node in edges.get(stack.pop(), ()):
            if node not in reached:
                reached.add(node)
                stack.append(node)
    return reached


def _rows_by(node: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A model's `rows_by`: its key columns and the unique ids of the inputs it reads key by key."""
    spec = ((node.get("config") or {}).get("meta") or {}).get("rows_by")
    if not spec:
        return (), ()
    where = node["unique_id"]
    parents = {uid.rsplit(".", 1)[-1]: uid for uid in node["depends_on"]["nodes"]}
    key, inputs = tuple(spec.get("key") or ()), list(spec.get("inputs") or ())
    unknown = [name for name in inputs if name not in parents]
    if unknown:
        raise UnsupportedFeature(f"{where}: rows_by names inputs it does not read: {unknown}")
    if node["language"] != "sql" or not key or not inputs or not set(key) <= set(node["columns"]):
        raise UnsupportedFeature(f"{where}: rows_by needs a SQL model, inputs, and key columns it declares")
    return key, tuple(parents[name] for name in inputs)


def load_project(manifest_path: Path) -> Project:
    return _load(str(manifest_path), manifest_path.stat().st_mtime_ns)


@cache
def _load(path: str, _mtime_ns: int) -> Project:
    manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    nodes = manifest["nodes"]
    for node in nodes.values():
        if node["resource_type"] in ("model", "test"):
            _check_supported(node)
    if manifest.get("macros") and any(
        m.get("macro_sql", "").lstrip().startswith("{% materialization") and m["package_name"] == "fazhi"
        for m in manifest["macros"].values()
    ):
        raise UnsupportedFeature("the project defines its own materialization")
    models = {uid: node for uid, node in nodes.items() if node["resource_type"] == "model"}
    order = _build_order(
        {uid: [d for d in node["depends_on"]["nodes"] if d in models] for uid, node in models.items()},
        {uid for uid, node in models.items() if node["language"] == "python"},
    )
    rows_by = {uid: _rows_by(node) for uid, node in models.items()}
    databases = {node["database"] for node in models.values()}
    if len(databases) != 1:
        raise UnsupportedFeature(f"models in several databases: {sorted(databases)}")
    return Project(
        database=databases.pop(),
        models=tuple(
            Model(
                unique_id=uid,
                name=models[uid]["name"],
                relation=models[uid]["relation_name"],
                schema=models[uid]["schema"],
                language=models[uid]["language"],
                code=models[uid]["compiled_code"],
                contract=tuple((c["name"], c["data_type"]) for c in models[uid]["columns"].values())
                if models[uid]["config"]["contract"]["enforced"]
                else (),
                depends_on=tuple(models[uid]["depends_on"]["nodes"]),
                key=rows_by[uid][0],
                keyed_inputs=rows_by[uid][1],
            )
            for uid in order
        ),
        tests=tuple(
            _test(uid, node) for uid, node in sorted(nodes.items()) if node["resource_type"] == "test"
        ),
        manifest=manifest,
        sources={uid: f"{n['schema']}.{n['identifier']}" for uid, n in manifest.get("sources", {}).items()},
    )


def _test(uid: str, node: Mapping[str, Any]) -> DataTest:
    meta = node.get("test_metadata") or {}
    kind = meta.get("name", "") if meta.get("namespace") is None else ""
    kwargs = meta.get("kwargs", {})
    columns = kwargs.get("columns", []) if kind == "unique_combination" else [kwargs.get("column_name")]
    if kind in GROUP_TESTS and not all(isinstance(c, str) and c.isidentifier() for c in columns):
        kind = ""  # an expression, not a column: the rows sharing its values are not found by name
    parent = _referenced(node, kwargs.get("to")) if kind in RELATION_TESTS else ""
    if kind in RELATION_TESTS and not parent:
        kind = ""
    return DataTest(
        uid,
        node["name"],
        node["compiled_code"],
        tuple(node["depends_on"]["nodes"]),
        kind,
        tuple(columns) if kind in GROUP_TESTS else (),
        parent,
    )


def _referenced(node: Mapping[str, Any], to: object) -> str:
    """The node a test argument such as `ref('units')` or `source('reference', 'stg_units')` names,
    among those the test reads; "" when it names none of them, or not so."""
    match = re.fullmatch(
        r"""\s*(ref|source)\(\s*((?:'[^']*'\s*,?\s*)+)\)\s*""", to if isinstance(to, str) else ""
    )
    if match is None:
        return ""
    names = re.findall(r"'([^']*)'", match.group(2))
    suffix = ".".join(names)
    found = [
        uid
        for uid in node["depends_on"]["nodes"]
        if uid.startswith("model." if match.group(1) == "ref" else "source.") and uid.endswith(f".{suffix}")
    ]
    return found[0] if len(found) == 1 else ""


def _select(con: duckdb.DuckDBPyConnection, model: Model, check: bool = True) -> str:
    """The model's rows as a query; a contract is checked as dbt checks it, names and types (unless
    `check` is False: the caller knows the same code passed it on inputs of the same columns)."""
    sql = model.code.strip().rstrip(";")
    if not model.contract:
        return sql
    if check:
        relation = con.sql(f"select * from ({sql}) as model_subq limit 0")
        actual = {name: str(kind) for name, kind in zip(relation.columns, relation.types, strict=True)}
        declared = {name: canonical_type(con, kind) for name, kind in model.contract}
        if actual != declared:
            wrong = sorted(set(actual.items()) ^ set(declared.items()))
            raise UnsupportedFeature(f"{model.unique_id}: the columns differ from its contract: {wrong}")
    columns = ", ".join(sql_name(name) for name, _ in model.contract)
    return f"select {columns} from ({sql}) as model_subq"


def _python_rows(con: duckdb.DuckDBPyConnection, model: Model) -> Callable[[], Any]:
    """A Python model's rows, to be made: its compiled module (the model and dbt's `dbtObj`) run as
    dbt-duckdb runs it, up to its `prepare`, which reads what it needs now and returns the work that
    makes the frame from that alone (dbt's `model` is `prepare(...)()`), so that the build can do that
    work beside other models on the same connection."""
    namespace: dict[str, Any] = {"__name__": f"fazhi_dbt_{model.name}"}
    exec(compile(model.code, model.unique_id, "exec"), namespace)
    if not callable(namespace.get("prepare")):
        raise UnsupportedFeature(f"{model.unique_id}: a Python model needs prepare(dbt, session)")
    dbt = namespace["dbtObj"](lambda relation: con.sql(f"select * from {relation}"))
    made: Callable[[], Any] = namespace["prepare"](dbt, con)
    return made


def _write_rows(con: duckdb.DuckDBPyConnection, project: Project, model: Model, frame: Any) -> None:
    """A Python model's frame as its table."""
    con.register("python_model_rows", frame)
    try:
        _create(con, project, model, "select * from python_model_rows")
    finally:
        con.unregister("python_model_rows")


def build(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    models: Iterable[str] | None = None,
    tests: Iterable[str] | None = None,
    on_model: Callable[[Model], None] = lambda _model: None,
    reuse: bool = True,
) -> Built:
    """Replace the given models (default: all) and run the given data tests (default: all) as
    `dbt build` orders them, in one transaction: a source's tests before the models that read it, a
    model's tests right after it; a model that stands on every node of a failed test is skipped, and so
    is what reads a skipped model. `con` is the work database attached under `project.database`.

    A model last built from the same inputs — its compiled SQL, and what each source or model it reads
    holds (its columns and rows: pipelines/lib/fingerprints.py), kept with the table as its comment — is
    kept as it is (`Built.reused`); every given test still runs. A model rebuilt to the same rows keeps
    the models that read it from being rebuilt: the list of years made again from a corrected score
    sheet is the same list, and the meetings read from it need not be made again."""
    chosen = set(models) if models is not None else {m.unique_id for m in project.models}
    wanted = set(tests) if tests is not None else {t.unique_id for t in project.tests}
    pending = [t for t in project.tests if t.unique_id in wanted]
    upstream: dict[str, set[str]] = {}
    for model in project.models:  # build order: a model's parents come first
        upstream[model.unique_id] = set(model.depends_on).union(
            *(upstream[d] for d in model.depends_on if d in upstream)
        )
    built = Built(rows={}, seconds={}, failures={}, skipped=[])
    failed_on: list[set[str]] = []  # the nodes each failed test reads
    waiting = chosen.copy()  # models whose tests must wait for them

    tested: dict[str, tuple[str, int]] = {}  # test → (what it read, failing rows), this build
    digested: dict[tuple[str, tuple[str, ...]], str] = {}  # `_keyed_stamp`

    def run_ready_tests() -> None:
        ready = [t for t in pending if not waiting.intersection(t.depends_on)]
        for t in ready:
            pending.remove(t)
        runnable = [t for t in ready if not set(built.skipped).intersection(t.depends_on)]
        built.skipped.extend(t.unique_id for t in ready if t not in runnable)
        stamps = {t.unique_id: _stamp(t, holds) for t in runnable}
        again = [t for t in runnable if not (reuse and passed.get(t.unique_id) == stamps[t.unique_id])]
        narrowed = {
            t.unique_id: code
            for t in again
            if reuse and (code := _on_rows_put_in(project, t, holds, deltas, passed)) is not None
        }
        built.on_rows_put_in.extend(narrowed)
        found = _run_tests(con, again, narrowed)
        for t in runnable:
            uid = t.unique_id
            built.failures[uid] = failures = found.get(uid, 0)
            tested[uid] = (stamps[uid], failures)
            if uid not in found:
                built.passed_before.append(uid)
            elif failures:
                failed_on.append(set(t.depends_on))

    # Python models being made, beside the models after them that do not read them (`_python_rows`):
    # model → (its stamp, when it started, its rows to come)
    making: dict[str, tuple[str, float, Future[Any]]] = {}
    by_id = {m.unique_id: m for m in project.models}

    def done(
        model: Model,
        stamp: str,
        started: float,
        keyed: str | None,
        patched: _Patched | None = None,
    ) -> None:
        """What a model's build leaves beside its table: what it holds, how it was made. A patched
        model (`patched`: what its patch replaced; None when it was made whole) is not read whole
        again to say it: what it held, less the rows replaced, plus the rows put in."""
        uid, table = model.unique_id, _table(model)
        content = None
        if patched is not None and (before := fingerprints.recorded_content(recorded.get(table))):
            content = _patched_content(con, model, before, patched)
        holds[uid], content = fingerprints.holds(con, table, content)
        built.rows[uid] = fingerprints.content_rows(content)
        built.seconds[uid] = time.perf_counter() - started
        if model.key:
            was = fingerprints.recorded_holds(recorded.get(table)) if patched is not None else None
            _record_change(con, model, was, holds[uid], patched.columns if patched else model.key)
        fingerprints.record(con, [table], stamp, holds[uid], context=keyed, content=content)

    def made(uid: str) -> None:
        """A Python model's rows, once made, written as its table; its tests can run."""
        stamp, started, rows = making.pop(uid)
        _write_rows(con, project, by_id[uid], rows.result())
        done(by_id[uid], stamp, started, None)
        waiting.discard(uid)
        run_ready_tests()

    with ThreadPoolExecutor(1) as beside, transaction(con):
        # what each node holds: a source's rows; a model's table as this build leaves it. Only the
        # sources a model or a test reads: the parse cache's rows, which none reads, took 0.06–0.18 s
        # of every nation run to hash
        read = {uid for m in project.models for uid in m.depends_on} | {
            uid for t in project.tests for uid in t.depends_on
        }
        sources = {uid: table for uid, table in project.sources.items() if uid in read}
        contents = fingerprints.table_contents(con, sources.values())
        holds = {uid: contents[table] for uid, table in sources.items()}
        recorded = fingerprints.comments(con)  # each model's, read before the model is built again
        keyed_sources = {uid for m in project.models for uid in m.keyed_inputs if uid in sources}
        deltas = _replaced_rows(con, {uid: sources[uid] for uid in keyed_sources}, holds, recorded)
        passed = _passed(con)
        run_ready_tests()  # the sources' tests
        for model in project.models:
            uid, table = model.unique_id, _table(model)
            for parent in making.keys() & set(model.depends_on):
                made(parent)
            stamp = _stamp(model, holds)
            if uid not in chosen:
                holds[uid] = fingerprints.held(con, table, known=recorded) or ""
                continue
            stands_on_failure = any(nodes <= upstream[uid] for nodes in failed_on)
            kept = fingerprints.held(con, table, stamp, recorded) if reuse else None
            if stands_on_failure or set(built.skipped).intersection(model.depends_on):
                waiting.discard(uid)
                built.skipped.append(uid)
                holds[uid] = ""
            elif kept is not None:
                waiting.discard(uid)
                built.reused.append(uid)
                # counted when it was made (its comment), not again: 18 counts took 0.07 s at province
                content = fingerprints.recorded_content(recorded.get(table))
                built.rows[uid] = (
                    fingerprints.content_rows(content) if content else _count(con, model.relation)
                )
                built.seconds[uid] = 0.0
                holds[uid] = kept
            elif model.language == "python":  # made beside what follows; written when read (`made`)
                on_model(model)
                making[uid] = (stamp, time.perf_counter(), beside.submit(_python_rows(con, model)))
            else:
                waiting.discard(uid)
                on_model(model)
                started = time.perf_counter()
                keyed = _keyed_stamp(con, project, model, holds) if model.key else None
                patchable = (
                    keyed is not None
                    and reuse
                    and fingerprints.context_of(recorded.get(table)) == keyed
                    and _digest_table(model) in recorded  # the digests it was last made from
                )
                fresh: list[str] = []  # the keyed inputs whose digests are made again
                by_delta: dict[str, _Delta] = {}  # of those, the ones digested by the rows they replaced
                if keyed is not None:
                    last = _digested_holds(recorded.get(_digest_table(model))) if patchable else {}
                    fresh = [p for p in model.keyed_inputs if not holds.get(p) or last.get(p) != holds[p]]
                    by_delta = {
                        p: deltas[p] for p in fresh if p in deltas and last.get(p) == deltas[p].before
                    }
                    _digest_inputs(con, project, model, fresh, digested, by_delta)
                changed = _changed_keys(con, model, fresh, by_delta) if patchable else None
                patched: _Patched | None = None
                if changed is None:
                    _materialize(con, project, model)
                else:
                    patched = _patch(con, project, model)
                    built.patched[uid] = changed
                    before = fingerprints.recorded_holds(recorded.get(table))
                    if before is not None:
                        deltas[uid] = _Delta(before, patched.replaced, _patched_rows(model, patched.columns))
                if keyed is not None:
                    _record_digests(con, model, fresh, by_delta, holds, patchable, changed is not None)
                done(model, stamp, started, keyed, patched)
            run_ready_tests()
        for uid in list(making):
            made(uid)
        run_ready_tests()
        _record_tests(con, tested)
        if built.patched:
            _checkpoint_when_closed(con)
    return built


def _checkpoint_when_closed(con: duckdb.DuckDBPyConnection) -> None:
    """The work database is checkpointed when it is closed — by a run, after publication
    (`warehouse.held`) — not at this build's commit. DuckDB checkpoints at the commit that takes its log
    past 16 MB: a corrected nation score sheet's patched build (27 MB of log) waited 0.22 s for its
    commit, 0.08 s without the checkpoint. Not for a build that made its models whole: a province's
    whole build (114 MB of log) took 2.39–2.55 s with its checkpoint, 2.16–2.23 s without, then 0.39 s
    to close against 0.03–0.04 s, and ended its run later."""
    con.execute("set checkpoint_threshold = '1TB'")  # a log this large is never written


# The data tests' last results, in the work database beside the marts they judged (written in the same
# transaction): a test, what it read (`_stamp`: its SQL, the code, what each node it reads holds), and
# how many rows failed it.
TEST_RESULTS = "main.marts_test_results"


def _passed(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each test that passed when last run, with what it read then."""
    con.execute(
        f"create table if not exists {TEST_RESULTS} (unique_id varchar, inputs varchar, failures bigint)"
    )
    return dict(con.execute(f"select unique_id, inputs from {TEST_RESULTS} where failures = 0").fetchall())


def _record_tests(con: duckdb.DuckDBPyConnection, tested: Mapping[str, tuple[str, int]]) -> None:
    if not tested:
        return
    ids = list(tested)
    con.execute(f"delete from {TEST_RESULTS} where unique_id in (select unnest(?))", [ids])
    # one statement: executemany runs one insert per test (0.12 s for 298 of them)
    con.execute(
        f"insert into {TEST_RESULTS} select unnest($1), unnest($2), unnest($3)",
        [ids, [tested[uid][0] for uid in ids], [tested[uid][1] for uid in ids]],
    )


def _table(model: Model) -> str:
    return f"{model.schema}.{model.name}"


def _stamp(node: Model | DataTest, holds: Mapping[str, str]) -> str:
    """A model's or a test's inputs: the code, its compiled SQL, and what each node it reads holds."""
    digest = hashlib.sha256(f"{fingerprints.code_version()}\x1e{node.code}".encode())
    for parent in sorted(node.depends_on):
        digest.update(f"\x1e{parent}\x1f{holds.get(parent, '')}".encode())
    return digest.hexdigest()


def _digest_table(model: Model) -> str:
    """Each key's row count and row hash of each of the model's keyed inputs, as it last read them
    (schema.table, as `fingerprints.comments` names tables: dbt's model names need no quotes)."""
    return f"main.marts_keys__{model.name}"


# The digests of a model's keyed inputs now, and the keys whose rows differ from the kept ones.
_NOW, _CHANGED = "marts_keys_now", "marts_keys_changed"
_COVER = "marts_keys_cover"  # the keys `_NOW` holds of the inputs digested by the rows they replaced


def _keyed_stamp(
    con: duckdb.DuckDBPyConnection, project: Project, model: Model, holds: Mapping[str, str]
) -> str:
    """What a model's rows are made from besides its keyed inputs' rows: its code, its declaration,
    what each other input holds, and the columns of the keyed ones. While it is the same, what changed
    in the keyed inputs' keys is all that changed."""
    digest = hashlib.sha256(f"{fingerprints.code_version()}\x1e{model.code}\x1e{model.contract}".encode())
    digest.update(f"\x1e{model.key}\x1e{model.keyed_inputs}".encode())
    for parent in sorted(model.depends_on):
        if parent not in model.keyed_inputs:
            digest.update(f"\x1e{parent}\x1f{holds.get(parent, '')}".encode())
            continue
        shape = con.sql(f"select * from {project.relation_names[parent]} limit 0")
        digest.update(f"\x1e{parent}\x1f{shape.columns}\x1f{shape.types}".encode())
    return digest.hexdigest()


def _digested_holds(comment: str | None) -> dict[str, str]:
    """What each keyed input held when a model's kept digests were made (`_record_digests`). The same
    rows have the same digests: at nation scale the score sheets' 950,000 task rows, digested by file
    for a corrected ledger, took 0.1–0.2 s."""
    return json.loads(comment) if comment else {}


@dataclass(frozen=True)
class _Delta:
    """How a keyed input came to hold what it holds: it held `before`, then the rows `old` (a relation
    holding at least its readers' key columns of them: `_patch`) were replaced by the rows `new` (a
    query). A model whose digests of it were made when it held `before` finds the keys that changed
    among those rows' keys alone."""

    before: str
    old: str
    new: str


def _replaced_rows(
    con: duckdb.DuckDBPyConnection,
    tables: Mapping[str, str],
    holds: Mapping[str, str],
    recorded: Mapping[str, str | None],
) -> dict[str, _Delta]:
    """The sources whose last replace kept the rows it replaced (`fingerprints.replaced`), each with
    what it held before: what it holds now (`holds`: rows and their hashes summed) less the rows put in,
    plus the rows taken out. Anything else done to the table since makes that sum another, and no model
    was digested from it."""
    out = {}
    for uid, table in tables.items():
        rows, names = fingerprints.replaced(table)
        if rows not in recorded or names not in recorded:
            continue
        new = f"(select * from {table} where {fingerprints.of_replaced_files(names)})"
        contents = fingerprints.table_contents(con, [rows, new])
        out[uid] = _Delta(fingerprints.shifted(holds[uid], contents[new], contents[rows]), rows, new)
    return out


def _digest_inputs(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    model: Model,
    inputs: list[str],
    digested: dict[tuple[str, tuple[str, ...]], str],
    by_delta: Mapping[str, _Delta],
) -> None:
    """These keyed inputs' digests now, by the model's key, into `_NOW`: of every key, or, for an input
    known by the rows it replaced (`by_delta`), of the keys of those rows alone, which go into `_COVER`.
    `digested`: each input's whole digests made this build (an input is final before any model reads
    it), as a temporary table, so that three models reading the meetings digest them once."""
    columns = ", ".join(sql_name(c) for c in model.key)
    covered = [
        f"select distinct {sql_text(p)} as input, {columns} from {relation}"
        for p, delta in by_delta.items()
        for relation in (delta.old, delta.new)
    ]
    if covered:
        con.execute(f"create or replace temp table {_COVER} as " + "\nunion\n".join(covered))
    parts = []
    for parent in inputs:
        relation = project.relation_names[parent]
        if parent in by_delta:
            mine = f"c.input = {sql_text(parent)} and {_match(model.key, 'c', 't')}"
            parts.append(
                f"select {sql_text(parent)} as input, {columns}, count(*) as n, "
                f"coalesce(sum(hash(t)::hugeint), 0) as h from {relation} t "
                f"where exists (select 1 from {_COVER} c where {mine}) group by all"
            )
            continue
        table = digested.get((parent, model.key))
        if table is None:
            table = digested[parent, model.key] = f"marts_keys_input_{len(digested)}"
            con.execute(
                f"create or replace temp table {table} as select {sql_text(parent)} as input, {columns}, "
                f"count(*) as n, coalesce(sum(hash(t)::hugeint), 0) as h from {relation} t group by all"
            )
        parts.append(f"select * from {table}")
    if not parts:  # nothing to digest again: no key changed (`_changed_keys`)
        parts.append(f"select * from {_digest_table(model)} where false")
    con.execute(f"create or replace temp table {_NOW} as " + "\nunion all\n".join(parts))


def _digested_again(model: Model, fresh: list[str], by_delta: Mapping[str, _Delta], alias: str) -> str:
    """A condition on a kept digest's rows (`alias`): those `_digest_inputs` made again, in `_NOW`."""
    whole = [sql_text(p) for p in fresh if p not in by_delta]
    terms = [f"{alias}.input in ({', '.join(whole)})"] if whole else []
    if by_delta:
        terms.append(
            f"exists (select 1 from {_COVER} c where c.input = {alias}.input and {_match(model.key, 'c', alias)})"
        )
    return " or ".join(terms) or "false"


def _changed_keys(
    con: duckdb.DuckDBPyConnection, model: Model, fresh: list[str], by_delta: Mapping[str, _Delta]
) -> int | None:
    """The keys whose rows in the keyed inputs digested again (`fresh`: `_digest_inputs`) differ from
    those the model was last made from (its kept digests), into `_CHANGED`; their number, or None when
    too many keys changed to patch."""
    kept = f"(select * from {_digest_table(model)} k where {_digested_again(model, fresh, by_delta, 'k')})"
    columns = ", ".join(sql_name(c) for c in model.key)
    # set operations match NULL keys as equal, as the patch's `is not distinct from` does
    con.execute(
        f"create or replace temp table {_CHANGED} as select distinct {columns} from ("
        f"(select * from {_NOW} except select * from {kept}) union all "
        f"(select * from {kept} except select * from {_NOW}))"
    )
    # each key has a row per input at most: the rows of the kept digests over the inputs is as few
    # keys as there can be, and counting their distinct keys (0.02–0.04 s a model at nation scale) is
    # only needed when that is not enough
    changed, rows = one_row(
        con, f"select (select count(*) from {_CHANGED}), (select count(*) from {_digest_table(model)})"
    )
    if changed > PATCH_LIMIT * rows / len(model.keyed_inputs):
        (keys,) = one_row(
            con, f"select count(*) from (select distinct {columns} from {_digest_table(model)})"
        )
        if changed > PATCH_LIMIT * max(keys, 1):
            return None
    return int(changed)


def _match(columns: Iterable[str], left: str, right: str) -> str:
    return " and ".join(f"{left}.{sql_name(c)} is not distinct from {right}.{sql_name(c)}" for c in columns)


def _literal_filter(con: duckdb.DuckDBPyConnection, model: Model) -> str | None:
    """A condition on the key columns that holds for every changed key (`_CHANGED`), its values written
    out so that DuckDB can use them where it reads a table; None when they cannot be (another type,
    or too many)."""
    terms = []
    for c in model.key:
        values = [v for (v,) in con.execute(f"select distinct {sql_name(c)} from {_CHANGED}").fetchall()]
        literals = [
            sql_text(v) if isinstance(v, str) else str(v)
            for v in values
            if isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))
        ]
        if len(literals) != len([v for v in values if v is not None]) or len(literals) > 5_000:
            return None
        term = f"{sql_name(c)} in ({', '.join(literals)})" if literals else "false"
        terms.append(f"({term} or {sql_name(c)} is null)" if None in values else term)
    return " and ".join(terms)


@dataclass(frozen=True)
class _Patched:
    """What `_patch` replaced: the groups of rows it replaced, in `_PUT`, by these columns (the model's
    key, or a finer grouping: `FINER`); what the build needs of the rows replaced (a temporary table)."""

    columns: tuple[str, ...]
    replaced: str


# A model keyed coarsely (a role: its rows of every unit of the role) whose rows of a changed key are
# compared, made again, group by group of the first of these columns it has: only the groups that
# differ are replaced. A department's corrected sheet made its role's 175,000 duty rates again, of
# which 2 differed (and 590 of the role's 58,000 improvement steps, 52 of its 23,000 scores); the
# rows written, checked and copied into the published file are those.
FINER = ("unit_id", "subject", "file")
_PUT = "marts_keys_put"  # the groups of rows a patch replaced (`_Patched`)


def _patch(con: duckdb.DuckDBPyConnection, project: Project, model: Model) -> _Patched:
    """The model's rows of the changed keys (`_CHANGED`) made again; the others stay as they are. Of a
    coarse key's rows, only the groups that differ are replaced (`FINER`). What the build needs of the
    rows replaced is kept (a temporary table): their count and row hashes summed, by the key of each
    model reading this one key by key (`_REPLACED_COLUMNS`). Keeping the rows themselves took 17–75 ms
    a model at nation scale, where a role's rows are many.

    The model reads only its keyed inputs' rows of those keys (and of the keys the written-out values
    combine into): its rows of a changed key are made from those alone, as `rows_by` declares, and
    its rows of any other key are left out. A filter on the model's rows alone would leave DuckDB
    reading whole inputs where a left join or an aggregate stands between them and the rows."""
    condition = _literal_filter(con, model)
    code = model.code
    if condition is not None:
        for uid in model.keyed_inputs:
            relation = project.relation_names[uid]
            code = code.replace(relation, f"(select * from {relation} where {condition})")
    # Not checked against its contract again: a model is patched only when it was last made in the
    # same context (`_keyed_stamp`: its code and contract, its inputs' columns), which passed the check;
    # binding the model's SQL to check it took 1–19 ms a model (0.06 s of a province score sheet).
    rows = (
        f"(select * from ({_select(con, replace(model, code=code), check=False)}) as m where exists "
        f"(select 1 from {_CHANGED} c where {_match(model.key, 'c', 'm')}))"
    )
    finer = None
    if not set(model.key) & set(FINER):
        has = con.sql(f"select * from {model.relation} limit 0").columns
        finer = next((c for c in FINER if c in has), None)
    columns = (*model.key, finer) if finer else model.key
    put_only = ""  # the rows made again are all put in, but for a finer grouping's unchanged groups
    if finer:
        made = f"marts_made__{model.name}"
        con.execute(f"create or replace temp table {made} as select * from {rows}")
        rows = made
        names = ", ".join(sql_name(c) for c in columns)
        groups = (
            "(select {}, count(*) as marts_rows, sum(hash(g)::hugeint) as marts_hash from {} g group by all)"
        )
        con.execute(
            f"create or replace temp table {_PUT} as select "
            + ", ".join(f"coalesce(a.{sql_name(c)}, b.{sql_name(c)}) as {sql_name(c)}" for c in columns)
            + f" from {groups.format(names, made)} a full join "
            f"{groups.format(names, _rows_of(model.relation, _CHANGED, model.key))} b on {_match(columns, 'a', 'b')} "
            "where a.marts_rows is distinct from b.marts_rows or a.marts_hash is distinct from b.marts_hash"
        )
        put_only = f" where exists (select 1 from {_PUT} c where {_match(columns, 'c', 'm')})"
    else:
        con.execute(f"create or replace temp table {_PUT} as select * from {_CHANGED}")
    replaced = f"marts_replaced__{model.name}"
    keys = dict.fromkeys(c for m in project.models if model.unique_id in m.keyed_inputs for c in m.key)
    by = ", ".join(sql_name(c) for c in keys)
    rows_n, rows_h = _REPLACED_COLUMNS
    con.execute(
        f"create or replace temp table {replaced} as select {by}{', ' if by else ''}count(*) as {rows_n}, "
        f"coalesce(sum(hash(r)::hugeint), 0) as {rows_h} from {_rows_of(model.relation, _PUT, columns)} r"
        + (" group by all" if by else "")
    )
    con.execute(
        f"delete from {model.relation} where exists "
        f"(select 1 from {_PUT} c where {_match(columns, 'c', model.relation)})"
    )
    con.execute(f"insert into {model.relation} select * from {rows} as m{put_only}")
    return _Patched(columns, replaced)


# What `_patch` keeps of the rows it replaced, beside the readers' key columns: how many, their hashes summed.
_REPLACED_COLUMNS = ("marts_replaced_rows", "marts_replaced_hash")


def _patched_content(con: duckdb.DuckDBPyConnection, model: Model, before: str, patched: _Patched) -> str:
    """A patched model's rows' `table_content`: `before`, less the rows its patch replaced (as `_patch`
    sums them up), plus those of the groups it put in (`_PUT`)."""
    put = _rows_of(model.relation, _PUT, patched.columns)
    rows_n, rows_h = _REPLACED_COLUMNS
    n, h = one_row(
        con, f"select coalesce(sum({rows_n}), 0), coalesce(sum({rows_h}), 0) from {patched.replaced}"
    )
    return fingerprints.shifted(before, f"{n}:{h}", fingerprints.table_content(con, put))


def _patched_rows(model: Model, columns: tuple[str, ...]) -> str:
    """The rows a patch made again (`_patch`): the model's rows of the groups its build replaced."""
    return _rows_of(model.relation, change_table(model.name), columns)


def _rows_of(relation: str, keys: str, columns: tuple[str, ...]) -> str:
    """A relation's rows whose values of `columns` are a row of the table `keys`, as a query."""
    return f"(select * from {relation} t where exists (select 1 from {keys} k where {_match(columns, 'k', 't')}))"


def change_table(model: str) -> str:
    """The groups of a model's rows made again by its last build, when it was patched (`_record_change`)."""
    return f"main.marts_patched__{model}"


def _record_change(
    con: duckdb.DuckDBPyConnection, model: Model, before: str | None, after: str, columns: tuple[str, ...]
) -> None:
    """What turned the model's table from what it held (`before`) into what it holds (`after`): the
    groups of rows made again (by `columns`: `_Patched`), when it was patched; nothing, when it was made
    whole (`before` None). Publication brings a copy of the table as it was to what it is by these
    groups alone."""
    table = change_table(model.name)
    if before is None:
        con.execute(f"drop table if exists {table}")
        return
    con.execute(
        f"create or replace table {table} as select {', '.join(sql_name(c) for c in columns)} from {_PUT}"
    )
    fingerprints.record_change(con, table, before, after)


def _record_digests(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    fresh: list[str],
    by_delta: Mapping[str, _Delta],
    holds: Mapping[str, str],
    kept: bool,
    patched: bool,
) -> None:
    """Keep the keyed inputs' digests as the model was made from them now: those made again (`_NOW`)
    replace the kept ones — of the changed keys (`_CHANGED`) when the model was patched, of every key
    made again otherwise — and, without `kept` (the kept ones could not be used), all of them. The
    table's comment says what each input held when its digests were made."""
    table = _digest_table(model)
    if not kept:
        con.execute(f"create or replace table {table} as select * from {_NOW}")
    else:
        only = (
            f" and exists (select 1 from {_CHANGED} c where {_match(model.key, 'c', 'k')})" if patched else ""
        )
        again = _digested_again(model, fresh, by_delta, "k")
        con.execute(f"delete from {table} k where ({again}){only}")
        only = (
            f" where exists (select 1 from {_CHANGED} c where {_match(model.key, 'c', 'n')})"
            if patched
            else ""
        )
        con.execute(f"insert into {table} select * from {_NOW} n{only}")
    digested = json.dumps({p: holds.get(p, "") for p in model.keyed_inputs}, sort_keys=True)
    con.execute(f"comment on table {table} is {sql_text(digested)}")


def _materialize(con: duckdb.DuckDBPyConnection, project: Project, model: Model) -> None:
    """A SQL model's table made whole."""
    _create(con, project, model, _select(con, model))


def _create(con: duckdb.DuckDBPyConnection, project: Project, model: Model, rows: str) -> None:
    """The model's table (and its schema) made of these rows (a query)."""
    con.execute(f"create schema if not exists {sql_name(project.database)}.{sql_name(model.schema)}")
    con.execute(f"create or replace table {model.relation} as {rows}")


def _on_rows_put_in(
    project: Project,
    test: DataTest,
    holds: Mapping[str, str],
    deltas: Mapping[str, _Delta],
    passed: Mapping[str, str],
) -> str | None:
    """The test's SQL on the rows of its table that a change put in, when that finds what the test on
    the whole table would: the test reads one table, which it passed when the table held what it held
    before the rows `deltas` knows of were replaced, and it fails a row for the row alone (`ROW_TESTS`)
    or for the rows sharing its columns' values (`GROUP_TESTS`: those are read with the rows put in,
    NULLs matched as the test's grouping matches them); or it fails a row for the row and the table
    it refers to (`RELATION_TESTS`), which holds what it held when the test passed. At nation scale a
    corrected score sheet's uniqueness tests took 0.35 s over whole tables, its relationship tests
    0.06 s. None: the test runs as it is."""
    if test.kind in ROW_TESTS | GROUP_TESTS and len(test.depends_on) == 1:
        (node,) = test.depends_on
    elif test.kind in RELATION_TESTS and len(set(test.depends_on) - {test.parent}) == 1:
        (node,) = set(test.depends_on) - {test.parent}
    else:
        return None
    delta, relation = deltas.get(node), project.relation_names.get(node)
    if delta is None or relation is None or test.code.count(relation) != 1:
        return None
    # the stamp holds what every node read held: the parent of a relationship test as it is now
    if passed.get(test.unique_id) != _stamp(test, {**holds, node: delta.before}):
        return None
    rows = delta.new
    if test.kind in GROUP_TESTS:
        rows = _rows_of(relation, delta.new, test.columns)
    return test.code.replace(relation, rows)


def _run_tests(
    con: duckdb.DuckDBPyConnection, tests: list[DataTest], code: Mapping[str, str] | None = None
) -> dict[str, int]:
    """Each test's failing rows (dbt's fail_calc `count(*)`), all tests in one query; a test's SQL is
    its own unless `code` gives another (`_on_rows_put_in`)."""
    if not tests:
        return {}
    code = code or {}
    union = "\nunion all\n".join(
        f"select {i} as test, count(*) as failures from "
        f"({code.get(t.unique_id, t.code).strip().rstrip(';')}\n) as dbt_internal_test"
        for i, t in enumerate(tests)
    )
    return {tests[i].unique_id: int(n) for i, n in con.execute(union).fetchall()}


def connect(work_db: Path, project: Project, memory_limit: str) -> duckdb.DuckDBPyConnection:
    """The work database under the catalog name the compiled SQL uses (`warehouse.attached`)."""
    if project.database != WORK_CATALOG:
        raise UnsupportedFeature(f"the compiled SQL names database {project.database}, not {WORK_CATALOG}")
    return attached(work_db, memory_limit)


def _count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    return int(one_row(con, f"select count(*) from {relation}")[0])
