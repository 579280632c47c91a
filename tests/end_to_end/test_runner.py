"""`fazhi runner`: a `fazhi run` handed to a process that stays up gives what it would have given in its
own process (published tables, exit code, what it says), ends with its `fazhi run`, and is never
served by code older than the files (pipelines/lib/runner.py)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from builders import city_units, write_meetings, write_score_sheet, write_units

from pipelines.lib import runner
from pipelines.lib.warehouse import table_differences

FAZHI = Path(sys.executable).parent / "fazhi"


@dataclass
class Runner:
    name: str  # FAZHI_RUNNER of the runner and of the runs it is to serve
    proc: subprocess.Popen
    log: Path

    def env(self) -> dict[str, str]:
        return dict(os.environ, FAZHI_RUNNER=self.name)

    def served(self) -> list[int]:
        """The child pids of the runs it started, from its own log."""
        return [
            int(line.split("（进程 ")[1].split("）")[0])
            for line in self.log.read_text(encoding="utf-8").splitlines()
            if "执行（进程" in line
        ]

    def ended(self, pid: int, within: float = 10) -> str:
        """What the runner's log says of how its child `pid` ended (it looks every half second)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for line in self.log.read_text(encoding="utf-8").splitlines():
                if f"结束（进程 {pid}）：" in line:
                    return line.split("）：", 1)[1]
            time.sleep(0.05)
        return ""


def _start(log: Path, name: str, command: list[str] | None = None) -> subprocess.Popen:
    with open(log, "w", encoding="utf-8") as out:
        return subprocess.Popen(
            command or [str(FAZHI), "runner"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, FAZHI_RUNNER=name),
        )


def _ready(proc: subprocess.Popen, log: Path, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while not log.read_text(encoding="utf-8").strip():
        assert proc.poll() is None, f"the runner exited: {log.read_text(encoding='utf-8')}"
        assert time.monotonic() < deadline, "the runner did not get ready"
        time.sleep(0.05)


@pytest.fixture
def started(tmp_path) -> Iterator[Runner]:
    name, log = f"test-{uuid.uuid4().hex[:12]}", tmp_path / "runner.log"
    proc = _start(log, name)
    try:
        _ready(proc, log)
        yield Runner(name, proc, log)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def office(tmp_path):
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县", "南乐县"]))
    write_score_sheet(raw, 2024, "清丰县", "party")
    write_score_sheet(raw, 2024, "南乐县", "party")
    write_meetings(raw, 2024, "清丰县学法台账.csv", [("清丰县", "2024-03-05", "常务会议", "学习行政复议法")])
    return raw


def _run(raw: Path, warehouse: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(FAZHI), "run", "--raw", str(raw), "--warehouse", str(warehouse), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_a_served_run_publishes_what_a_run_in_its_own_process_publishes(started, office, tmp_path):
    served = _run(office, tmp_path / "served" / "fazhi.duckdb", started.env(), "--quiet")
    assert served.returncode == 0, served.stderr
    assert len(started.served()) == 1
    own = _run(office, tmp_path / "own" / "fazhi.duckdb", dict(os.environ, FAZHI_RUNNER="off"), "--quiet")
    assert own.returncode == 0, own.stderr
    assert len(started.served()) == 1  # FAZHI_RUNNER=off: not handed on
    assert (served.stdout, served.stderr) == (own.stdout, own.stderr) == ("", "")
    differences = table_differences(
        tmp_path / "served" / "fazhi.duckdb",
        tmp_path / "own" / "fazhi.duckdb",
        where={"restatements": "false"},
    )
    assert differences == {}


def test_a_served_run_speaks_on_the_command_s_own_output_with_its_exit_code(started, office, tmp_path):
    done = _run(tmp_path / "nowhere", tmp_path / "marts" / "fazhi.duckdb", started.env())
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == f"报送文件目录不存在：{tmp_path / 'nowhere'}。请检查路径（--raw 或 FAZHI_RAW_DIR）。"
    )
    summary = _run(office, tmp_path / "marts" / "fazhi.duckdb", started.env())
    assert summary.returncode == 0, summary.stderr
    assert "已发布" in summary.stdout and "Traceback" not in summary.stdout + summary.stderr
    usage, published = started.served()
    assert (started.ended(usage), started.ended(published)) == ("退出码 2", "退出码 0")


@contextlib.contextmanager
def _lock_held(warehouse: Path) -> Iterator[None]:
    """Another run holds the run lock for the duration."""
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from pipelines.lib.runlock import run_lock
        with run_lock(Path({str(warehouse.parent / ".work")!r}), "fazhi run --years 2024"):
            print("held", flush=True)
            time.sleep(120)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()


# A command as a person starts it at a terminal, with Ctrl+C not ignored: a shell starts a job in the
# background (a test run started with `&`, say) with Ctrl+C ignored, and its processes pass that on.
_CTRL_C_HEARD = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"


def _waiting_run(raw: Path, warehouse: Path, env: dict[str, str]) -> subprocess.Popen:
    """A `fazhi run --wait`, waiting for the lock."""
    command = [
        str(FAZHI),
        "run",
        "--raw",
        str(raw),
        "--warehouse",
        str(warehouse),
        "--wait",
        "120",
        "--quiet",
    ]
    client = subprocess.Popen(
        [sys.executable, "-c", _CTRL_C_HEARD, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert client.stderr is not None
    line = client.stderr.readline()
    assert "另一次运行正在进行，等待其结束" in line, line
    return client


def _child(started: Runner) -> int:
    """The one run the runner has started (it logs it as it forks)."""
    deadline = time.monotonic() + 10
    while not started.served() and time.monotonic() < deadline:
        time.sleep(0.05)
    [child] = started.served()
    assert psutil.pid_exists(child)
    return child


def _gone(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("served", [True, False], ids=["served", "in-its-own-process"])
def test_ctrl_c_stops_a_run_and_says_so(served, office, tmp_path, request):
    runner_up: Runner | None = request.getfixturevalue("started") if served else None
    warehouse = tmp_path / "marts" / "fazhi.duckdb"
    with _lock_held(warehouse):
        client = _waiting_run(office, warehouse, runner_up.env() if runner_up else dict(os.environ))
        child = _child(runner_up) if runner_up else None
        client.send_signal(signal.SIGINT)
        _out, err = client.communicate(timeout=60)
    assert client.returncode == 130
    assert err.strip() == "已中断：本次运行未完成，已发布的数据仍是最后一次完整发布的版本。"
    assert child is None or _gone(child)
    assert not warehouse.exists()


def test_a_served_run_ends_with_its_command_killed_outright(started, office, tmp_path):
    warehouse = tmp_path / "marts" / "fazhi.duckdb"
    with _lock_held(warehouse):
        client = _waiting_run(office, warehouse, started.env())
        child = _child(started)
        client.kill()
        client.wait()
        assert _gone(child)
        assert started.ended(child) == "被信号 9 终止"
    assert not warehouse.exists()


def test_a_runner_whose_code_changed_stops_and_the_run_runs_in_its_own_process(office, tmp_path):
    """The runner's stamp of its code read from a file here, which this test changes."""
    stamp, log, name = tmp_path / "stamp", tmp_path / "runner.log", f"test-{uuid.uuid4().hex[:12]}"
    stamp.write_text("1")
    code = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from pipelines.lib import runner
        why = runner.serve(on_ready=lambda: print("ready", flush=True), stamp=lambda: Path({str(stamp)!r}).read_text())
        print(why, flush=True)
        os._exit(0)
    """)
    proc = _start(log, name, [sys.executable, "-c", code])
    try:
        _ready(proc, log)
        stamp.write_text("2")
        done = _run(
            office, tmp_path / "marts" / "fazhi.duckdb", dict(os.environ, FAZHI_RUNNER=name), "--quiet"
        )
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "marts" / "fazhi.duckdb").exists()
    assert log.read_text(encoding="utf-8").split() == ["ready", "stale"]


def test_the_code_stamp_changes_with_any_source_file(tmp_path):
    sources = ((tmp_path, ("*.py",)),)
    (tmp_path / "a.py").write_text("x = 1\n")
    first = runner.code_stamp(sources)
    assert runner.code_stamp(sources) == first
    (tmp_path / "notes.txt").write_text("not a source")
    assert runner.code_stamp(sources) == first
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    second = runner.code_stamp(sources)
    assert second != first
    os.utime(tmp_path / "a.py", ns=(1, 1))
    assert runner.code_stamp(sources) != second


def test_a_second_runner_of_the_same_name_does_not_start(started, tmp_path):
    done = subprocess.run(
        [str(FAZHI), "runner"], capture_output=True, text=True, timeout=120, env=started.env()
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "本安装已有一个常驻运行进程在为本用户服务，未再启动。"
    assert started.proc.poll() is None


@pytest.mark.parametrize(
    "request_line",
    [
        {"argv": ["users", "list"], "env": {}, "umask": 0o22},  # not `fazhi run`
        ["run"],  # not a request
        {"argv": ["run"], "env": {"FAZHI_RAW_DIR": 1}, "umask": 0o22},  # an environment of texts only
    ],
)
def test_the_runner_runs_fazhi_run_and_nothing_else(started, tmp_path, monkeypatch, request_line):
    monkeypatch.setenv("FAZHI_RUNNER", started.name)
    where = runner.address()
    assert where is not None
    if isinstance(request_line, dict):
        request_line["cwd"] = str(tmp_path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(where)
        socket.send_fds(conn, [(json.dumps(request_line) + "\n").encode()], [0, 1, 2])
        conn.settimeout(30)
        assert conn.recv(100) == b""  # closed without an answer
    assert started.served() == []
    with pytest.raises(subprocess.TimeoutExpired):  # and it is still serving
        started.proc.wait(timeout=2)


def test_a_served_run_killed_at_publication_says_so_and_the_last_publication_stays(started, office, tmp_path):
    warehouse = tmp_path / "marts" / "fazhi.duckdb"
    assert _run(office, warehouse, started.env(), "--quiet").returncode == 0
    published = warehouse.stat().st_mtime_ns
    write_score_sheet(office, 2024, "南乐县", "party", {1: 0})  # a corrected sheet: one task scored 0
    done = _run(office, warehouse, dict(started.env(), FAZHI_CRASH_AT="publish.before_swap"), "--quiet")
    assert done.returncode == 1
    assert done.stderr.strip().startswith("运行进程意外结束（可能被系统终止）。")
    assert "Traceback" not in done.stderr
    assert warehouse.stat().st_mtime_ns == published
    assert len(started.served()) == 2


def test_a_served_run_imports_nothing_the_runner_has_not(office, tmp_path):
    # What a run imports itself, each served run imports again: the runner imports it once, before it
    # forks (the first run in a process that imported as the runner does imports nothing more); so
    # with the marts' compiled project and asset keys, which the code alone decides.
    script = textwrap.dedent(
        f"""
        import json, sys
        from pipelines.lib import runner
        runner.warm_imports()
        before = set(sys.modules)
        from pipelines import cli
        from pipelines.defs import marts
        made = marts._project_keys.cache_info().misses
        code = cli.command(["run", "--raw", {str(office)!r}, "--warehouse", {str(tmp_path / "fazhi.duckdb")!r}, "--quiet"])
        print(json.dumps([code, sorted(set(sys.modules) - before), marts._project_keys.cache_info().misses - made]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, FAZHI_RUNNER="off"),
    )
    code, imported, made_again = json.loads(done.stdout.strip().splitlines()[-1])
    assert code == 0, done.stderr[-3000:]
    assert imported == []
    assert made_again == 0


def _fork_servers(root: int) -> set[int]:
    """The multiprocessing fork servers among the processes under `root` (their workers, forked by
    them, have the same command line)."""
    found: dict[int, int] = {}
    for proc in psutil.Process(root).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "multiprocessing.forkserver" in " ".join(proc.cmdline()):
                found[proc.pid] = proc.ppid()
    return {pid for pid, parent in found.items() if parent not in found}


def test_served_runs_parse_with_the_runner_s_fork_server(started, office, tmp_path):
    # The runner starts the parse workers' fork server once; a served run starts none of its own
    # (its start, the parsers' imports, is what a corrected file's parse waited for).
    deadline = time.monotonic() + 60
    while not (servers := _fork_servers(started.proc.pid)):
        assert time.monotonic() < deadline, "the runner started no fork server"
        time.sleep(0.05)
    seen: set[int] = set()
    for n in range(2):
        client = subprocess.Popen(
            [str(FAZHI), "run", "--raw", str(office), "--warehouse", str(tmp_path / f"{n}" / "fazhi.duckdb")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=started.env(),
        )
        while client.poll() is None:
            seen |= _fork_servers(started.proc.pid)
            time.sleep(0.01)
        assert client.returncode == 0, client.stderr.read() if client.stderr else ""
    assert seen == servers and len(servers) == 1
    assert len(started.served()) == 2
