"""One run at a time on a work database: an exclusive lock on a file beside it.

The lock is `flock` on `<work dir>/run.lock`: the kernel releases it when its holder dies, however it
dies (kill -9, a closed terminal, a power cut), so a lock can never be left held by a dead run. Who
holds it is written inside the file (process, user, host, command, since when): a second run is told
in one sentence, and a run that takes over after a killed one says so. The lock is re-entrant within
one process: the CLI holds it around the whole run, and the Dagster resource inside that run takes
it again.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipelines.lib.warehouse import BEIJING

LOCK_NAME = "run.lock"
_held: dict[str, tuple[int, int]] = {}  # lock path → (fd, depth), this process
_guard = threading.Lock()


class RunLocked(RuntimeError):
    """Another run holds the work database. The message is one Chinese sentence for the person."""


@dataclass(frozen=True)
class Holder:
    pid: int
    user: str
    host: str
    command: str
    since: str  # ISO, UTC

    def describe(self) -> str:
        try:
            since = datetime.fromisoformat(self.since).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            since = self.since
        return f"{self.command}（进程 {self.pid}，{self.user}@{self.host}，自北京时间 {since} 起）"


def _read_holder(fd: int) -> Holder | None:
    try:
        raw = os.pread(fd, 4096, 0)
        data = json.loads(raw.decode("utf-8")) if raw.strip() else None
        return Holder(**data) if data else None
    except (ValueError, TypeError, OSError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_path(work_dir: Path) -> Path:
    return work_dir / LOCK_NAME


@contextmanager
def run_lock(
    work_dir: Path, command: str, wait_seconds: float = 0, on_wait=None, on_takeover=None
) -> Iterator[None]:
    """Hold the run lock for the block; wait up to `wait_seconds` for another run to finish, then raise
    RunLocked. `on_wait(holder)` is called once when waiting starts; `on_takeover(holder)` when the
    previous holder died without releasing its claim (its lock is gone, its note is still there)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    path = str(lock_path(work_dir).resolve())
    with _guard:
        if path in _held:
            fd, depth = _held[path]
            _held[path] = (fd, depth + 1)
            acquired_here = False
        else:
            acquired_here = True
    if acquired_here:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _acquire(fd, wait_seconds, on_wait)
            previous = _read_holder(fd)
            if previous is not None and on_takeover is not None and previous.pid != os.getpid():
                on_takeover(previous)
            note = Holder(
                os.getpid(),
                getpass.getuser(),
                socket.gethostname(),
                command,
                datetime.now(UTC).isoformat(timespec="seconds"),
            )
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(note.__dict__, ensure_ascii=False).encode("utf-8"), 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        with _guard:
            _held[path] = (fd, 1)
    try:
        yield
    finally:
        with _guard:
            fd, depth = _held[path]
            if depth > 1:
                _held[path] = (fd, depth - 1)
            else:
                del _held[path]
                os.ftruncate(fd, 0)  # released cleanly: no note left for the next run to report
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


def _acquire(fd: int, wait_seconds: float, on_wait) -> None:
    deadline = time.monotonic() + wait_seconds
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = _read_holder(fd)
            who = holder.describe() if holder else "另一次运行"
            if time.monotonic() >= deadline:
                waited = f"已等待 {wait_seconds:.0f} 秒，" if wait_seconds else ""
                raise RunLocked(
                    f"{waited}另一次运行正在使用同一工作数据库：{who}。"
                    "本次未运行，请等它结束后再试（同一时间只能有一次运行）。"
                ) from None
            if not told and on_wait is not None:
                on_wait(who)
                told = True
            time.sleep(0.2)


def holder_of(work_dir: Path) -> Holder | None:
    """Who holds the lock now, if anyone alive does (for status lines)."""
    path = lock_path(work_dir)
    if not path.exists():
        return None
    fd = os.open(str(path), os.O_RDONLY)
    try:
        holder = _read_holder(fd)
    finally:
        os.close(fd)
    return holder if holder and _alive(holder.pid) else None


def command_line() -> str:
    return (
        " ".join(["fazhi", *sys.argv[1:]])
        if sys.argv and sys.argv[0].endswith("fazhi")
        else " ".join(sys.argv)
    )
