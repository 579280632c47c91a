"""The instance a `fazhi run` executes on (pipelines/lib/run_instance.py): the run's and its steps'
events stored as Dagster's own ephemeral instance stores them, without a new database connection per
event; the asset events handed to the run's listeners and not stored, nor looked for."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType
from dagster._core.storage.event_log import InMemoryEventLogStorage
from sqlalchemy import event

from pipelines.cli import _materialize
from pipelines.lib.run_instance import NOT_STORED, ephemeral_instance


@dg.asset(config_schema={"value": int})
def upstream(context) -> int:
    return context.op_execution_context.op_config["value"]


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="downstream", blocking=True)])
def downstream(upstream: int):
    yield dg.Output(upstream + 1)
    yield dg.AssetCheckResult(passed=upstream + 1 > 0, check_name="positive")


@dg.asset
def published(downstream: int) -> int:
    return downstream


def _run(
    instance: dg.DagsterInstance, value: int = 1, statements: list[str] | None = None
) -> tuple[list[str], list[str], int]:
    """The event types the run stored, those its listener heard, and the connections its event log
    opened meanwhile — through the function `fazhi run` runs its steps with; given `statements`, the
    SQL its event log ran is added to it."""
    engine = instance.event_log_storage._engine  # type: ignore[attr-defined]
    opened: list[object] = []
    heard: list[str] = []

    def count(connection, _record) -> None:
        opened.append(connection)

    def ran(_conn, _cursor, statement, *_args) -> None:
        if statements is not None:
            statements.append(statement)

    event.listen(engine, "connect", count)
    event.listen(engine, "before_cursor_execute", ran)
    try:
        result = _materialize(
            [upstream, downstream, published],
            {},
            instance,
            {"ops": {"upstream": {"config": {"value": value}}}},
            lambda entry: heard.append(entry.dagster_event.event_type_value) if entry.dagster_event else None,
        )
    finally:
        event.remove(engine, "connect", count)
        event.remove(engine, "before_cursor_execute", ran)
    stored = [e.dagster_event.event_type_value for e in instance.all_logs(result.run_id) if e.dagster_event]
    return stored, heard, len(opened)


def test_a_run_stores_its_run_and_step_events_on_one_connection_and_tells_its_listener_every_event():
    theirs, their_heard, their_connections = _run(dg.DagsterInstance.ephemeral())
    ours, heard, our_first_connections = _run(instance := ephemeral_instance())
    again, _, our_connections = _run(instance)

    not_stored = {kind.value for kind in NOT_STORED}
    assert ours == again == [kind for kind in theirs if kind not in not_stored]
    assert {DagsterEventType.RUN_SUCCESS.value, "STEP_START", "STEP_SUCCESS"} <= set(ours)
    assert heard == their_heard and {"ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION"} <= set(heard)
    assert instance.get_latest_materialization_event(dg.AssetKey("downstream")) is None
    assert their_connections > 10  # a connection for each event stored: what this instance avoids
    assert our_first_connections < 5  # the first question about each table
    assert our_connections == 0


@pytest.mark.parametrize("instance", [dg.DagsterInstance.ephemeral, ephemeral_instance])
def test_a_failed_blocking_check_stops_what_reads_its_asset_without_its_evaluation_stored(instance):
    stored, heard, _ = _run(instance(), value=-5)
    assert DagsterEventType.RUN_FAILURE.value in stored and "ASSET_CHECK_EVALUATION" in heard
    assert heard.count("ASSET_MATERIALIZATION") == 2  # upstream, downstream; never published


def _input_versions(instance: dg.DagsterInstance) -> list[dict[str, str]]:
    """What the materializations a run's listener hears say of their inputs' data versions."""
    heard: list[dict[str, str]] = []

    def listen(entry) -> None:
        if entry.dagster_event and entry.dagster_event.event_type_value == "ASSET_MATERIALIZATION":
            tags = entry.dagster_event.event_specific_data.materialization.tags or {}
            heard.append({k: v for k, v in tags.items() if k.startswith("dagster/input_")})

    _materialize(
        [upstream, downstream, published],
        {},
        instance,
        {"ops": {"upstream": {"config": {"value": 1}}}},
        listen,
    )
    return heard


def test_a_step_finds_no_asset_event_of_its_inputs_without_asking_the_event_log():
    statements: list[str] = []
    _run(instance := ephemeral_instance())
    _run(instance, statements=statements)
    assert statements and not [s for s in statements if "asset_keys" in s]

    # the same answer as the event log's own queries give: no input has a version yet
    queried = ephemeral_instance()
    storage = queried.event_log_storage
    storage.get_asset_records = lambda *a, **k: InMemoryEventLogStorage.get_asset_records(storage, *a, **k)  # type: ignore[method-assign]
    storage.fetch_observations = lambda *a, **k: InMemoryEventLogStorage.fetch_observations(storage, *a, **k)  # type: ignore[method-assign]
    asked: list[str] = []
    engine = storage._engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, s, *_a: asked.append(s))
    theirs = _input_versions(queried)
    assert any("asset_keys" in s for s in asked)  # that instance did ask
    assert _input_versions(ephemeral_instance()) == theirs
    assert theirs[1] == {
        "dagster/input_data_version/upstream": "INITIAL",
        "dagster/input_event_pointer/upstream": "NULL",
    }


def test_the_storages_are_made_without_an_alembic_stamp_and_keep_runs_as_dagster_s_own():
    # Dagster's in-memory storages stamp their schema's alembic revision, loading alembic's revision
    # scripts each time a run starts; nothing migrates or reads an instance that ends with its run.
    from sqlalchemy import inspect

    theirs, ours = dg.DagsterInstance.ephemeral(), ephemeral_instance()
    for storage in (ours.run_storage, ours.event_log_storage):
        assert "alembic_version" not in inspect(storage._engine).get_table_names()  # type: ignore[attr-defined]
    for storage in (theirs.run_storage, theirs.event_log_storage):
        assert "alembic_version" in inspect(storage._engine).get_table_names()  # type: ignore[attr-defined]
    stored, _, _ = _run(ours)
    assert [r.status for r in ours.get_runs()] == [dg.DagsterRunStatus.SUCCESS]
    assert DagsterEventType.RUN_SUCCESS.value in stored


def test_a_run_s_snapshots_are_kept_as_they_are_not_serialised_into_sqlite():
    # Dagster stores the job's and the plan's snapshots as each run is created, serialised and
    # compressed; this instance keeps the objects by their ids, and they are read back the same.
    from sqlalchemy import text

    theirs, ours = dg.DagsterInstance.ephemeral(), ephemeral_instance()
    for instance in (theirs, ours):
        _run(instance)
    their_run, our_run = theirs.get_runs()[0], ours.get_runs()[0]

    def stored(instance: dg.DagsterInstance) -> list[int]:
        """The length of each snapshot's stored body."""
        with instance.run_storage.connect() as conn:  # type: ignore[attr-defined]
            return sorted(n for (n,) in conn.execute(text("select length(snapshot_body) from snapshots")))

    assert len(stored(theirs)) == 2 and min(stored(theirs)) > 0
    assert stored(ours) == [0, 0]  # the rows a run refers to, without their bodies
    assert our_run.job_snapshot_id == their_run.job_snapshot_id
    assert our_run.execution_plan_snapshot_id == their_run.execution_plan_snapshot_id
    assert ours.get_job_snapshot(our_run.job_snapshot_id) == theirs.get_job_snapshot(
        their_run.job_snapshot_id
    )
    plan_id = our_run.execution_plan_snapshot_id
    assert ours.get_execution_plan_snapshot(plan_id) == theirs.get_execution_plan_snapshot(plan_id)
    assert ours.run_storage.has_snapshot(plan_id) and not ours.run_storage.has_snapshot("unknown")
