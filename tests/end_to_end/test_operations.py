"""Operations (SPEC §6): the new-file sensor, the January schedule, the year-end recomputation,
restatements, removed files, and publication that survives kill -9 and readers."""

from __future__ import annotations

import datetime
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from builders import city_units, losing, write_score_sheet, write_units
from conftest import basic_auth, generate_city, run_fazhi, serving
from sessions import PASSWORD, user_of

from pipelines.definitions import defs
from pipelines.defs.resources import FazhiWarehouse
from pipelines.defs.schedules import year_end_schedule
from pipelines.defs.sensors import raw_files_sensor

FAZHI = Path(sys.executable).parent / "fazhi"
REGIONS = ["清丰县", "南乐县", "范县"]


def _tick(raw: Path, cursor: str | None):
    """One sensor evaluation: the years whose content changed (what its run request is for)."""
    with dg.build_sensor_context(
        cursor=cursor, resources={"fazhi": FazhiWarehouse(raw_dir=str(raw))}
    ) as context:
        result = raw_files_sensor(context)
    requests = result.run_requests or []
    assert len(requests) <= 1  # one run rebuilds every year
    years = requests[0].tags["fazhi/years"].split(",") if requests else []
    return years, result.cursor, result


def test_sensor_runs_only_the_years_whose_content_changed(tmp_path):
    raw = tmp_path / "raw"
    write_units(raw, city_units(REGIONS))
    a2023 = write_score_sheet(raw, 2023, "清丰县", "party")
    write_score_sheet(raw, 2024, "清丰县", "party")

    years, cursor, _ = _tick(raw, None)
    assert years == ["2023", "2024"]  # first look: every year with files

    years, cursor, result = _tick(raw, cursor)
    assert years == [] and result.skip_reason is not None  # nothing changed, nothing hashed anew

    new = write_score_sheet(raw, 2024, "范县", "party")
    years, cursor, _ = _tick(raw, cursor)
    assert years == ["2024"]  # a new file: its year only

    new.rename(new.with_name("范县党委_更名.xlsx"))
    years, cursor, _ = _tick(raw, cursor)
    assert years == []  # same bytes under a new name: no run

    shutil.copy(a2023, tmp_path / "keep.xlsx")
    write_score_sheet(raw, 2023, "清丰县", "party", losing("party", 7))  # corrected in place
    old = datetime.datetime(2020, 1, 1).timestamp()
    os.utime(a2023, (old, old))  # …with an old mtime: still seen
    years, cursor, _ = _tick(raw, cursor)
    assert years == ["2023"]

    a2023.unlink()
    years, cursor, _ = _tick(raw, cursor)
    assert years == ["2023"]  # removed: its data must leave 2023

    write_units(raw, city_units([*REGIONS, "台前县"]))  # the registry belongs to every year
    years, cursor, _ = _tick(raw, cursor)
    assert years == ["2024"]  # 2023 has no files left; the registry change affects each year with data


def test_sensor_ignores_a_file_copied_twice_and_hashes_only_what_moved(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    write_units(raw, city_units(REGIONS))
    sheet = write_score_sheet(raw, 2024, "清丰县", "party")
    _, cursor, _ = _tick(raw, None)
    shutil.copy(sheet, sheet.with_name("副本.xlsx"))
    from pipelines.lib import watch

    hashed = []
    real = watch.file_sha256
    monkeypatch.setattr(watch, "file_sha256", lambda p: hashed.append(p.name) or real(p))
    years, cursor, _ = _tick(raw, cursor)
    assert years == [] and hashed == ["副本.xlsx"]  # the unchanged files were not read again


def test_year_end_schedule_recomputes_the_year_just_ended():
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime.datetime(
            2027, 1, 4, 2, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=8))
        )
    )
    request = year_end_schedule(context)
    assert request.tags["fazhi/year"] == "2026" and request.run_key == "year_end_20270104"
    assert (
        year_end_schedule.cron_schedule == "0 2 * 1 1"
        and year_end_schedule.execution_timezone == "Asia/Shanghai"
    )
    assert year_end_schedule.job_name == "refresh"


def _three_years(raw: Path) -> None:
    write_units(raw, city_units(REGIONS))
    for year, lost in (
        (2023, {"清丰县": 10, "南乐县": 5, "范县": 0}),
        (2024, {"清丰县": 0, "南乐县": 5, "范县": 10}),
        (2025, {"清丰县": 0, "南乐县": 5, "范县": 10}),
    ):
        for region, n in lost.items():
            for role in ("party", "government"):
                write_score_sheet(raw, year, region, role, losing(role, n))


@pytest.mark.slow  # what the next year compares with stays in the default suite (test_after_recomputing_…)
def test_recompute_restates_the_year_and_what_the_next_year_compares_with(tmp_path, monkeypatch):
    # Until the graph was rebuilt over all years, this test pinned that a recomputation rebuilt only
    # year Y and Y+1's rankings: Y+1's unit prev_score/prev_rank then kept the old figures. Now the
    # job rebuilds every year, and Y+1's comparisons always read Y as it is.
    raw, path = tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb"
    _three_years(raw)
    wh = run_fazhi(raw, path)
    before = wh.df(
        "select year, region, rank, prev_rank, score from marts.region_rankings order by year, rank"
    )
    assert before.query("year == 2024").set_index("region")["rank"].to_dict() == {
        "清丰县": 1,
        "南乐县": 2,
        "范县": 3,
    }
    published_before = wh.df("select published_at from marts.publication")["published_at"].item()

    # A corrected 2024 sheet arrives: 清丰县's party committee lost 20 points, not 0.
    write_score_sheet(raw, 2024, "清丰县", "party", losing("party", 20))
    monkeypatch.setenv("FAZHI_RAW_DIR", str(raw))
    monkeypatch.setenv("FAZHI_WAREHOUSE", str(path))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("refresh").execute_in_process(instance=instance)
        assert result.success

    after = wh.df(
        "select year, region, rank, prev_rank, score from marts.region_rankings order by year, rank"
    )
    r2024 = after.query("year == 2024").set_index("region")
    # 清丰县 (80 + 100) / 2 = 90 ties 范县's 90 behind 南乐县's 95.
    assert r2024.loc["清丰县", "score"] == 90.0 and r2024["rank"].to_dict() == {
        "南乐县": 1,
        "清丰县": 2,
        "范县": 2,
    }
    assert after.query("year == 2025").set_index("region")["prev_rank"].to_dict() == {
        "清丰县": 2,
        "南乐县": 1,
        "范县": 2,
    }
    assert after.query("year == 2023").equals(before.query("year == 2023"))

    rs = wh.df("select * from marts.restatements order by scope, subject_id, measure")
    region = rs[rs["scope"] == "region"].set_index(["subject_id", "measure"])
    assert (region.loc[("清丰县", "score"), "old_value"], region.loc[("清丰县", "score"), "new_value"]) == (
        100.0,
        90.0,
    )
    assert (region.loc[("清丰县", "rank"), "old_value"], region.loc[("清丰县", "rank"), "new_value"]) == (
        1,
        2,
    )
    assert (region.loc[("南乐县", "rank"), "old_value"], region.loc[("南乐县", "rank"), "new_value"]) == (
        2,
        1,
    )
    assert "更正：2024/score_sheets/清丰县_party_2024.xlsx" in region.loc[("清丰县", "score"), "reason"]
    assert region.loc[("南乐县", "rank"), "reason"].startswith("本单位文件未变")  # moved because 清丰县 fell
    assert set(rs["year"]) == {2024}
    assert (rs["previously_published_at"] == published_before).all()
    unit = rs[(rs["scope"] == "unit") & (rs["measure"] == "score")]
    assert list(unit["subject"]) == ["中共清丰县委员会"] and unit["reason"].item().startswith("更正：")

    # History is kept: an unchanged re-run adds nothing and loses nothing.
    assert run_fazhi(raw, path).df("select count(*) as n from marts.restatements")["n"].item() == len(rs)


def test_after_recomputing_a_year_the_next_years_comparisons_read_it_as_it_now_is(tmp_path):
    """Defect: a corrected 2023 sheet and `fazhi recompute --year 2023` left 2024's prev_score and
    prev_rank (units and regions) at the old 2023 figures."""
    raw, path = tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb"
    _three_years(raw)
    run_fazhi(raw, path)
    write_score_sheet(raw, 2023, "范县", "party", losing("party", 19))  # 范县 2023: 100 → 81 (party)
    done = subprocess.run(
        [str(FAZHI), "recompute", "--year", "2023", "--raw", str(raw), "--warehouse", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    from conftest import Warehouse

    wh = Warehouse(raw, path)
    units = wh.df("""select s.year, u.unit_name, s.score, s.rank, s.prev_score, s.prev_rank
                     from marts.unit_scores s join marts.units u using (unit_id, role)
                     where s.role = 'party' order by s.year, u.unit_name""").set_index(["year", "unit_name"])
    for name in units.loc[2024].index:
        assert units.loc[(2024, name), "prev_score"] == units.loc[(2023, name), "score"]
        assert units.loc[(2024, name), "prev_rank"] == units.loc[(2023, name), "rank"]
    assert units.loc[(2023, "中共范县委员会"), "score"] == 81.0
    regions = wh.df(
        "select year, region, score, rank, prev_score, prev_rank, rank_change, score_change "
        "from marts.region_rankings order by year, region"
    ).set_index(["year", "region"])
    for region in REGIONS:
        this, last = regions.loc[(2024, region)], regions.loc[(2023, region)]
        assert (this["prev_score"], this["prev_rank"]) == (last["score"], last["rank"])
        assert this["rank_change"] == last["rank"] - this["rank"]
        assert this["score_change"] == this["score"] - last["score"]


def test_a_sheet_counts_in_the_year_written_inside_it_whatever_folder_the_sensor_saw(tmp_path):
    """Defect: a late 2023 sheet (年度：2023) dropped into data/raw/2024/ made the sensor run 2024 only,
    and 2023 kept the unit as missing. The sensor's run now rebuilds every year."""
    raw, path = tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb"
    write_units(raw, city_units(REGIONS))
    for year in (2023, 2024):
        for region in REGIONS:
            for role in ("party", "government"):
                if (year, region, role) != (2023, "范县", "party"):
                    write_score_sheet(raw, year, region, role)
    run_fazhi(raw, path)
    _, cursor, _ = _tick(raw, None)
    write_score_sheet(raw, 2023, "范县", "party", losing("party", 4), file_year=2024)  # in the 2024 folder
    years, cursor, result = _tick(raw, cursor)
    assert years == ["2024"]  # what the sensor can see: the folder
    request = result.run_requests[0]
    resources = {"fazhi": FazhiWarehouse(raw_dir=str(raw), warehouse=str(path))}
    with dg.instance_for_test() as instance:
        run = defs.resolve_job_def(raw_files_sensor.job_name).execute_in_process(
            instance=instance, tags=request.tags, resources=resources
        )
        assert run.success
    from conftest import Warehouse

    row = Warehouse(raw, path).one("""select s.status, s.score, s.source_file from marts.unit_scores s
                                      join marts.units u using (unit_id, role)
                                      where s.year = 2023 and u.unit_name = '中共范县委员会'""")
    assert row == ("scored", 96.0, "2024/score_sheets/范县_party_2023.xlsx")


@pytest.mark.slow  # two full runs; the slow suite
def test_a_removed_file_leaves_the_marts_with_an_issue_saying_so(tmp_path):
    raw, path = tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb"
    _three_years(raw)
    run_fazhi(raw, path)
    gone = raw / "2025" / "score_sheets" / "范县_government_2025.xlsx"
    gone.unlink()
    wh = run_fazhi(raw, path, years=[2025])
    unit = wh.df("""select status, score from marts.unit_scores s join marts.units u using (unit_id)
                    where s.year = 2025 and u.unit_name = '范县人民政府'""")
    assert unit["status"].item() == "missing" and unit["score"].isna().all()
    issue = wh.df("select * from marts.ingest_issues where code = 'file_removed'")
    assert list(issue["file"]) == ["2025/score_sheets/范县_government_2025.xlsx"] and list(issue["year"]) == [
        2025
    ]
    assert "已从 data/raw 中移除" in issue["message"].item()
    assert "2025/score_sheets/范县_government_2025.xlsx" not in set(
        wh.df("select file from marts.submissions")["file"]
    )
    # Renaming a file is not a removal.
    kept = raw / "2025" / "score_sheets" / "范县_party_2025.xlsx"
    kept.rename(kept.with_name("范县党委2025.xlsx"))
    wh = run_fazhi(raw, path, years=[2025])
    assert wh.df("select count(*) as n from marts.ingest_issues where code = 'file_removed'")["n"].item() == 1


def _published_at(path: Path):
    from pipelines.lib.warehouse import read_only

    with read_only(path) as con:
        return con.execute("select published_at, source_files from marts.publication").fetchone()


def _written(work_db: Path) -> tuple[int, ...]:
    """When the work database and its write-ahead log were last written: a run holds the database
    open (pipelines.lib.warehouse.held), so its commits go to the log until a checkpoint."""
    log = work_db.with_name(f"{work_db.name}.wal")
    return tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in (work_db, log))


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    root = tmp_path_factory.mktemp("ops")
    raw, path = root / "raw", root / "marts" / "fazhi.duckdb"
    generate_city(raw, "2023-2024", seed=5)
    return raw, path


# Slow suite: kills on a city tree at moments found by watching the files; every run of the default
# suite kills at a crash point of each layer instead (test_crash_consistency.py).
@pytest.mark.slow
@pytest.mark.parametrize("when", ["mid_build", "mid_publish"])
def test_kill_9_leaves_the_last_marts_served_and_the_next_run_succeeds(city, when):
    raw, path = city
    run = [str(FAZHI), "run", "--raw", str(raw), "--warehouse", str(path)]
    if not path.exists():
        assert subprocess.run(run, capture_output=True, timeout=600).returncode == 0
    served = _published_at(path)
    work_db = path.parent / ".work" / f"{path.stem}_work.duckdb"
    # mid build: a run with work to do (another rulebook: every kind staged, every mart made again);
    # a re-run on unchanged files can publish within half a second of its first write
    killed = [*run, "--rulebook", "lushan"] if when == "mid_build" else run
    proc = subprocess.Popen(killed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        if when == "mid_build":  # the run has begun writing the work database (its file or its log)
            start = _written(work_db)
            while _written(work_db) == start and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.5)
        else:  # the new warehouse file is being written beside the served one
            while (
                not list(path.parent.glob(f".{path.name}.*.tmp"))
                and proc.poll() is None
                and time.monotonic() < deadline
            ):
                time.sleep(0.002)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _published_at(path) == served  # the last publication, intact and readable
    done = subprocess.run(run, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _published_at(path)[0] > served[0]
    assert not list(path.parent.glob(f".{path.name}.*.tmp"))  # the killed run's half file is gone


def test_the_dashboard_reads_while_the_marts_are_published(city):
    from dashboards import data
    from pipelines.lib.warehouse import Paths, publish

    raw, path = city
    if not path.exists():
        run_fazhi(raw, path)
    os.environ["FAZHI_WAREHOUSE"] = str(path)
    seen, errors, stop = set(), [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                frame = data._read(
                    """select p.published_at, count(*) as n from marts.publication p,
                                      marts.region_rankings group by all""",
                    {},
                )
                seen.add(frame["published_at"].item())
                assert frame["n"].item() > 0
            except Exception as error:
                errors.append(repr(error))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(5):
            publish(Paths.from_env(raw, path), 1)
    finally:
        stop.set()
        reader.join()
        os.environ.pop("FAZHI_WAREHOUSE", None)
    assert errors == []
    assert len(seen) >= 2, "the reader never saw a new publication"


def test_one_writer_at_a_time_across_runs():
    """Every step that writes the work database is in one Dagster pool, limited to 1 by dagster.yaml."""
    import yaml

    from pipelines.defs.ingest import WRITER_POOL

    graph = defs.resolve_asset_graph()
    pools = {node.key.to_user_string(): node.pools for node in graph.asset_nodes}
    assert pools and all(p == {WRITER_POOL} for p in pools.values()), pools
    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "dagster.yaml").read_text())
    assert config["concurrency"]["pools"]["default_limit"] == 1


CLERK = basic_auth(user_of("clerk"), PASSWORD)  # a role holding `recompute`, the UI's capability
LAUNCH = """mutation { launchRun(executionParams: {selector: {repositoryLocationName: "fazhi",
    repositoryName: "__repository__", jobName: "refresh"}, runConfigData: {}}) { __typename } }"""


def _graphql(url: str, query: str, headers: dict[str, str] = CLERK) -> dict:
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json", **headers},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


def _refused(request) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _the_ui_is_behind_sign_in_and_refuses_forged_requests(url: str, access_dir: Path) -> None:
    import json
    import urllib.parse
    import urllib.request

    get_launch = f"{url}/graphql?" + urllib.parse.urlencode({"query": LAUNCH})
    post = {"data": json.dumps({"query": LAUNCH}).encode(), "method": "POST"}
    evil = {"Origin": "http://evil.example", "Content-Type": "application/json"}
    leader = basic_auth(user_of("leader"), PASSWORD)  # signed in, but without the capability
    assert _refused(urllib.request.Request(f"{url}/server_info")) == 401
    assert _refused(urllib.request.Request(f"{url}/server_info", headers=leader)) == 401
    assert _refused(urllib.request.Request(get_launch, headers=CLERK)) == 403  # a mutation sent as GET
    assert _refused(urllib.request.Request(get_launch, headers=evil)) == 403
    assert _refused(urllib.request.Request(f"{url}/graphql", headers={**CLERK, **evil}, **post)) == 403
    assert _refused(urllib.request.Request(f"{url}/graphql", headers=evil, **post)) == 403
    assert _graphql(url, "{ version }") is not None  # the UI's own requests go through
    # a run launched from the UI is in the audit trail with who launched it (here a job that does not
    # exist, so nothing runs: the attempt is what is recorded)
    _graphql(url, LAUNCH.replace('"refresh"', '"no_such_job"'))
    entries = [json.loads(line) for line in (access_dir / "audit.jsonl").read_text().splitlines()]
    assert any(
        e["event"] == "recompute" and e["user"] == user_of("clerk") and e.get("via") == "dagster_ui"
        for e in entries
    )


@pytest.mark.slow  # the sensor's run through fazhi run is in the default suite; ui + daemon in the slow one
def test_fazhi_ui_serves_the_project_and_its_daemon_runs_the_sensor(tmp_path, access_dir):
    """`fazhi ui` for real: webserver and daemon on a git-ignored DAGSTER_HOME; a file in data/raw is
    picked up by the sensor, run by the daemon, and published."""
    raw, path, home = tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb", tmp_path / "dagster_home"
    write_units(raw, city_units(REGIONS))
    write_score_sheet(raw, 2024, "清丰县", "party")
    env = {**os.environ, "DAGSTER_HOME": str(home), "FAZHI_RAW_DIR": str(raw), "FAZHI_WAREHOUSE": str(path)}
    log = tmp_path / "ui.log"
    deadline = time.monotonic() + 180
    with serving([str(FAZHI), "ui"], "/server_info", log, within=180, env=env, headers=CLERK) as url:
        _the_ui_is_behind_sign_in_and_refuses_forged_requests(url, access_dir)
        repo = _graphql(
            url,
            """{ repositoriesOrError { ... on RepositoryConnection { nodes {
            jobs { name } sensors { name sensorState { status } } schedules { name scheduleState { status } } } } } }""",
        )
        node = repo["repositoriesOrError"]["nodes"][0]
        assert "refresh" in {j["name"] for j in node["jobs"]}
        assert [(s["name"], s["sensorState"]["status"]) for s in node["sensors"]] == [
            ("raw_files_sensor", "RUNNING")
        ]
        assert [(s["name"], s["scheduleState"]["status"]) for s in node["schedules"]] == [
            ("year_end_schedule", "RUNNING")
        ]
        assert (home / "dagster.yaml").resolve() == (Path(__file__).resolve().parents[2] / "dagster.yaml")

        runs = []
        while not path.exists() or not runs:  # the sensor's first look sees 2024 and requests a run
            assert time.monotonic() < deadline, (
                "no published marts from a sensor run:\n" + log.read_text()[-3000:]
            )
            time.sleep(1)
            runs = _graphql(
                url,
                """{ runsOrError { ... on Runs { results { status
                tags { key value } } } } }""",
            )["runsOrError"]["results"]
            runs = [r for r in runs if r["status"] == "SUCCESS"]
        tags = {t["key"]: t["value"] for t in runs[0]["tags"]}
        assert tags["fazhi/years"] == "2024" and tags["fazhi/trigger"] == "raw_files_sensor"
        assert _published_at(path)[1] == 2  # the registry and the one sheet
