"""The year-end recomputation, on a schedule in January (SPEC §6)."""

import dagster as dg

from pipelines.defs.jobs import refresh

# Configurable: SPEC §6 says only "in January". Every Monday of January at 02:00 Beijing time, so the
# year-end figures follow the last files (the annual report is due 31 January, rulebook filings) while
# each run stays cheap: unchanged files are not parsed again.
YEAR_END_CRON = "0 2 * 1 1"


@dg.schedule(
    job=refresh,
    cron_schedule=YEAR_END_CRON,
    execution_timezone="Asia/Shanghai",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="每年 1 月每周一 02:00（北京时间）重算，上一年度的最后报送计入年终结果。",
)
def year_end_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    when = context.scheduled_execution_time
    return dg.RunRequest(
        run_key=f"year_end_{when:%Y%m%d}",
        tags={"fazhi/trigger": "year_end_schedule", "fazhi/year": str(when.year - 1)},
    )
