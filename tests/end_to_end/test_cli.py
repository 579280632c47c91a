"""The `fazhi` command as a clerk runs it: generate demo data, run, read the summary."""

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

FAZHI = Path(sys.executable).parent / "fazhi"


def _fazhi(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(FAZHI), *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600
    )


def test_generate_then_run_publishes_and_summarises(tmp_path):
    raw, warehouse = tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb"
    temp = tmp_path / "temp"
    temp.mkdir()
    gen = _fazhi(
        "generate", "--out", str(raw), "--years", "2023-2024", "--seed", "3", env={"TMPDIR": str(temp)}
    )
    assert gen.returncode == 0, gen.stderr
    # the environment variables set the defaults, as for a clerk's shell profile
    run = _fazhi(
        "run", env={"FAZHI_RAW_DIR": str(raw), "FAZHI_WAREHOUSE": str(warehouse), "TMPDIR": str(temp)}
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # `fazhi` exits without the interpreter's teardown (pipelines.cli.entry); its exit handlers still
    # ran: the temporary directories of Dagster and of the parse workers are gone
    assert sorted(p.name for p in temp.iterdir()) == []
    years_line = next(line for line in run.stdout.splitlines() if line.startswith("年度："))
    assert "2023" in years_line and "2024" in years_line
    assert "已发布" in run.stdout and "loaded" in run.stdout
    with duckdb.connect(str(warehouse), read_only=True) as con:
        years = {y for (y,) in con.execute("select distinct year from marts.region_rankings").fetchall()}
        unbalanced = con.execute(
            "select count(*) from marts.submissions where rows_read <> rows_loaded + rows_rejected"
        ).fetchone()[0]
    assert {2023, 2024} <= years and unbalanced == 0


def test_run_exits_zero_with_rejected_inputs_and_nonzero_when_the_run_fails(tmp_path):
    raw = tmp_path / "raw"
    (raw / "2024" / "score_sheets").mkdir(parents=True)
    (raw / "units.csv").write_text(
        "单位名称,单位类型,所属县区,别名\n中共甲县委员会,党委,甲县,\n", encoding="utf-8"
    )
    (raw / "2024" / "score_sheets" / "坏文件.xlsx").write_bytes(b"\x00garbage")
    ok = _fazhi("run", "--raw", str(raw), "--warehouse", str(tmp_path / "w.duckdb"))
    assert ok.returncode == 0 and "not_a_workbook" in ok.stdout
    # a warehouse path that cannot be written is a failure of the run itself
    blocked = tmp_path / "file_not_dir"
    blocked.write_text("x")
    bad = _fazhi("run", "--raw", str(raw), "--warehouse", str(blocked / "w.duckdb"))
    assert bad.returncode != 0
    # told in one sentence that names the path; the trace goes to a file, never to the person
    assert "Traceback" not in bad.stdout + bad.stderr
    assert f"无法访问或创建 {blocked}" in bad.stderr, bad.stderr
    log = Path(bad.stderr.rsplit("错误详情：", 1)[1].strip())
    assert "Traceback" in log.read_text(encoding="utf-8")


@pytest.mark.slow
def test_province_scale_year_runs_and_every_row_is_accounted_for(tmp_path):
    raw, warehouse = tmp_path / "raw", tmp_path / "fazhi.duckdb"
    assert _fazhi("generate", "--out", str(raw), "--scale", "province", "--years", "2024").returncode == 0
    run = _fazhi("run", "--raw", str(raw), "--warehouse", str(warehouse))
    assert run.returncode == 0, run.stdout + run.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        units = con.execute("select count(*) from marts.units").fetchone()[0]
        scored = con.execute("select count(*) from marts.unit_scores where year = 2024").fetchone()[0]
        unbalanced = con.execute(
            "select count(*) from marts.submissions where rows_read <> rows_loaded + rows_rejected"
        ).fetchone()[0]
    assert units > 2500 and scored == units and unbalanced == 0
