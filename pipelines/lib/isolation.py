"""Run a function over many items in child processes, so that one bad item cannot hurt the caller.

A parser fed a hostile file can abort the process (python-calamine does on some workbooks), be
killed by the kernel's OOM killer, blow up its memory or hang. ``map_isolated`` runs each item in a
worker process with an address-space limit; when a worker dies or overruns the timeout, exactly the
item it was on gets an ``Outcome`` saying so, a fresh worker takes over, and every other item still
completes.

How an item is attributed: before running an item the worker writes the item's index and start
time into a small shared-memory array, and clears the index once the result is stored. The parent
reads it when the worker dies or overruns (no message per item, so a crash between a "starting"
message and its delivery cannot mislead it). Items go to workers in batches and results come back
in batches (flushed at least every 50 ms), keeping the fixed cost per item in the microseconds.

Start method: ``forkserver``. ``fork`` is unsafe in a process that has threads (Dagster, Streamlit
and DuckDB all start threads; a forked child can inherit a held lock and hang), and ``spawn``
starts a fresh interpreter per worker (measured here: ~31 ms a bare worker against ~7 ms for a
forkserver child), which matters because a crashed worker is replaced mid-run. Two details keep
forkserver children cheap, measured with the real entry points (each otherwise costs ~0.5 s per
worker and per replacement):
- ``fn``'s module is preloaded in the fork server, so workers do not import it again, and so are the
  modules it names in ``WORKER_PRELOAD``: those its workers import later, such as pandas, which
  pyarrow imports at its first conversion of Python lists (each worker paid ~0.25 s for it);
- CPython < 3.13 never preloads ``__main__`` in the fork server (gh-126631), so every child re-runs
  the parent's main script (``dagster``'s imports all of Dagster). Workers do not need it unless
  ``fn`` is defined there, so it is left out of their start-up data (``_without_main``).

Items, ``fn`` and results must be picklable; ``fn`` must be a module-level function. ``fn`` should
be free of side effects that must not repeat: when a worker dies, the items it had finished but
not yet reported are run again by its replacement.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import math
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import multiprocessing.spawn
import os
import pickle
import resource
import select
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Outcome", "map_isolated", "map_isolated_until", "start_server", "use_inherited_server"]

CRASH, TIMEOUT, EXCEPTION = "crash", "timeout", "exception"
_FLUSH_S = 0.05  # a worker reports finished items at least this often
_MAX_BARREN_DEATHS = 5  # workers dying before any item starts: a broken set-up, not a bad item


@dataclass
class Outcome:
    """What became of one item: its value, or why there is none."""

    ok: bool
    value: object = None
    error_kind: str | None = None  # "crash" | "timeout" | "exception"
    error: str | None = None


def map_isolated(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    workers: int = 2,
    memory_mb: int | None = 1536,
    timeout_s: float | None = 60.0,
    chunksize: int | None = None,
    on_done: Callable[[int], None] | None = None,
    weights: Sequence[int] | None = None,
    on_outcome: Callable[[int, Outcome], None] | None = None,
) -> list[Outcome]:
    """Apply ``fn`` to every item in worker processes; one Outcome per item, in input order.

    Never raises for what an item does (exception, crash, memory exhaustion, hang). Every item runs
    in a child process, even a single one: isolation is the point.
    memory_mb: RLIMIT_AS of each worker (None: no limit). timeout_s: per item (None: no limit).
    on_done: called in this process with how many more items have their Outcome (progress display),
    or, given `weights` (one per item), the sum of their weights (an item that is a group of files
    counts its files).
    on_outcome: called in this process with each item's index and Outcome as soon as it is known,
    which the list returned then holds without its value (the values of many items need not be held
    at once). What it raises stops the workers and is raised here.
    """
    items = list(items)
    if not items:
        return []
    # not stoppable: every item gets its Outcome
    pool = _Pool(
        fn, items, workers, memory_mb, timeout_s, chunksize, on_done, weights=weights, on_outcome=on_outcome
    )
    return pool.run()  # type: ignore[return-value]


def map_isolated_until(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    until: threading.Event,
    *,
    workers: int = 1,
    memory_mb: int | None = 1536,
    timeout_s: float | None = 60.0,
) -> dict[int, Outcome]:
    """``map_isolated`` that can be stopped: once ``until`` is set, no further item is started and the
    call returns when the item each worker runs, and the one queued behind it, are done. The Outcomes of
    the items that ran, by index into ``items``.

    Each worker is handed single items, the next one queued while it runs one: handed a batch, it
    would finish the batch first (parsing ahead, stopped as the parse step begins, made the step wait
    0.36–0.50 s at province scale for the 64 groups of files its worker had been handed), and waiting
    for one item's result before handing it the next left it idle a third of the time while the
    command imported Dagster beside it."""
    items = list(items)
    if not items or until.is_set():
        return {}
    results = _Pool(fn, items, workers, memory_mb, timeout_s, 1, until=until, queued=2).run()
    return {i: outcome for i, outcome in enumerate(results) if outcome is not None}


def start_server(module: str, preload: Sequence[str] = ()) -> None:
    """Start the fork server that the workers of ``module``'s functions will come from, and return
    without waiting for it; ``preload``: the module's ``WORKER_PRELOAD``. By name: the caller need not
    import the module first (0.2 s for the parsers', on the core that would start the server).

    The server imports the module before it forks anyone (about 0.8 s for the parsers); started as a
    command starts, those imports run on the other core beside the command's own, instead of before
    the first item. Optional: ``map_isolated`` starts the server itself when it is not running."""
    _forkserver_context_of(module, preload)


@contextlib.contextmanager
def _safe_path():
    """The fork server runs `python -c`, whose first import path is the directory the command started
    in, and Python 3.11 does not apply the sys.path multiprocessing hands it: a `pipelines` folder there
    (another checkout, an older copy) was what the workers imported, so every file of a run failed to
    parse, or was parsed by other code. PYTHONSAFEPATH keeps that directory off the server's path."""
    before = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONSAFEPATH", None)
        else:
            os.environ["PYTHONSAFEPATH"] = before


_server: Any = multiprocessing.forkserver._forkserver  # its state is private to multiprocessing
_start_server = _server.ensure_running


def _ensure_running() -> None:
    """multiprocessing's own start of the fork server (at first use, and again should it be gone),
    with the server's import path as the command's (`_safe_path`)."""
    with _safe_path():
        _start_server()


def _install(ensure_running: Callable[[], None]) -> None:
    """Make `ensure_running` what starts the fork server, under both names multiprocessing calls it by:
    the server's method (before each new worker) and the module's alias of it (bound at its import)."""
    _server.ensure_running = multiprocessing.forkserver.ensure_running = ensure_running


_install(_ensure_running)


def use_inherited_server() -> None:
    """In a process forked from one whose fork server runs (a run forked by `fazhi runner`, which
    starts the parse workers' server as it starts): workers come from that server instead of one of
    this process's own, whose start (the parsers' imports, about 0.8 s on the other core) a corrected
    file's parse waited for. Should that server be gone, this process starts its own, as it would
    have. Multiprocessing asks whether its server runs by waiting on it, as its parent, which a
    forked process is not; this asks the kernel."""
    from pipelines.lib.services import running

    inherited, start_own = _server._forkserver_pid, _server.ensure_running
    if inherited is None:
        return

    def ensure_running() -> None:
        if _server._forkserver_pid == inherited:
            if running(inherited):
                return
            with contextlib.suppress(OSError, TypeError):  # its pipe and socket are its parent's
                os.close(_server._forkserver_alive_fd)
            _server._forkserver_pid = _server._forkserver_address = _server._forkserver_alive_fd = None
        start_own()

    _install(ensure_running)


# ---------------------------------------------------------------------------------------------
# Parent side
#
# Wire format. Parent -> worker: a list of (index, pickled item), or None to stop. Worker ->
# parent: a list of (index, pickled (ok, value, error_kind, error)). Pickling each item and result
# on its own lets an item that cannot be sent, unpickled or returned fail alone.


_launching = threading.local()


def _preparation_data(name, _original=multiprocessing.spawn.get_preparation_data):
    data = _original(name)
    if getattr(_launching, "without_main", False):
        data.pop("init_main_from_name", None)
        data.pop("init_main_from_path", None)
    return data


# Installed once; changes nothing unless a worker is being started by this module in this thread.
if not getattr(multiprocessing.spawn.get_preparation_data, "_fazhi_isolation", False):
    _preparation_data._fazhi_isolation = True  # type: ignore[attr-defined]
    multiprocessing.spawn.get_preparation_data = _preparation_data


@contextlib.contextmanager
def _without_main(fn):
    _launching.without_main = getattr(fn, "__module__", "__main__") != "__main__"
    try:
        yield
    finally:
        _launching.without_main = False


def _forkserver_context(fn):
    module = getattr(fn, "__module__", None)
    return _forkserver_context_of(module, getattr(sys.modules.get(module or ""), "WORKER_PRELOAD", ()))


def _forkserver_context_of(module: str | None, preload: Sequence[str]):
    ctx = multiprocessing.get_context("forkserver")
    # Takes effect when the fork server starts (first use in this process); keeps what others set.
    wanted = {m for m in (__name__, module) if m is not None and m != "__main__"}
    wanted.update(preload)
    current = getattr(_server, "_preload_modules", None) or []
    if not wanted <= set(current):
        ctx.set_forkserver_preload(list(dict.fromkeys([*current, *sorted(wanted)])))
    with _socket_safe_temp_dir():
        multiprocessing.forkserver.ensure_running()
    return ctx


# The fork server listens on a Unix socket, <temp dir>/pymp-XXXXXXXX/listener-XXXXXXXX, and a socket's
# path holds at most 107 bytes: under a longer TMPDIR, Python 3.11 fails with "AF_UNIX path too long"
# (newer Pythons fall back to /tmp themselves). Multiprocessing makes its directory once per process,
# so the server's first start decides where it lies.
_SUN_PATH_MAX = 107
_SOCKET_NAME = len("/pymp-XXXXXXXX/listener-XXXXXXXX")


@contextlib.contextmanager
def _socket_safe_temp_dir():
    if len(os.fsencode(tempfile.gettempdir())) + _SOCKET_NAME <= _SUN_PATH_MAX:
        yield
        return
    before = tempfile.tempdir
    tempfile.tempdir = "/tmp"
    try:
        yield
    finally:
        tempfile.tempdir = before


class _Worker:
    def __init__(self, ctx, fn, memory_mb):
        self.conn, child_conn = ctx.Pipe(duplex=True)
        # [index of the running item or -1, time.monotonic() when it started]
        self.state = ctx.RawArray(ctypes.c_double, [-1.0, 0.0])
        self.process = ctx.Process(
            target=_worker_main,
            args=(fn, child_conn, self.state, memory_mb, os.getpid()),
            name="fazhi-isolated",
            daemon=True,
        )
        with _without_main(fn):
            self.process.start()
        child_conn.close()
        self.assigned: set[int] = set()

    def current(self) -> tuple[int, float]:
        # the worker writes the start time before the index: a pair read between two equal
        # reads of the index belongs together
        while True:
            index = self.state[0]
            started = self.state[1]
            if self.state[0] == index:
                return int(index), started

    def reap(self) -> None:
        self.process.join(5.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()

    def stop(self) -> None:
        if self.process.is_alive() and not self.assigned:
            try:
                self.conn.send(None)
                self.process.join(2.0)
            except (OSError, ValueError):
                pass
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


class _Pool:
    def __init__(
        self,
        fn,
        items,
        workers,
        memory_mb,
        timeout_s,
        chunksize,
        on_done=None,
        until=None,
        weights=None,
        queued=1,
        on_outcome=None,
    ):
        self.fn, self.items, self.until, self.on_outcome = fn, items, until, on_outcome
        self.on_done, self.settled = on_done, 0
        self.weights = list(weights) if weights is not None else [1] * len(items)
        workers = max(1, min(int(workers or 1), len(items)))
        if chunksize is None:
            # small batches for few (usually heavy) items, up to 64 for many small ones
            chunksize = min(64, math.ceil(len(items) / (workers * 4)))
        self.n_workers, self.memory_mb = workers, memory_mb
        self.timeout_s, self.chunksize = timeout_s, max(1, chunksize)
        self.queued = queued  # batches a worker holds at once: the one it runs and those next in its pipe
        self.ctx = _forkserver_context(fn)
        self.results: list[Outcome | None] = [None] * len(items)
        self.pending = collections.deque(range(len(items)))
        self.workers: list[_Worker] = []
        self.barren_deaths = 0

    def run(self) -> list[Outcome | None]:
        try:
            for _ in range(self.n_workers):
                self.workers.append(_Worker(self.ctx, self.fn, self.memory_mb))
            while self.pending or any(w.assigned for w in self.workers):
                if self.until is not None and self.until.is_set():
                    self.pending.clear()  # stopped: what is not handed out yet is not started
                self._dispatch()
                self._wait_and_collect()
                self._enforce_timeouts()
                if self.on_done is not None and self.settled:
                    self.on_done(self.settled)
                    self.settled = 0
        finally:
            for worker in self.workers:
                worker.stop()
        return self.results

    def _settle(self, i: int, outcome: Outcome) -> None:
        first = self.results[i] is None
        if first:
            self.settled += self.weights[i]
        if self.on_outcome is None:
            self.results[i] = outcome
        elif first:  # handed over once, kept without its value
            self.results[i] = Outcome(outcome.ok, None, outcome.error_kind, outcome.error)
            self.on_outcome(i, outcome)

    def _dispatch(self) -> None:
        for worker in list(self.workers):
            while (
                worker in self.workers
                and self.pending
                and len(worker.assigned) < self.queued * self.chunksize
            ):
                batch: list[tuple[int, bytes]] = []
                while self.pending and len(batch) < self.chunksize:
                    i = self.pending.popleft()
                    try:
                        batch.append((i, pickle.dumps(self.items[i], pickle.HIGHEST_PROTOCOL)))
                    except Exception as exc:
                        self._settle(i, Outcome(False, None, EXCEPTION, f"item cannot be pickled: {exc!r}"))
                if not batch:
                    continue
                worker.assigned.update(i for i, _ in batch)
                try:
                    worker.conn.send(batch)
                except (OSError, ValueError):
                    self._handle_death(worker)  # died: its items go back in the queue

    def _wait_and_collect(self) -> None:
        busy = [w for w in self.workers if w.assigned]
        if not busy:
            return
        timeout = 1.0
        if self.timeout_s is not None:
            now = time.monotonic()
            for w in busy:
                index, started = w.current()
                if index >= 0:
                    timeout = min(timeout, max(0.0, started + self.timeout_s - now) + 0.005)
        handles = {}
        for w in busy:
            handles[w.conn] = w
            handles[w.process.sentinel] = w
        for ready in multiprocessing.connection.wait(list(handles), timeout):
            worker = handles[ready]
            if worker not in self.workers:
                continue  # already handled through its other handle
            if ready is worker.conn:
                try:
                    self._receive(worker, worker.conn.recv())
                except (EOFError, OSError):
                    self._handle_death(worker)
            else:
                self._handle_death(worker)

    def _receive(self, worker: _Worker, results: list[tuple[int, bytes]]) -> None:
        for i, blob in results:
            try:
                outcome = Outcome(*pickle.loads(blob))
            except Exception as exc:
                outcome = Outcome(False, None, EXCEPTION, f"result cannot be unpickled: {exc!r}")
            worker.assigned.discard(i)
            self._settle(i, outcome)
        if results:
            self.barren_deaths = 0

    def _enforce_timeouts(self) -> None:
        if self.timeout_s is None:
            return
        now = time.monotonic()
        for worker in list(self.workers):
            index, started = worker.current()
            if index >= 0 and index in worker.assigned and now - started > self.timeout_s:
                worker.process.kill()
                self._handle_death(worker, overran=index)

    def _handle_death(self, worker: _Worker, overran: int | None = None) -> None:
        worker.reap()
        try:  # results it managed to send before dying
            while worker.conn.poll():
                self._receive(worker, worker.conn.recv())
        except (EOFError, OSError):
            pass
        index, _ = worker.current()
        if index >= 0 and index in worker.assigned and overran in (None, index):
            if overran is None:
                self._settle(index, Outcome(False, None, CRASH, _describe_exit(worker.process.exitcode)))
            else:
                self._settle(
                    index,
                    Outcome(False, None, TIMEOUT, f"no result after {self.timeout_s:g} s; worker killed"),
                )
            worker.assigned.discard(index)
            self.barren_deaths = 0
        elif overran is None:
            self.barren_deaths += 1
            if self.barren_deaths > _MAX_BARREN_DEATHS:
                raise RuntimeError(
                    f"map_isolated: workers keep dying outside any item ({_describe_exit(worker.process.exitcode)})"
                )
        # (killed for a timeout just after that item finished: nobody is blamed, all run again)
        # items finished but unreported, or not started yet, run again in their original order
        self.pending.extendleft(sorted(worker.assigned, reverse=True))
        worker.assigned = set()
        worker.conn.close()
        self.workers.remove(worker)
        if self.pending or any(w.assigned for w in self.workers):
            self.workers.append(_Worker(self.ctx, self.fn, self.memory_mb))


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (killed: often the out-of-memory killer)" if -code == signal.SIGKILL else ""
        return f"worker died from {name}{hint}"
    return f"worker exited with code {code}"


# ---------------------------------------------------------------------------------------------
# Worker side


def _die_with_caller(caller: int) -> None:
    # A worker's parent is the fork server, which exits once no process holds its "alive" pipe:
    # the caller (even SIGKILLed or SIGTERMed without cleanup) and, as CPython hands it to every
    # child, the workers. A worker never starts processes itself (it is a daemon), so it lets go
    # of that pipe and asks to be killed when the server goes; otherwise a worker stuck in a
    # runaway parse would outlive a killed caller forever (Linux only; elsewhere the caller's
    # cleanup has to do). A server inherited from a process that outlives the caller (`fazhi
    # runner`, use_inherited_server) does not go with it: the worker also watches the caller itself.
    _exit_when_gone(caller)
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    alive_fd = getattr(server, "_forkserver_alive_fd", None)
    if server is not None and isinstance(alive_fd, int):
        with contextlib.suppress(OSError):
            os.close(alive_fd)
        server._forkserver_alive_fd = None
    parent = os.getppid()
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _exit_when_gone(pid: int) -> None:
    """End this process as soon as process `pid` has ended (a thread waits on it; Linux only)."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)  # gone already
    except (OSError, AttributeError):
        return

    def wait() -> None:
        select.select([handle], [], [])  # readable once the process has ended
        os._exit(1)

    threading.Thread(target=wait, name="fazhi-caller-watch", daemon=True).start()


def _worker_main(fn, conn, state, memory_mb, caller) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_caller(caller)
    if memory_mb:
        limit = int(memory_mb) * 1024 * 1024
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    dumps, loads, monotonic, protocol = pickle.dumps, pickle.loads, time.monotonic, pickle.HIGHEST_PROTOCOL
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return  # parent gone
        if batch is None:
            return
        out: list[tuple[int, bytes]] = []
        flushed = monotonic()
        for i, item_blob in batch:
            state[1] = monotonic()
            state[0] = i
            try:
                blob = dumps((True, fn(loads(item_blob)), None, None), protocol)
            except BaseException as exc:
                try:
                    blob = dumps((False, None, EXCEPTION, repr(exc)), protocol)
                except BaseException:
                    blob = dumps((False, None, EXCEPTION, type(exc).__name__), protocol)
            out.append((i, blob))
            state[0] = -1.0
            if monotonic() - flushed > _FLUSH_S:
                conn.send(out)
                out, flushed = [], monotonic()
        if out:
            conn.send(out)
