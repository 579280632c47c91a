"""The new-file sensor on data/raw: a run when the content of any year changed (SPEC §6)."""

import dagster as dg

from pipelines.defs.jobs import refresh
from pipelines.defs.resources import FazhiWarehouse
from pipelines.lib import watch


@dg.sensor(
    job=refresh,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="监视 data/raw：按内容哈希发现新增、更改或移除的文件，有变化时请求一次运行。",
)
def raw_files_sensor(context: dg.SensorEvaluationContext, fazhi: FazhiWarehouse):
    found = watch.scan(fazhi.paths.raw_dir, context.cursor)
    if found.removed:
        context.log.warning(f"文件已移除，其数据将从 marts 中删除：{'、'.join(found.removed)}")
    if not found.years:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"没有需要运行的变化（{found.describe()}）"), cursor=found.cursor
        )
    # No run_key: the cursor, saved with this request, is what keeps a change from running twice.
    years = ",".join(map(str, found.years))
    return dg.SensorResult(
        run_requests=[dg.RunRequest(tags={"fazhi/trigger": "raw_files_sensor", "fazhi/years": years})],
        cursor=found.cursor,
    )
