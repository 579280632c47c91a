"""Progress a person can follow (pipelines/lib/progress.py): `fazhi run` and `fazhi generate` draw their
steps and counts on a terminal, and print none of it to a pipe, a log file or with --quiet."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from builders import city_units, write_score_sheet, write_units

from generator.registry import build_registry
from pipelines.defs import staging
from pipelines.lib import progress
from pipelines.lib.isolation import map_isolated

FAZHI = Path(sys.executable).parent / "fazhi"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
REGIONS = ["清丰县", "南乐县"]


def _env() -> dict[str, str]:
    """A terminal as a person has one: no variables that tell rich to draw or not to draw regardless."""
    env = {k: v for k, v in os.environ.items() if k not in ("TTY_COMPATIBLE", "FORCE_COLOR", "NO_COLOR")}
    return {**env, "TERM": "xterm-256color", "COLUMNS": "120"}


def on_terminal(command: list[str], timeout: float = 600) -> tuple[int, str]:
    """Run `command` with standard input, output and error on a pseudo-terminal of 40×120; its
    exit code and everything it drew, escape sequences removed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=_env(), close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the terminal's other side is closed, the command is done
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(master)
    return proc.returncode, ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


def in_a_pipe(command: list[str]) -> tuple[int, str, str]:
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=600)
    return done.returncode, done.stdout, done.stderr


def _tiny_raw(raw: Path) -> int:
    """Two regions' sheets for two years and the registry: the files the run parses."""
    write_units(raw, city_units(REGIONS))
    for year in (2023, 2024):
        for region in REGIONS:
            for role in ("party", "government"):
                write_score_sheet(raw, year, region, role)
    return sum(1 for p in raw.rglob("*") if p.is_file())


@pytest.mark.slow  # two full runs; generate's progress stays in the default suite
def test_fazhi_run_shows_its_steps_on_a_terminal_and_nothing_of_them_in_a_pipe(tmp_path):
    raw = tmp_path / "raw"
    files = _tiny_raw(raw)

    code, screen = on_terminal(
        [str(FAZHI), "run", "--raw", str(raw), "--warehouse", str(tmp_path / "tty" / "fazhi.duckdb")]
    )
    assert code == 0, screen[-3000:]
    assert re.search(rf"解析文件\s.*\b{files}/{files}\b", screen), screen[-3000:]  # files parsed of total
    # the years being staged, and the kinds staged of all
    kinds = len(staging.KINDS)
    assert re.search(rf"整理打分表、台账和登记（按类，各类同时）：2023、2024 年.*\b{kinds}/{kinds}\b", screen)
    assert re.search(r"计算并检查 marts.*\b(\d+)/\1\b", screen)  # the marts' models, all done
    assert f"发布 {tmp_path / 'tty' / 'fazhi.duckdb'}" in screen
    assert "已发布：" in screen  # the summary after it
    assert "Running with dbt" not in screen  # dbt's own lines stay in its log, not under the display

    code, out, err = in_a_pipe(
        [str(FAZHI), "run", "--raw", str(raw), "--warehouse", str(tmp_path / "pipe" / "fazhi.duckdb")]
    )
    assert code == 0, err[-3000:]
    assert "已发布：" in out
    for drawn in ("解析文件", "整理打分表", "计算并检查", f"{files}/{files}", "\x1b[", "\r"):
        assert drawn not in out + err, drawn


def test_fazhi_generate_shows_each_year_on_a_terminal_and_stays_quiet_when_asked_or_piped(tmp_path):
    units = len(build_registry("city", 1).units)
    command = [str(FAZHI), "generate", "--scale", "city", "--years", "2023-2024", "--seed", "1"]

    code, screen = on_terminal([*command, "--out", str(tmp_path / "tty")])
    assert code == 0, screen
    for year in (2023, 2024):
        assert re.search(rf"生成 {year} 年的报送材料（按单位）.*\b{units}/{units}\b", screen), screen
    assert "已生成到" in screen

    code, screen = on_terminal([*command, "--out", str(tmp_path / "quiet"), "--quiet"])
    assert code == 0 and screen.strip() == "", screen
    assert (tmp_path / "quiet" / "units.csv").is_file()

    code, out, err = in_a_pipe([*command, "--out", str(tmp_path / "pipe")])
    assert code == 0 and "已生成到" in out
    assert "生成 2023 年的报送材料" not in out + err and "\x1b[" not in out + err


def test_without_a_terminal_the_display_does_not_open_and_reports_cost_nothing():
    # Under pytest standard error is captured: not a terminal, as in CI or a log file.
    with progress.shown() as showing:
        assert showing is False
        progress.begin("解析文件", total=3)
        progress.advance(3)
        progress.end()
    assert progress.on_terminal() is False


def _square_or_abort(x: int) -> int:
    if x == 4:
        os.abort()
    return x * x


def test_every_item_is_counted_once_as_its_outcome_arrives_crashes_included():
    counted: list[int] = []
    outcomes = map_isolated(_square_or_abort, range(10), workers=2, on_done=counted.append)
    assert sum(counted) == 10 and all(n > 0 for n in counted)
    assert [o.error_kind for o in outcomes if not o.ok] == ["crash"]


def test_an_item_that_is_a_group_counts_its_weight():
    # the parse step hands a worker groups of files and counts files: a group counts as many
    counted: list[int] = []
    weights = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
    map_isolated(_square_or_abort, range(10), workers=2, on_done=counted.append, weights=weights)
    assert sum(counted) == sum(weights)
