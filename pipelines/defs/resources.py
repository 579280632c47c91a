"""Resources and shared pieces of the asset definitions.

`FazhiWarehouse`: where raw files are, where the marts are published, which rulebook rules. A run
that uses it holds the run lock (pipelines.lib.runlock) from its first step to its last: runs execute
in one process (the in-process executor), so no other run — a clerk's `fazhi run`, a sensor or UI
run — can write the work database in between; and its steps share the work database opened once
(pipelines.lib.warehouse.held). Sensors and schedules only read, and take no lock.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import cached_property

import dagster as dg

from pipelines.lib.rulebook import Rulebook, load_rulebook
from pipelines.lib.runlock import run_lock
from pipelines.lib.schema import source_tables
from pipelines.lib.warehouse import Paths, held, today

WRITER_POOL = "fazhi_work_db"  # one writer at a time on the work database


def table_specs(tables: list[str], group: str, deps: list[str] | None = None) -> list[dg.AssetSpec]:
    """One asset per table, described by its declaration in fazhi_dbt/models/sources.yml."""
    declared = source_tables()
    return [
        dg.AssetSpec(
            t,
            group_name=group,
            deps=deps or [],
            description=declared[t].description,
            metadata={
                "dagster/column_schema": dg.TableSchema(
                    columns=[
                        dg.TableColumn(c.name, c.data_type, description=c.description or None)
                        for c in declared[t].columns
                    ]
                )
            },
        )
        for t in tables
    ]


class FazhiWarehouse(dg.ConfigurableResource):
    raw_dir: str = ""  # empty: FAZHI_RAW_DIR or data/raw
    warehouse: str = ""  # empty: FAZHI_WAREHOUSE or data/marts/fazhi.duckdb
    rulebook: str = ""  # empty: FAZHI_RULEBOOK or "default"
    parse_workers: int = 2  # parser processes, and input kinds staged at once
    as_of: str = ""  # YYYY-MM-DD the in-year figures are computed as of; empty: today (Beijing time)
    # years a run must find data for (fazhi run --years); none: any year. A resource's fields are
    # pydantic's, which copies a default: the list is not shared
    years: list[int] = []  # noqa: RUF012
    lock_wait_seconds: int = 1800  # a run queued behind another run waits this long, then fails saying who

    @property
    def paths(self) -> Paths:
        return Paths.from_env(self.raw_dir or None, self.warehouse or None)

    @property
    def as_of_date(self) -> date:
        return date.fromisoformat(self.as_of) if self.as_of else today()

    @cached_property
    def rules(self) -> Rulebook:
        return load_rulebook(self.rulebook or os.environ.get("FAZHI_RULEBOOK") or "default")

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[FazhiWarehouse]:
        run = context.run
        log = context.log or dg.get_dagster_logger()
        if run is None:  # a sensor tick or a schedule evaluation: reads only
            yield self
            return
        with (
            run_lock(
                self.paths.work_db.parent,
                f"Dagster 运行 {run.run_id[:8]}（{run.job_name}）",
                wait_seconds=self.lock_wait_seconds,
                on_wait=lambda who: log.info(f"等待另一次运行结束：{who}"),
                on_takeover=lambda h: log.warning(f"上次运行未正常结束，已接管：{h.describe()}"),
            ),
            held(self.paths.work_db),
        ):
            yield self
