"""The Dagster instance of `fazhi ui` on PostgreSQL (pipelines/lib/ui_server.py `prepare_instance`):
DAGSTER_HOME/dagster.yaml is the repository's file, linked, unless FAZHI_PG_* are set; then it is that
file plus a `storage: postgres:` block read from those variables, and run history, event log and
sensor state live in a real PostgreSQL server started here from Debian's packages."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import yaml
from builders import city_units, write_score_sheet, write_units
from conftest import basic_auth, serving
from sessions import PASSWORD, user_of

from pipelines.lib.ui_server import (
    GENERATED,
    REPO_CONFIG,
    InstanceConfigError,
    check_postgres,
    prepare_instance,
)

FAZHI = Path(sys.executable).parent / "fazhi"
CLERK = basic_auth(user_of("clerk"), PASSWORD)
PG_PASSWORD = "s3cret:@/pw"  # characters a connection URL must escape


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        pytest.fail(
            "The PostgreSQL server is not installed: run the test set-up (./dev test installs Debian's "
            "postgresql); this test must not be skipped."
        )
    return Path(found[-1]).parent


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    """A private PostgreSQL cluster on a free loopback port, password required; as root the server
    runs as the `postgres` system user (PostgreSQL refuses to run as root). Yields FAZHI_PG_*."""
    bin_dir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="fazhi-pg-"))
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    pwfile = root / "pwfile"
    pwfile.write_text(PG_PASSWORD + "\n")
    if as_root:
        owner = pwd.getpwnam("postgres")
        for path in (root, pwfile):
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def pg(*args: str) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{args[0]}: {done.stdout}{done.stderr}"

    port = _free_port()
    data = root / "data"
    pg(str(bin_dir / "initdb"), "-D", str(data), "-U", "fazhi", f"--pwfile={pwfile}", "--auth=scram-sha-256")
    pg(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(root / "server.log"),
        "-w",
        "-t",
        "60",
        "-o",
        f"-p {port} -h 127.0.0.1 -k {root} -c fsync=off -c full_page_writes=off",
        "start",
    )
    try:
        con = psycopg2.connect(
            host="127.0.0.1", port=port, user="fazhi", password=PG_PASSWORD, dbname="postgres"
        )
        con.autocommit = True
        con.cursor().execute("create database dagster")
        con.close()
        yield {
            "FAZHI_PG_HOST": "127.0.0.1",
            "FAZHI_PG_PORT": str(port),
            "FAZHI_PG_USER": "fazhi",
            "FAZHI_PG_PASSWORD": PG_PASSWORD,
            "FAZHI_PG_DB": "dagster",
        }
    finally:
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(root, ignore_errors=True)


def _query(settings: dict[str, str], sql: str, params: tuple = ()) -> list[tuple]:
    con = psycopg2.connect(
        host=settings["FAZHI_PG_HOST"],
        port=int(settings["FAZHI_PG_PORT"]),
        user=settings["FAZHI_PG_USER"],
        password=settings["FAZHI_PG_PASSWORD"],
        dbname=settings["FAZHI_PG_DB"],
    )
    try:
        with con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        con.close()


SETTINGS = {"FAZHI_PG_HOST": "db.example", "FAZHI_PG_USER": "dagster", "FAZHI_PG_DB": "fazhi"}


def test_without_postgres_settings_the_instance_is_the_repository_file_linked(tmp_path):
    home = tmp_path / "home"
    storage = prepare_instance(home, {})
    assert not storage.postgres and (home / "dagster.yaml").resolve() == REPO_CONFIG

    # A file written for PostgreSQL earlier goes back to the link once the settings are gone …
    prepare_instance(home, {**SETTINGS, "FAZHI_PG_PASSWORD": "secret"})
    assert not (home / "dagster.yaml").is_symlink()
    prepare_instance(home, {})
    assert (home / "dagster.yaml").is_symlink() and (home / "dagster.yaml").resolve() == REPO_CONFIG

    # … and an operator's own dagster.yaml is never touched, nor replaced for PostgreSQL.
    own = tmp_path / "own"
    own.mkdir()
    (own / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    prepare_instance(own, {})
    assert (own / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
    with pytest.raises(InstanceConfigError, match="另行编写"):
        prepare_instance(own, SETTINGS)
    assert (own / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


def test_with_postgres_settings_the_instance_reads_them_from_the_environment(tmp_path):
    home = tmp_path / "home"
    storage = prepare_instance(home, {**SETTINGS, "FAZHI_PG_PASSWORD": "secret"})
    assert storage.postgres and storage.describe() == "PostgreSQL dagster@db.example:5432/fazhi"
    text = (home / "dagster.yaml").read_text()
    assert text.startswith(GENERATED) and "secret" not in text and "db.example" not in text
    config = yaml.safe_load(text)
    assert config["storage"] == {
        "postgres": {
            "postgres_db": {
                "hostname": {"env": "FAZHI_PG_HOST"},
                "port": {"env": "FAZHI_PG_PORT"},
                "username": {"env": "FAZHI_PG_USER"},
                "password": {"env": "FAZHI_PG_PASSWORD"},
                "db_name": {"env": "FAZHI_PG_DB"},
                "scheme": "postgresql+psycopg2",
            }
        }
    }
    # everything else is the repository's file: the run queue and the work database's pool
    assert {k: v for k, v in config.items() if k != "storage"} == yaml.safe_load(REPO_CONFIG.read_text())

    with pytest.raises(InstanceConfigError, match="FAZHI_PG_USER、FAZHI_PG_DB"):
        prepare_instance(home, {"FAZHI_PG_HOST": "db.example"})
    with pytest.raises(InstanceConfigError, match="端口"):
        prepare_instance(home, {**SETTINGS, "FAZHI_PG_PORT": "five"})


def test_the_instance_keeps_its_runs_in_postgres(tmp_path, postgres, monkeypatch):
    """The file prepare_instance writes is a Dagster instance on PostgreSQL: a run lands in `runs`,
    nothing in SQLite under DAGSTER_HOME."""
    home = tmp_path / "home"
    prepare_instance(home, postgres)
    for name, value in postgres.items():
        monkeypatch.setenv(name, value)

    @dg.asset
    def probe() -> int:
        return 1

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        run_id = dg.materialize([probe], instance=instance).run_id
    assert _query(postgres, "select status from runs where run_id = %s", (run_id,)) == [("SUCCESS",)]
    assert not (home / "history").exists() and not (home / "schedules").exists()


def test_fazhi_ui_refuses_to_start_on_a_postgres_it_cannot_reach(tmp_path, postgres):
    env = {**os.environ, **postgres, "DAGSTER_HOME": str(tmp_path / "home"), "FAZHI_PG_PASSWORD": "wrong"}
    assert check_postgres(env) is not None
    done = subprocess.run(
        [str(FAZHI), "ui", "--port", str(_free_port())], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "无法连接 PostgreSQL" in done.stderr and "wrong" not in done.stderr


def _graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json", **CLERK},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


@pytest.mark.slow
def test_fazhi_ui_on_postgres_runs_the_sensor_and_keeps_the_history_there(tmp_path, postgres):
    """`fazhi ui` for real with FAZHI_PG_*: a score sheet dropped into data/raw is seen by the sensor,
    run by the daemon and published; the run, its tags and the sensor's ticks are rows in PostgreSQL."""
    raw, path, home = tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb", tmp_path / "dagster_home"
    write_units(raw, city_units(["清丰县", "南乐县"]))
    env = {
        **os.environ,
        **postgres,
        "DAGSTER_HOME": str(home),
        "FAZHI_RAW_DIR": str(raw),
        "FAZHI_WAREHOUSE": str(path),
    }
    log = tmp_path / "ui.log"
    with serving([str(FAZHI), "ui"], "/server_info", log, within=180, env=env, headers=CLERK) as url:
        assert "运行记录存于 PostgreSQL fazhi@127.0.0.1" in log.read_text()
        write_score_sheet(raw, 2024, "清丰县", "party")  # the office drops a sheet into data/raw
        deadline = time.monotonic() + 300
        while not path.exists():
            assert time.monotonic() < deadline, (
                "no published marts from a sensor run:\n" + log.read_text()[-3000:]
            )
            time.sleep(1)
        runs: list = []
        while not runs:  # the run's success is recorded just after its last step publishes
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            runs = [
                r
                for r in _graphql(url, "{ runsOrError { ... on Runs { results { runId status } } } }")[
                    "runsOrError"
                ]["results"]
                if r["status"] == "SUCCESS"
            ]
            time.sleep(0.5)

    stored = _query(postgres, "select run_id, pipeline_name, status from runs")
    assert (runs[0]["runId"], "refresh", "SUCCESS") in stored
    run_id = runs[0]["runId"]
    tags = dict(_query(postgres, "select key, value from run_tags where run_id = %s", (run_id,)))
    assert tags["fazhi/trigger"] == "raw_files_sensor" and tags["fazhi/years"] == "2024"
    assert _query(postgres, "select count(*) from job_ticks")[0][0] >= 1  # the sensor's ticks
    assert _query(postgres, "select count(*) from event_logs where run_id = %s", (run_id,))[0][0] > 0
    assert not (home / "history").exists()  # no SQLite run storage under DAGSTER_HOME
