"""`fazhi runner`: a process that stays up and runs each `fazhi run` of this install for it.

A `fazhi run` started as a new process spends about two seconds before it reads a file: the
interpreter, Dagster, dbt's manifest, the pipeline's modules and the run instance's storage are
imported again every time (docs/performance.md). For a clerk's corrected file that is most of the
wait. The runner imports all of it once; a `fazhi run` that finds it hands over its command line,
working directory, environment and its standard input, output and error (passed as file descriptors
over a Unix socket), and the runner forks a child that runs the command exactly as the command would
have run it — same code, same run lock, same output on the same terminal, same exit code — while the
`fazhi run` process waits for it and passes on Ctrl+C, SIGTERM and SIGHUP. Without a runner (or with
`FAZHI_RUNNER=off`) a `fazhi run` runs in its own process, as before.

What keeps a child the same as a fresh process:
- the runner only imports, and works out what the code alone decides (the dbt project's models and
  their asset keys: `warm_imports`); it calls nothing that reads data, the environment or the clock,
  and it has a single thread when it forks (Dagster and DuckDB start their threads in the child, when the
  run needs them). It starts one process: the parse workers' fork server, which imports the parsers
  and forks a worker when a run asks for one (pipelines/lib/isolation.py); every run's workers come
  from it, so that no run waits for a server of its own to import them (should it end, a run starts
  its own). A worker ends with the run that asked for it, killed or not; the parsers read nothing
  of the environment;
- its code is the code on disk: the runner records the files it was started from (the pipeline's
  and the dbt project's sources, the installed packages) and, when a request finds any of them
  changed, refuses it and stops; the `fazhi run` then runs in its own process;
- the socket belongs to this install and this user (its name holds both), and the runner serves
  only a peer of its own user.
A child's run ends with its `fazhi run`: Ctrl+C and the other stop signals are passed on, and a
`fazhi run` killed outright takes its run with it, as it would in its own process. A child is not
stopped when the runner stops.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import hashlib
import importlib
import json
import os
import select
import signal
import socket
import struct
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from pipelines.cli import EXIT_FAILED, EXIT_USAGE
from pipelines.lib.services import STOP_SIGNALS

# FAZHI_RUNNER: "off" — every `fazhi run` runs in its own process; a name — the runner of that name
# (an install's runners and runs pair up by it; unset: "default"). Tests and benches use their own.
ENV = "FAZHI_RUNNER"
_OFF = ("off", "0", "no", "false")
ROOT = Path(__file__).resolve().parents[2]
# What a run's code is made of: a change to any of these files makes a runner stale.
# (Rulebooks are not among them: a run reads its rulebook itself, by each file's modification time.)
SOURCES = (
    (ROOT / "pipelines", ("*.py",)),
    (ROOT / "access", ("*.py",)),
    (ROOT / "fazhi_dbt" / "models", ("*",)),
    (ROOT / "fazhi_dbt" / "macros", ("*",)),
    (ROOT / "fazhi_dbt", ("dbt_project.yml", "profiles.yml")),
)
_REPLY_TIMEOUT_S = 30.0  # a runner that is up answers within its poll interval
_POLL_S = 0.5
_MAX_REQUEST = 1 << 20


class RunnerRunning(RuntimeError):
    """Another runner serves this install for this user."""


def address() -> str | None:
    """The runner's socket: in Linux's abstract namespace (nothing on disk to leave behind when a
    runner is killed), named by this user, this install (its code and its interpreter) and the
    runner's name (FAZHI_RUNNER); None when runs are not to be handed on."""
    name = os.environ.get(ENV, "").strip() or "default"
    if name.lower() in _OFF:
        return None
    install = hashlib.sha256(f"{ROOT}\0{sys.prefix}\0{name}".encode()).hexdigest()[:24]
    return f"\0fazhi-runner-{os.getuid()}-{install}"


def code_stamp(sources: tuple[tuple[Path, tuple[str, ...]], ...] = SOURCES) -> str:
    """Every source file of a run (SOURCES) by name, size and modification time, and the installed
    packages' folder: what a runner's imports came from."""
    digest = hashlib.sha256()
    for folder, patterns in sources:
        names = sorted({p for pattern in patterns for p in folder.rglob(pattern) if p.is_file()})
        for path in names:
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    packages = Path(sysconfig.get_paths()["purelib"])
    digest.update(f"{packages}\0{packages.stat().st_mtime_ns}".encode())
    return digest.hexdigest()


def _send(conn: socket.socket, message: dict) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def _lines(conn: socket.socket, first: bytes = b"") -> tuple[list[dict], bytes]:
    """Read at least one whole line; the messages read and what is left of a line begun."""
    data = first
    while b"\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise EOFError
        data += chunk
        if len(data) > _MAX_REQUEST:
            raise ValueError("message too long")
    *whole, rest = data.split(b"\n")
    return [json.loads(line) for line in whole], rest


# --- the `fazhi run` side -------------------------------------------------------------------------


def delegate(argv: list[str]) -> int | None:
    """Hand this `fazhi` command to the runner if one is up: its exit code; None when there is no
    runner to take it (none up, FAZHI_RUNNER=off, or the runner's code is older than the files)."""
    where = address()
    if where is None:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(where)
    except OSError:
        conn.close()
        return None
    with conn:
        conn.settimeout(_REPLY_TIMEOUT_S)
        umask = os.umask(0)
        os.umask(umask)
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask}
        try:
            socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
            (reply, *later), rest = _lines(conn)
        except (OSError, EOFError, ValueError):
            return None  # the runner went away before it took the command: run it here
        if "pid" not in reply:
            return None  # refused (stale code): run it here
        return _wait(conn, int(reply["pid"]), later, rest)


def _wait(conn: socket.socket, pid: int, later: list[dict], rest: bytes) -> int:
    """Wait for the child's exit code, passing on the signals that would have stopped this process."""

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in STOP_SIGNALS}
    conn.settimeout(None)
    try:
        while not any("exit" in m for m in later):
            later, rest = _lines(conn, rest)
        return int(next(m["exit"] for m in later if "exit" in m))
    except (OSError, EOFError, ValueError):
        # The child died without a word (killed). Publication swaps whole files: what is served is
        # this run's complete publication or the one before, never half of one.
        print(
            "运行进程意外结束（可能被系统终止）。已发布的数据要么是本次运行完整发布的，要么仍是上一次发布的，"
            "不会只发布一半；请查看发布时间，必要时重新运行。",
            file=sys.stderr,
        )
        return EXIT_FAILED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- the runner -----------------------------------------------------------------------------------


def warm_imports() -> None:
    """Import what a `fazhi run` imports (pipelines/cli.py: its arguments, `_run_locked` and the
    steps' own late imports), and work out the marts' compiled project and asset keys, which every run
    asks for (kept by the manifest's modification time: a new manifest is read again)."""
    import dagster  # noqa: F401

    import access.cli  # noqa: F401
    import pipelines.definitions
    import pipelines.lib.method
    import pipelines.lib.pipeline
    import pipelines.lib.restatements
    import pipelines.lib.rulebook_history
    import pipelines.lib.run_instance
    import pipelines.lib.stability  # noqa: F401 (the rank simulation's numpy and pandas)
    from pipelines import cli  # noqa: F401

    for module in LATE_IMPORTS:
        importlib.import_module(module)
    from pipelines.defs.marts import project_keys

    project_keys()


# What a run imports only as it runs (Dagster's in-process execution and the file system I/O manager's
# upath, pyarrow's datasets when DuckDB hands Arrow over, the parse workers' fork server, the ledgers'
# encodings): imported by every served run again unless the runner has (tests/end_to_end/test_runner.py).
LATE_IMPORTS = (
    "dagster._core.definitions.external_asset",
    "dagster._core.definitions.repository_definition.repository_data_builder",
    "dagster._core.execution.execute_in_process",
    "dagster._core.execution.plan.active",
    "dagster._core.executor.in_process",
    "dagster._core.instance.runs.run_domain",
    "dagster._core.secrets.loader",
    "dagster._core.storage.migration.utils",
    "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage",
    "dagster._core.system_config.composite_descent",
    "encodings.gb18030",
    "encodings.utf_8_sig",
    "fsspec.implementations.local",
    "multiprocessing.popen_forkserver",
    "multiprocessing.sharedctypes",
    "pipelines.lib.gc_tuning",
    "pyarrow.acero",
    "pyarrow.dataset",
    "pyarrow.pandas_compat",
    "upath.implementations.local",
)


def serve(
    *,
    on_ready: Callable[[], None] | None = None,
    on_run: Callable[[int, list[str]], None] | None = None,
    on_end: Callable[[int, int], None] | None = None,
    stamp: Callable[[], str] = code_stamp,
) -> str:
    """Serve `fazhi run` requests until SIGTERM, SIGINT or SIGHUP, or until the code changes; why it
    stopped ("stopped" or "stale"). Raises RunnerRunning if another runner serves this install."""
    where = address()
    if where is None:
        raise ValueError(f"{ENV} is off")
    warm_imports()
    from pipelines.lib.parse_server import start_parsers

    start_parsers()
    known = stamp()
    gc.collect()
    gc.freeze()  # what is imported stays: children do not copy its pages by collecting them
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(where)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise RunnerRunning from exc
        raise
    listener.listen(16)
    stop: list[int] = []
    runs: set[int] = set()  # the children serving runs (not the fork server, also reaped here)
    previous = {sig: signal.signal(sig, lambda signum, _frame: stop.append(signum)) for sig in STOP_SIGNALS}
    why = "stopped"
    try:
        if on_ready:
            on_ready()
        while not stop:
            for pid, code in _reap():
                if pid not in runs:
                    continue
                runs.discard(pid)
                if on_end:
                    with contextlib.suppress(OSError):  # the runner's own output closed
                        on_end(pid, code)
            if not select.select([listener], [], [], _POLL_S)[0]:
                continue
            conn, _ = listener.accept()
            with conn:
                if not _same_user(conn):
                    continue
                try:
                    conn.settimeout(5)
                    request, fds = _receive(conn)
                except (OSError, EOFError, ValueError):
                    continue
                try:
                    if request["argv"][:1] != ["run"]:
                        continue  # the runner runs `fazhi run`, nothing else
                    if stamp() != known:
                        with contextlib.suppress(OSError):
                            _send(conn, {"refused": "stale"})
                        why = "stale"
                        break
                    pid = os.fork()
                    if pid == 0:
                        listener.close()
                        _child(conn, request, fds)
                    runs.add(pid)
                    if on_run:
                        with contextlib.suppress(OSError):  # the runner's own output closed
                            on_run(pid, request["argv"])
                finally:
                    for fd in fds:
                        os.close(fd)
    finally:
        listener.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return why


def _same_user(conn: socket.socket) -> bool:
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    return uid == os.getuid()


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
    if len(fds) != 3:
        for fd in fds:
            os.close(fd)
        raise ValueError("a request comes with standard input, output and error")
    try:
        if not data:
            raise EOFError
        (request, *_), _rest = _lines(conn, data)
        if not (
            isinstance(request, dict)
            and isinstance(request.get("argv"), list)
            and all(isinstance(a, str) for a in request["argv"])
            and isinstance(request.get("cwd"), str)
            and isinstance(request.get("env"), dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in request["env"].items())
            and isinstance(request.get("umask"), int)
        ):
            raise ValueError("not a request")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return request, fds


def _reap() -> list[tuple[int, int]]:
    """The children that ended since the last look, collected: (pid, exit code; minus the signal
    that ended one killed)."""
    ended = []
    with contextlib.suppress(ChildProcessError):
        while True:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if not pid:
                break
            ended.append((pid, os.waitstatus_to_exitcode(status)))
    return ended


def _child(conn: socket.socket, request: dict, fds: list[int]) -> NoReturn:
    """Run the command as its `fazhi run` process would have, on its terminal, and send the exit code."""
    code = EXIT_FAILED
    finished = threading.Event()
    try:
        # A Ctrl+C at the runner's terminal is not the run's: its `fazhi run` passes on its own.
        os.setpgid(0, 0)
        for sig in STOP_SIGNALS:  # as a fresh process has them: Ctrl+C raises, the others end it
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, ValueError):
                stream.reconfigure(line_buffering=stream.isatty())  # type: ignore[union-attr]
        os.chdir(request["cwd"])
        os.umask(int(request["umask"]))
        sys.argv = [sys.argv[0], *request["argv"]]  # what the run lock says is running
        os.environ.clear()
        os.environ.update(request["env"], **{ENV: "off"})  # the child runs it, never hands it on
        conn.settimeout(None)
        from pipelines.lib.isolation import use_inherited_server

        use_inherited_server()
        _send(conn, {"pid": os.getpid()})
        threading.Thread(target=_end_with_client, args=(conn, finished), daemon=True).start()
        from pipelines import cli

        code = cli.command(request["argv"])
    except BaseException:  # the client is gone, or its directory: nothing to run for
        code = EXIT_FAILED
    finally:
        finished.set()  # the client closes once it has the code: that is not it being killed
        with contextlib.suppress(OSError):
            _send(conn, {"exit": code})
        os._exit(code)


def _end_with_client(conn: socket.socket, finished: threading.Event) -> None:
    """The run ends with its `fazhi run`: killed outright (its signals it passes on), the run is too,
    as it would have been in that process."""
    with contextlib.suppress(OSError):
        while conn.recv(1):
            pass
    if not finished.is_set():
        os.kill(os.getpid(), signal.SIGKILL)


def serve_command() -> int:
    """`fazhi runner`: serve until stopped; 0 when stopped or stale (a service manager restarts it)."""
    started = time.strftime("%H:%M:%S")

    def ready() -> None:
        print(
            f"常驻运行进程已就绪（{started} 启动，代码 {ROOT}）：本用户的 fazhi run 将由它执行，省去每次约 2 秒的启动。"
            "按 Ctrl+C 停止。",
            flush=True,
        )

    def ran(pid: int, argv: list[str]) -> None:
        print(f"{time.strftime('%H:%M:%S')} 执行（进程 {pid}）：fazhi {' '.join(argv)}", flush=True)

    def ended(pid: int, code: int) -> None:
        how = f"退出码 {code}" if code >= 0 else f"被信号 {-code} 终止"
        print(f"{time.strftime('%H:%M:%S')} 结束（进程 {pid}）：{how}", flush=True)

    if address() is None:
        print(f"{ENV}=off：不启动常驻运行进程。", file=sys.stderr)
        return EXIT_USAGE
    try:
        why = serve(on_ready=ready, on_run=ran, on_end=ended)
    except RunnerRunning:
        print("本安装已有一个常驻运行进程在为本用户服务，未再启动。", file=sys.stderr)
        return EXIT_FAILED
    if why == "stale":
        print(
            "代码或依赖已更新：常驻运行进程已停止，请重新启动（fazhi run 在此之前照常各自运行）。", flush=True
        )
    return 0
