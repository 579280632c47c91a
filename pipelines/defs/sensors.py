"""The new-file sensor on data/raw: a run for each year whose content changed (SPEC §6)."""
import dagster as dg

from pipelines.defs.jobs import full_refresh
from pipelines.defs.partitions import years as year_partitions
from pipelines.defs.resources import FazhiWarehouse
from pipelines.lib import watch


@dg.sensor(job=full_refresh, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="监视 data/raw：按内容哈希发现新增、更改或移除的文件，只为受影响的年度请求运行。")
def raw_files_sensor(context: dg.SensorEvaluationContext, fazhi: FazhiWarehouse):
    found = watch.scan(fazhi.paths.raw_dir, context.cursor)
    known = set(year_partitions.get_partition_keys())
    runnable = [y for y in found.years if str(y) in known]
    if set(found.years) - set(runnable):
        context.log.warning(f"年度不在可计算范围内，未运行：{sorted(set(found.years) - set(runnable))}")
    if found.removed:
        context.log.warning(f"文件已移除，其数据将从 marts 中删除：{'、'.join(found.removed)}")
    if not runnable:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"没有需要运行的年度（{found.describe()}）"),
                               cursor=found.cursor)
    # No run_key: the cursor, saved with these requests, is what keeps a change from running twice.
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=str(y), tags={"fazhi/trigger": "raw_files_sensor"})
                      for y in runnable],
        cursor=found.cursor,
    )
