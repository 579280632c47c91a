"""The Dagster code location, by concern: ingest → reference → staging (Python) → marts (dbt) →
publish, one job, the year-end schedule and the new-file sensor."""

import dagster as dg

from pipelines.defs import ingest, jobs, marts, publish, reference, schedules, sensors, staging
from pipelines.defs.resources import FazhiWarehouse

defs = dg.Definitions(
    assets=[
        ingest.raw_files,
        ingest.parsed_files,
        reference.rulebook,
        reference.run_context,
        reference.unit_registry,
        staging.staging,
        marts.marts,
        publish.published_warehouse,
    ],
    jobs=[jobs.refresh],
    schedules=[schedules.year_end_schedule],
    sensors=[sensors.raw_files_sensor],
    resources={"fazhi": FazhiWarehouse()},
    # One process per run: the run lock the warehouse resource takes spans every step of the run.
    executor=dg.in_process_executor,
)
