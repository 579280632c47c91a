"""`fazhi dashboard` and `fazhi ui` stop as a whole: a stop signal to the `fazhi` process (what a service
manager or Ctrl+C sends) stops every process it started and frees the port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

FAZHI = Path(sys.executable).parent / "fazhi"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    """The server answers HTTP (the Dagster UI answers 401 until signed in: an answer all the same)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except urllib.error.HTTPError as error:
        return error.code == 401
    except OSError:
        return False


def _port_free(port: int) -> bool:
    """Nothing listens, and a new server could bind it (as servers do, past closed connections' TIME_WAIT)."""
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize(
    ("command", "ready", "within", "sig"),
    [
        ("dashboard", "/_stcore/health", 60, signal.SIGTERM),
        ("dashboard", "/_stcore/health", 60, signal.SIGINT),
        ("ui", "/server_info", 180, signal.SIGTERM),
    ],
)
def test_a_stop_signal_to_fazhi_stops_every_process_it_started(tmp_path, command, ready, within, sig):
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "FAZHI_RAW_DIR": str(tmp_path / "raw"),
        "FAZHI_WAREHOUSE": str(tmp_path / "marts" / "fazhi.duckdb"),
    }
    (tmp_path / "raw").mkdir()
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        # Not in a session of its own: the signal goes to the `fazhi` process alone, as `kill PID` does.
        proc = subprocess.Popen(
            [str(FAZHI), command, "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    family: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + within
        while not _answers(f"http://127.0.0.1:{port}{ready}"):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        family = psutil.Process(proc.pid).children(recursive=True)
        assert family, "the server runs in processes of its own"
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 0
        _gone, alive = psutil.wait_procs(family, timeout=10)
        assert alive == [], f"left running: {[p.cmdline() for p in alive]}"
        assert _port_free(port)
    finally:
        # Only what `fazhi` started: this test process's own children (multiprocessing's resource
        # tracker, the parse workers' server) belong to the tests that run after it.
        if proc.poll() is None:
            family = psutil.Process(proc.pid).children(recursive=True)
            proc.kill()
        for p in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
