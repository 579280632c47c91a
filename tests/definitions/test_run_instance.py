"""The instance a `fazhi run` executes on (pipelines/lib/run_instance.py): what a run stores and reads
back is what Dagster's own ephemeral instance stores, without a new database connection per event."""

from __future__ import annotations

import dagster as dg
from sqlalchemy import event

from pipelines.lib.run_instance import ephemeral_instance


@dg.asset
def upstream() -> int:
    return 1


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="downstream", blocking=True)])
def downstream(upstream: int):
    yield dg.Output(upstream + 1)
    yield dg.AssetCheckResult(passed=upstream + 1 > 0, check_name="positive")


def _run(instance: dg.DagsterInstance) -> tuple[list[str], int]:
    """The run's event types, and the connections its event log opened meanwhile."""
    engine = instance.event_log_storage._engine  # type: ignore[attr-defined]
    opened: list[object] = []

    def count(connection, _record) -> None:
        opened.append(connection)

    event.listen(engine, "connect", count)
    try:
        result = dg.materialize([upstream, downstream], instance=instance)
    finally:
        event.remove(engine, "connect", count)
    assert result.success
    kinds = [e.dagster_event.event_type_value for e in instance.all_logs(result.run_id) if e.dagster_event]
    return kinds, len(opened)


def test_a_run_stores_what_dagsters_ephemeral_instance_stores_on_one_connection():
    theirs, their_connections = _run(dg.DagsterInstance.ephemeral())
    ours, our_first_connections = _run(instance := ephemeral_instance())
    again, our_connections = _run(instance)

    assert ours == theirs == again
    assert {"ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION", "STEP_SUCCESS"} <= set(ours)
    assert their_connections > 10  # a connection for each event stored: what this instance avoids
    assert our_first_connections < 5  # the first question about each table
    assert our_connections == 0
    # What later reads need: the latest materialization and the check's evaluation.
    assert instance.get_latest_materialization_event(dg.AssetKey("downstream")) is not None
    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("downstream"), "positive"), limit=1
    )
    assert records and records[0].status.value == "SUCCEEDED"
