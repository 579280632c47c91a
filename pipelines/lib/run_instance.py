"""The Dagster instance of a `fazhi run`: in memory, as `DagsterInstance.ephemeral()` makes it, with
its event log kept on one SQLite connection for the life of the instance, and holding what a run
and its steps did, not what they made.

Dagster's in-memory event log opens a new SQLite connection, and sets two pragmas on it, for every
event it stores. A province run stores over a thousand events (each mart's and each dbt test's
planned, materialized and evaluated events among them), and opening those connections cost about
half a second of every run (docs/performance.md). Most of them tell what a step made — a mart
materialized, a dbt test evaluated, their planned events, each output — and the asset events are
stored with the asset's own tables too (latest materialization, check executions): another half
second of every run. Yet this instance ends with the process, and nothing reads them back: the
run's outcome, its steps' times and its failures are run and step events (Dagster reads outputs
back only to re-execute a run, which a `fazhi run` never does). They reach the run's listeners (the
progress shown on a terminal) as they happen, and are not stored. `fazhi ui` keeps every event in
its own instance.

Dagster asks for the last materialization or observation of every asset a step reads, at each of the
step's outputs (to give the new materialization its inputs' data versions); the marts step alone has
thirty outputs. With no asset event stored there is none to find, and the answer is given without a
query (`HeldConnectionEventLog.get_asset_records`, `fetch_observations`).
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster._core.event_api import EventLogCursor, EventRecordsResult
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.instance import InstanceType
from dagster._core.launcher.sync_in_memory_run_launcher import SyncInMemoryRunLauncher
from dagster._core.run_coordinator import DefaultRunCoordinator
from dagster._core.storage.event_log import InMemoryEventLogStorage
from dagster._core.storage.event_log.base import AssetRecord
from dagster._core.storage.event_log.schema import SqlEventLogStorageMetadata
from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
from dagster._core.storage.root import TemporaryLocalArtifactStorage
from dagster._core.storage.runs import InMemoryRunStorage
from dagster._core.storage.runs.schema import RunStorageSqlMetadata, SnapshotsTable
from dagster._core.storage.runs.sql_run_storage import SnapshotType
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import create_in_memory_conn_string
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

# Handed to the run's listeners, never read back from this instance (see above).
NOT_STORED = frozenset(
    {
        DagsterEventType.ASSET_MATERIALIZATION,
        DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
        DagsterEventType.ASSET_OBSERVATION,
        DagsterEventType.ASSET_CHECK_EVALUATION,
        DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
        DagsterEventType.STEP_OUTPUT,
    }
)


class HeldConnectionEventLog(InMemoryEventLogStorage):
    """The in-memory event log, each call served by the connection it holds for its life. Calls are
    serialised by the storage's own lock, as they are for a fresh connection; the pragmas Dagster
    sets on each fresh one change nothing here (an in-memory database has no WAL, and
    `foreign_keys` set inside a transaction is ignored by SQLite). Whether a table exists, which
    Dagster asks again and again during a run, is answered once per table: the tables are all made
    when the storage is. What a step made is not stored (NOT_STORED)."""

    def __init__(self) -> None:
        # InMemoryEventLogStorage.__init__, without the schema's alembic stamp (UnstampedRunStorage, below)
        self._inst_data = None
        self._engine = create_engine(
            create_in_memory_conn_string(f"events-{uuid.uuid4()}"), poolclass=NullPool
        )
        self._handlers = defaultdict(set)
        self._storage_id = 0
        self._db_lock = threading.Lock()
        self._held_conn = self._engine.connect()
        with self._held_conn.begin():
            SqlEventLogStorageMetadata.create_all(self._held_conn)
        self._tables: dict[str, bool] = {}

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        with self._db_lock, self._held_conn.begin():
            yield self._held_conn

    def store_event(self, event: EventLogEntry) -> None:
        if event.dagster_event is None or event.dagster_event.event_type not in NOT_STORED:
            super().store_event(event)

    def get_asset_records(self, asset_keys: Sequence[dg.AssetKey] | None = None) -> Sequence[AssetRecord]:
        return []  # no asset event is stored (NOT_STORED): no asset has a record

    def fetch_observations(
        self,
        records_filter: dg.AssetKey | dg.AssetRecordsFilter,
        limit: int,
        cursor: str | None = None,
        ascending: bool = False,
    ) -> EventRecordsResult:
        return EventRecordsResult(
            [], cursor=cursor or EventLogCursor.from_storage_id(-1).to_string(), has_more=False
        )

    def has_table(self, table_name: str) -> bool:
        if table_name not in self._tables:
            self._tables[table_name] = super().has_table(table_name)
        return self._tables[table_name]


class UnstampedRunStorage(InMemoryRunStorage):
    """The in-memory run storage, its tables made without stamping their alembic revision. Dagster
    stamps each in-memory storage as it would a database to migrate later, loading alembic's
    revision scripts to do so (about 0.05 s a storage, twice that in a run forked from `fazhi
    runner`); this one ends with its run and is never migrated, and nothing reads the stamp.

    The job's and the execution plan's snapshots, which Dagster stores as each run is created, are
    kept as they are, by their ids: storing them serialised and compressed in SQLite took 40–68 ms
    of each run (docs/performance.md), for an instance that never reads them back."""

    def __init__(self) -> None:
        # InMemoryRunStorage.__init__ without its preload (none) and without the stamp
        self._engine = create_engine(create_in_memory_conn_string(f"runs-{uuid.uuid4()}"), poolclass=NullPool)
        self._held_conn = self._engine.connect()
        with self._held_conn.begin():
            RunStorageSqlMetadata.create_all(self._held_conn)  # instance_info among its tables
        self._snapshots: dict[str, object] = {}

    def _add_snapshot(self, snapshot_id: str, snapshot_obj: object, snapshot_type: SnapshotType) -> str:
        if snapshot_id not in self._snapshots:
            self._snapshots[snapshot_id] = snapshot_obj
            with self.connect() as conn:  # its row, without a body: a run refers to it
                conn.execute(
                    SnapshotsTable.insert().values(
                        snapshot_id=snapshot_id, snapshot_body=b"", snapshot_type=snapshot_type.value
                    )
                )
        return snapshot_id

    def _has_snapshot_id(self, snapshot_id: str) -> bool:
        return snapshot_id in self._snapshots

    def _get_snapshot(self, snapshot_id: str) -> Any:
        return self._snapshots.get(snapshot_id)

    def wipe(self) -> None:
        super().wipe()
        self._snapshots.clear()


def ephemeral_instance() -> dg.DagsterInstance:
    """`DagsterInstance.ephemeral()`, with the storages above."""
    return dg.DagsterInstance(
        instance_type=InstanceType.EPHEMERAL,
        local_artifact_storage=TemporaryLocalArtifactStorage(),
        run_storage=UnstampedRunStorage(),
        event_storage=HeldConnectionEventLog(),
        compute_log_manager=NoOpComputeLogManager(),
        run_coordinator=DefaultRunCoordinator(),
        run_launcher=SyncInMemoryRunLauncher(),
    )
