"""pipelines.lib.isolation: a crash, a memory blow-up, a hang or an exception in one item is
attributed to exactly that item; every other item still completes and the caller survives."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
import time
import types
import zipfile
from pathlib import Path

import psutil
import pytest

from pipelines.lib.isolation import Outcome, map_isolated, map_isolated_until
from pipelines.lib.records import FileRejected

# Functions run in the workers must be importable there: keep them at module level.


def _misbehave(x: int) -> int:
    if x == 3:
        os.abort()
    if x == 5:
        return len(b"x" * (5 * 1024**3))  # 5 GB, written: would really use the memory
    if x == 7:
        time.sleep(120)
    if x == 9:
        raise ValueError(f"bad item {x}")
    return x * x


def _abort(_x) -> None:
    os.abort()


def _slow_square(x: int) -> int:
    time.sleep(0.02)
    return x * x


def _identity(x):
    return x


def _held_until_released(job: tuple[int, str]) -> int:
    """Item 0 says it runs (a file `running`) and waits for a file `released`; the others are quick."""
    i, folder = job
    if i == 0:
        Path(folder, "running").touch()
        while not Path(folder, "released").exists():
            time.sleep(0.005)
    return i


def _every_seventh_raises(x: int) -> int:
    if x % 7 == 0:
        raise KeyError(x)
    return x + 1


def _return_unpicklable(_x):
    return lambda: None


def _address_space_limit(_x) -> int:
    return resource.getrlimit(resource.RLIMIT_AS)[0]


def _calamine_read(path: str) -> int:
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(path).get_sheet_by_index(0).to_python()
    return len(rows)


def _safe_read(path: str) -> str:
    from pipelines.lib.excel import read_workbook

    try:
        return f"ok:{len(read_workbook(Path(path))[0].rows)}"
    except FileRejected as exc:
        return exc.code


def _write_package(path: Path, sheet_body: str) -> str:
    # a minimal, well-formed .xlsx with one sheet
    rels_ns = "http://schemas.openxmlformats.org/package/2006/relationships"
    doc_rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/></Types>',
        )
        zf.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{rels_ns}"><Relationship Id="rId1" '
            f'Type="{doc_rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        zf.writestr(
            "xl/workbook.xml",
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            f'xmlns:r="{doc_rel}"><sheets><sheet name="S1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        zf.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{rels_ns}"><Relationship Id="rId1" '
            f'Type="{doc_rel}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        )
        zf.writestr(
            "xl/worksheets/sheet1.xml",
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f"<sheetData>{sheet_body}</sheetData></worksheet>",
        )
    return str(path)


def test_each_failure_is_attributed_to_its_own_item():
    started = time.monotonic()
    outcomes = map_isolated(_misbehave, range(12), workers=2, memory_mb=1024, timeout_s=2.0)
    elapsed = time.monotonic() - started
    assert len(outcomes) == 12 and all(isinstance(o, Outcome) for o in outcomes)
    by_kind = {i: o.error_kind for i, o in enumerate(outcomes) if not o.ok}
    assert by_kind == {3: "crash", 5: "exception", 7: "timeout", 9: "exception"}
    assert "SIGABRT" in outcomes[3].error
    assert "MemoryError" in outcomes[5].error  # the address-space limit stopped the 5 GB
    assert "2 s" in outcomes[7].error
    assert outcomes[9].error == "ValueError('bad item 9')"
    assert [o.value for i, o in enumerate(outcomes) if o.ok] == [i * i for i in range(12) if i not in by_kind]
    assert elapsed < 30  # the hang was cut off, not waited out


def test_every_item_crashing_still_gives_one_outcome_each():
    outcomes = map_isolated(_abort, range(6), workers=2)
    assert [o.error_kind for o in outcomes] == ["crash"] * 6


def test_calamine_abort_on_corner_cells_is_contained(tmp_path):
    """calamine aborts (or fails to allocate) on cells at A1 and XFD1048576: inside map_isolated
    that is one failed item; read_workbook refuses the same file before calamine touches it."""
    good = _write_package(tmp_path / "good.xlsx", '<row r="1"><c r="A1"><v>1</v></c></row>')
    corner = _write_package(
        tmp_path / "corner.xlsx",
        '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>2</v></c></row>',
    )
    raw = map_isolated(_calamine_read, [good, corner, good], workers=2, memory_mb=1536, timeout_s=60)
    assert raw[0].ok and raw[2].ok and raw[0].value == 1
    assert not raw[1].ok and raw[1].error_kind in ("crash", "exception"), raw[1]
    print(f"\ncalamine on corner cells in a worker: {raw[1].error_kind}: {raw[1].error}")
    safe = map_isolated(_safe_read, [good, corner, good], workers=2)
    assert [o.value for o in safe] == ["ok:1", "sheet_too_large", "ok:1"]


def test_order_and_values_survive_batching():
    outcomes = map_isolated(_every_seventh_raises, range(1000), workers=2, chunksize=37)
    for i, o in enumerate(outcomes):
        if i % 7 == 0:
            assert (o.ok, o.error_kind, o.error) == (False, "exception", f"KeyError({i})")
        else:
            assert (o.ok, o.value) == (True, i + 1)


def test_crash_in_the_middle_of_a_batch_reruns_the_unreported_items():
    items = list(range(200))
    items[150] = 3  # _misbehave aborts on 3; batches of 100 put it mid-batch
    outcomes = map_isolated(
        _misbehave, [i if i not in (5, 7, 9) else 4 for i in items], workers=2, chunksize=100
    )
    assert [i for i, o in enumerate(outcomes) if not o.ok] == [3, 150]
    assert all(o.error_kind == "crash" for o in outcomes if not o.ok)


def test_unpicklable_item_or_result_fails_alone():
    outcomes = map_isolated(_identity, [1, (lambda: 0), 3])
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].error_kind == "exception" and "pickle" in outcomes[1].error
    outcomes = map_isolated(_return_unpicklable, [1, 2])
    assert all(o.error_kind == "exception" for o in outcomes)


def test_memory_limit_is_applied_in_workers():
    outcomes = map_isolated(_address_space_limit, [0, 1], memory_mb=777)
    assert [o.value for o in outcomes] == [777 * 1024 * 1024] * 2


def test_single_item_and_empty_input_are_still_isolated():
    assert map_isolated(_identity, []) == []
    assert map_isolated(_identity, ["x"], workers=0) == [Outcome(True, "x")]
    assert map_isolated(_abort, ["x"], workers=1)[0].error_kind == "crash"


@pytest.mark.parametrize("n", [2000])
def test_throughput_of_small_items(n):
    started = time.perf_counter()
    outcomes = map_isolated(_identity, range(n), workers=2)
    elapsed = time.perf_counter() - started
    assert [o.value for o in outcomes] == list(range(n))
    print(
        f"\nmap_isolated: {n} trivial items in {elapsed * 1000:.0f} ms "
        f"({elapsed / n * 1e6:.1f} µs an item, worker start-up included)"
    )


def _parent_pid(_x) -> int:
    return os.getppid()


def test_a_server_started_ahead_is_the_one_workers_come_from():
    """start_server, given the module's name before it is imported, returns at once and the workers of
    later calls are forked by that server (in a fresh interpreter: this process's server may already
    run)."""
    script = (
        "import sys, multiprocessing.forkserver as fs; sys.path[:0] = sys.argv[1:3]\n"
        "from pipelines.lib.isolation import map_isolated, start_server\n"
        "start_server('test_isolation')\n"
        "assert 'test_isolation' not in sys.modules\n"
        "server = fs._forkserver._forkserver_pid\n"
        "assert server is not None, 'no server started'\n"
        "assert 'test_isolation' in fs._forkserver._preload_modules\n"
        "import test_isolation as t\n"
        "parents = {o.value for o in map_isolated(t._parent_pid, range(8), workers=2)}\n"
        "assert parents == {server}, (parents, server)\n"
        "assert fs._forkserver._forkserver_pid == server\n"
        "print('ok')\n"
    )
    tests_dir, root = Path(__file__).parent, Path(__file__).parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script, str(tests_dir), str(root)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_workers_start_under_a_temp_dir_too_long_for_a_unix_socket(tmp_path):
    """The fork server listens on a socket in the temp dir; a clerk's TMPDIR can be longer than a
    socket path may be (107 bytes): the workers still start (in a fresh interpreter, whose server
    this test starts)."""
    temp = tmp_path / ("长路径" * 12)  # 36 characters, 108 bytes
    temp.mkdir()
    script = (
        "import math, sys; sys.path[:0] = sys.argv[1:2]\n"
        "from pipelines.lib.isolation import map_isolated\n"
        "print([o.value for o in map_isolated(math.sqrt, [4.0, 9.0], workers=1)])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(Path(__file__).parents[2])],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    assert done.returncode == 0 and done.stdout.strip() == "[2.0, 3.0]", done.stderr[-2000:]


def _report_pid_and_hang(path: str) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(600)


def test_workers_die_with_a_killed_caller(tmp_path):
    """A caller killed without cleanup (kill -9, a cancelled run) must not leave a hung worker."""
    pid_file = tmp_path / "worker.pid"
    script = (
        "import sys; sys.path[:0] = sys.argv[1:3]\n"
        "from pipelines.lib.isolation import map_isolated\n"
        "import test_isolation as t\n"
        f"map_isolated(t._report_pid_and_hang, [{str(pid_file)!r}], timeout_s=None)\n"
    )
    tests_dir, root = Path(__file__).parent, Path(__file__).parents[2]
    caller = subprocess.Popen([sys.executable, "-c", script, str(tests_dir), str(root)])
    worker_pid = None
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()):
            assert caller.poll() is None and time.monotonic() < deadline, "worker never started"
            time.sleep(0.05)
        worker_pid = int(pid_file.read_text())
        caller.kill()
        caller.wait()
        deadline = time.monotonic() + 20
        while _alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker_pid), "the worker outlived its killed caller"
    finally:
        if caller.poll() is None:
            caller.kill()
        if worker_pid and _alive(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)


def test_workers_of_an_inherited_server_come_from_it_and_die_with_their_killed_caller(tmp_path):
    """A process forked from one whose fork server runs (a run of `fazhi runner`) has its workers
    forked by that server, which outlives the caller: killed, the caller still takes its workers."""
    pid_file = tmp_path / "worker.pid"
    script = (
        "import os, sys, time; sys.path[:0] = sys.argv[1:3]\n"
        "import multiprocessing.forkserver as fs\n"
        "from pipelines.lib.isolation import map_isolated, start_server, use_inherited_server\n"
        "import test_isolation as t\n"
        "start_server('test_isolation')\n"
        "server = fs._forkserver._forkserver_pid\n"
        "caller = os.fork()\n"
        "if caller == 0:\n"
        "    use_inherited_server()\n"
        "    assert {o.value for o in map_isolated(t._parent_pid, range(4), workers=2)} == {server}\n"
        "    assert fs._forkserver._forkserver_pid == server\n"
        f"    map_isolated(t._report_pid_and_hang, [{str(pid_file)!r}], timeout_s=None)\n"
        "    os._exit(0)\n"
        "print(caller, server, flush=True)\n"
        "time.sleep(120)\n"
    )
    tests_dir, root = Path(__file__).parent, Path(__file__).parents[2]
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(tests_dir), str(root)], stdout=subprocess.PIPE, text=True
    )
    worker_pid = None
    try:
        assert holder.stdout is not None
        caller, server = map(int, holder.stdout.readline().split())
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()):
            assert _alive(caller) and time.monotonic() < deadline, "worker never started"
            time.sleep(0.05)
        worker_pid = int(pid_file.read_text())
        assert psutil.Process(worker_pid).ppid() == server  # forked by the inherited server
        os.kill(caller, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while _alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker_pid), "the worker outlived its killed caller"
        assert _alive(server)  # held by the process it was started by
    finally:
        holder.kill()
        holder.wait()
        if worker_pid and _alive(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_broken_set_up_raises_instead_of_looping():
    # a function the workers cannot import kills every worker before any item starts: that is no
    # item's fault, and replacing workers forever would hang the caller
    module = types.ModuleType("fazhi_module_only_in_this_process")
    exec("def f(x):\n    return x\n", module.__dict__)
    sys.modules[module.__name__] = module
    started = time.monotonic()
    try:
        with pytest.raises(RuntimeError, match="workers keep dying"):
            map_isolated(module.f, range(10))
    finally:
        del sys.modules[module.__name__]
    assert time.monotonic() - started < 30


def test_a_stopped_map_starts_no_further_item():
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    outcomes = map_isolated_until(_slow_square, range(500), stop, workers=1)
    assert time.monotonic() - started < 5  # 500 items would take 10 s
    assert 0 < len(outcomes) < 500
    assert sorted(outcomes) == list(range(len(outcomes)))  # items start in order; none is skipped
    assert all(o.ok and o.value == i * i for i, o in outcomes.items())


def test_a_stop_waits_only_for_the_item_each_worker_runs_and_the_one_queued_behind_it(tmp_path):
    # a stop should not wait for a worker to finish a batch of items handed to it at once (parsing
    # ahead is stopped when the parse step begins, which waits for what the worker is doing)
    stop = threading.Event()
    jobs = [(i, str(tmp_path)) for i in range(200)]

    def stop_while_item_0_runs() -> None:
        while not (tmp_path / "running").exists():
            time.sleep(0.005)
        stop.set()
        time.sleep(0.2)  # the pool sees the stop while item 0 still runs
        (tmp_path / "released").touch()

    threading.Thread(target=stop_while_item_0_runs, daemon=True).start()
    outcomes = map_isolated_until(_held_until_released, jobs, stop, workers=1)
    assert outcomes == {0: Outcome(True, 0), 1: Outcome(True, 1)}


def test_an_unstopped_map_runs_every_item_and_a_stopped_one_none():
    assert map_isolated_until(_slow_square, range(10), threading.Event(), workers=2) == {
        i: Outcome(True, i * i) for i in range(10)
    }
    stopped = threading.Event()
    stopped.set()
    assert map_isolated_until(_slow_square, range(10), stopped) == {}


def test_the_parse_workers_fork_server_preloads_what_they_would_import_one_by_one():
    """pyarrow imports pandas at its first conversion of Python lists: the fork server imports it once,
    or every parse worker (and every replacement of a crashed one) pays a quarter of a second. The
    command starts it before it imports the parsers, and their workers come from that server."""
    probe = (
        "import multiprocessing.forkserver as f, sys\n"
        "from pipelines.lib import isolation, parse_server\n"
        "parse_server.start_parsers()\n"
        "server = f._forkserver._forkserver_pid\n"
        "print(sorted(f._forkserver._preload_modules), [m for m in ('pandas', 'pyarrow') if m in sys.modules])\n"
        "from pipelines.lib import parsing\n"
        "isolation._forkserver_context(parsing.parse_batch)\n"
        "print(f._forkserver._forkserver_pid == server, parsing.parse_batch.__module__ == parse_server.MODULE)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().split("\n") == [
        "['__main__', 'pandas', 'pipelines.lib.isolation', 'pipelines.lib.parsing'] []",
        "True True",
    ]


def test_the_workers_import_the_command_s_code_wherever_it_was_started(tmp_path):
    """The fork server's first import path was the directory the command started in: a `pipelines`
    folder there (another checkout) was what the parse workers imported: files parsed by other code,
    or every file failed."""
    elsewhere = tmp_path / "another_checkout"
    (elsewhere / "pipelines" / "lib").mkdir(parents=True)  # a package of that name, with other parsers
    (elsewhere / "pipelines" / "__init__.py").touch()
    (elsewhere / "pipelines" / "lib" / "__init__.py").touch()
    (elsewhere / "pipelines" / "lib" / "parsing.py").write_text("def parse_one(job):\n    return None\n")
    ledger = tmp_path / "台账.csv"
    ledger.write_text(
        "单位,日期,会议类型,主题\n清丰县委,2024-03-05,常委会,听取法治建设工作汇报\n", encoding="utf-8"
    )
    probe = tmp_path / "probe.py"  # a script, as the `fazhi` command is: its own folder is on the path
    probe.write_text(
        "from pipelines.lib import isolation, parsing\n"
        "if __name__ == '__main__':\n"
        f"    [outcome] = isolation.map_isolated(parsing.parse_one, [({str(ledger)!r}, 'meetings')], workers=1)\n"
        "    print(outcome.ok, outcome.value.records[0]['unit'] if outcome.value else outcome.error)\n",
        encoding="utf-8",
    )
    out = subprocess.run(
        [sys.executable, str(probe)], cwd=elsewhere, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == "True 清丰县委", out.stdout + out.stderr
