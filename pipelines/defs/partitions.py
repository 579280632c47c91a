"""One partition dimension: the assessment year."""
import dagster as dg

# Start early enough for any historical year an office may still send; end_offset=1 adds the running year.
years = dg.TimeWindowPartitionsDefinition(start="2015", cron_schedule="0 0 1 1 *", fmt="%Y", end_offset=1)
