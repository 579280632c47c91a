"""The Dagster code location: assets by layer (ingest → staging → marts → publish), checks, jobs,
the year-end schedule and the new-file sensor."""
import dagster as dg

from pipelines.defs import ingest, jobs, marts, schedules, sensors, staging
from pipelines.defs.resources import FazhiWarehouse

defs = dg.Definitions(
    assets=[ingest.raw_files, staging.staging_tables, marts.year_marts, marts.region_rankings, marts.weak_spots,
            marts.published_warehouse],
    jobs=[jobs.full_refresh, jobs.year_end_recompute],
    schedules=[schedules.year_end_schedule],
    sensors=[sensors.raw_files_sensor],
    resources={"fazhi": FazhiWarehouse()},
    # One process per run: the run lock the resource takes spans every step of the run.
    executor=dg.in_process_executor,
)
