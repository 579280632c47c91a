"""One run at a time on a work database, said plainly; wrong arguments get a clear sentence and a
non-zero exit code, never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest
from builders import city_units, write_score_sheet, write_units

FAZHI = Path(sys.executable).parent / "fazhi"


@pytest.fixture
def office(tmp_path):
    raw, warehouse = tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb"
    write_units(raw, city_units(["清丰县"]))
    write_score_sheet(raw, 2024, "清丰县", "party")
    return raw, warehouse


def _run(raw: Path, warehouse: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(FAZHI), "run", "--raw", str(raw), "--warehouse", str(warehouse), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _holder(warehouse: Path, seconds: float) -> subprocess.Popen:
    """Another run: a process that holds the lock for `seconds`, then lets go."""
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from pipelines.lib.runlock import run_lock
        with run_lock(Path({str(warehouse.parent / ".work")!r}), "fazhi run --years 2024"):
            print("held", flush=True)
            time.sleep({seconds})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_is_refused_with_who_holds_the_lock_since_when(office):
    raw, warehouse = office
    holder = _holder(warehouse, 60)
    try:
        done = _run(raw, warehouse)
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 3
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert f"fazhi run --years 2024（进程 {holder.pid}，" in message and "自北京时间" in message
    assert "本次未运行" in message
    assert not warehouse.exists()


@pytest.mark.slow  # two full runs one after the other
def test_a_run_told_to_wait_runs_once_the_other_is_done(office):
    raw, warehouse = office
    holder = _holder(warehouse, 3)
    done = _run(raw, warehouse, "--wait", "120")
    holder.wait()
    assert done.returncode == 0, done.stderr
    assert "另一次运行正在进行，等待其结束" in done.stderr
    assert warehouse.exists()


def test_the_lock_of_a_killed_run_is_taken_over(office):
    raw, warehouse = office
    holder = _holder(warehouse, 60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    done = _run(raw, warehouse)
    assert done.returncode == 0, done.stderr
    assert f"上次运行未正常结束（fazhi run --years 2024（进程 {holder.pid}，" in done.stderr
    assert warehouse.exists()


def test_a_dagster_run_waits_for_the_lock_then_fails_saying_who(office):
    from pipelines.defs.ingest import raw_files
    from pipelines.defs.resources import FazhiWarehouse

    raw, warehouse = office
    holder = _holder(warehouse, 60)
    try:
        resource = FazhiWarehouse(raw_dir=str(raw), warehouse=str(warehouse), lock_wait_seconds=1)
        result = dg.materialize([raw_files], resources={"fazhi": resource}, raise_on_error=False)
    finally:
        holder.kill()
        holder.wait()
    assert not result.success
    text = " ".join(str(e.event_specific_data) for e in result.all_events if e.is_failure)
    assert "另一次运行正在使用同一工作数据库" in text and "fazhi run --years 2024" in text, text


def test_a_sensor_tick_takes_no_lock(office):
    from pipelines.defs.resources import FazhiWarehouse
    from pipelines.defs.sensors import raw_files_sensor

    raw, warehouse = office
    holder = _holder(warehouse, 60)
    try:
        resource = FazhiWarehouse(raw_dir=str(raw), warehouse=str(warehouse))
        with dg.build_sensor_context(resources={"fazhi": resource}) as context:
            result = raw_files_sensor(context)
    finally:
        holder.kill()
        holder.wait()
    assert [r.tags["fazhi/years"] for r in result.run_requests] == ["2024"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--raw", "/nonexistent/raw"], "报送文件目录不存在：/nonexistent/raw"),
        (["--years", "2030"], "2030 年度没有任何报送数据"),
        (["--years", "二〇二四"], "--years 格式不对"),
        (["--rulebook", "no_such_rulebook"], "规则无法加载（no_such_rulebook）"),
    ],
)
def test_wrong_arguments_exit_non_zero_with_one_clear_sentence(office, args, says):
    raw, warehouse = office
    done = subprocess.run(
        [str(FAZHI), "run", "--raw", str(raw), "--warehouse", str(warehouse), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr
    assert not warehouse.exists()


def test_a_fazhi_run_is_one_dagster_run_from_the_listing_to_publication(office, monkeypatch):
    from pipelines import cli

    raw, warehouse = office
    runs = []
    real = cli._materialize

    def materialize(*args, **kwargs):
        runs.append(result := real(*args, **kwargs))
        return result

    monkeypatch.setattr(cli, "_materialize", materialize)
    assert cli.run_pipeline(str(raw), str(warehouse), [2024], quiet=True) == 0
    assert len(runs) == 1 and runs[0].success
    steps = {event.step_key for event in runs[0].get_step_success_events()}
    assert {"raw_files", "parsed_files", "run_context", "staging", "marts", "published_warehouse"} <= steps


def test_a_dagster_run_without_any_year_of_data_stops_before_staging_saying_so(tmp_path):
    """The UI's and the sensor's runs too: a raw folder with a registry and nothing else (a share not
    mounted, a wrong FAZHI_RAW_DIR) publishes nothing, rather than an empty warehouse."""
    from pipelines.definitions import defs
    from pipelines.defs.resources import FazhiWarehouse

    raw, warehouse = tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb"
    write_units(raw, city_units(["清丰县"]))
    resource = FazhiWarehouse(raw_dir=str(raw), warehouse=str(warehouse))
    assets = [a for a in defs.assets or () if isinstance(a, dg.AssetsDefinition)]
    result = dg.materialize(
        assets,
        resources={"fazhi": resource},
        selection=dg.AssetSelection.all().without_checks(),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert failure.step_key == "unit_registry"
    error = failure.step_failure_data.error.cause
    assert error.cls_name == "InputError" and f"没有找到任何年度的数据（{raw}）" in error.message
    assert "staging" not in {event.step_key for event in result.get_step_success_events()}
    assert not warehouse.exists()


def test_a_year_asked_for_without_data_stops_the_run_before_anything_is_staged(office):
    import duckdb

    from pipelines.lib.warehouse import Paths

    raw, warehouse = office
    done = _run(raw, warehouse, "--years", "2024,2030")
    assert (
        done.returncode == 2
        and "2030 年度没有任何报送数据" in done.stderr
        and "有数据的年度：2024" in done.stderr
    )
    with duckdb.connect(str(Paths.from_env(str(raw), str(warehouse)).work_db), read_only=True) as con:
        # the registry and the sheet: read, but not staged
        assert con.execute("select count(*) from parsed_files").fetchone() == (2,)
        staged = con.execute(
            "select table_name from duckdb_tables() where table_name like 'stg%' and estimated_size > 0"
        ).fetchall()
    assert staged == [] and not warehouse.exists()
