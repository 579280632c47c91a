"""The Dagster code location: assets by layer (ingest → staging → marts → publish), checks, jobs."""
import dagster as dg

from pipelines.defs import ingest, jobs, marts, staging
from pipelines.defs.resources import FazhiWarehouse

defs = dg.Definitions(
    assets=[ingest.raw_files, staging.staging_tables, marts.year_marts, marts.region_rankings, marts.weak_spots,
            marts.published_warehouse],
    jobs=[jobs.full_refresh],
    resources={"fazhi": FazhiWarehouse()},
)
