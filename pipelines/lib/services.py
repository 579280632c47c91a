"""Servers the CLI starts (`fazhi dashboard`, `fazhi ui`) run as one unit with the command that
started them: SIGTERM (a service manager), SIGINT (Ctrl+C) or SIGHUP (a closed terminal) to the
`fazhi` process stops every process it started and frees their ports.

The server runs in its own session. On a stop signal it is asked to shut down the way it shuts down
cleanly (SIGINT: the Dagster webserver then stops itself and its daemon), then every process that
descends from it and is still there gets SIGTERM, and after a grace period SIGKILL. Should the
`fazhi` process itself be killed outright, the server gets SIGTERM from the kernel (PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time

import psutil

_PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # a service manager, Ctrl+C, a closed terminal


def die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def supervise(command: list[str], *, env: dict | None = None, cwd=None, grace: float = 15.0) -> int:
    """Run `command` until it exits or this process is told to stop; return its exit code."""
    child = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=die_with_parent,  # noqa: PLW1509 (one prctl call, no locks taken)
    )
    stop: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: stop.append(signum)) for sig in STOP_SIGNALS}
    try:
        while child.poll() is None and not stop:
            time.sleep(0.2)
        if stop:
            _stop_tree(child, grace)
        return 0 if stop else child.returncode
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_tree(child: subprocess.Popen, grace: float) -> None:
    try:
        family = [psutil.Process(child.pid), *psutil.Process(child.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    _signal(child.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=grace)
    left = [p for p in family if _running(p)]
    for p in left:
        _signal(p.pid, signal.SIGTERM)
    _, left = psutil.wait_procs(left, timeout=grace)
    for p in left:
        _signal(p.pid, signal.SIGKILL)
    psutil.wait_procs(left, timeout=5)
    if child.poll() is None:
        child.kill()
    child.wait()


def _running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def running(pid: int) -> bool:
    """Whether process `pid` exists and has not ended (a zombie has)."""
    try:
        return _running(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return False


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
