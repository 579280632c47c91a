"""The Dagster code location as a reviewer sees it: every asset with its dependencies and checks, the
jobs, schedules and sensors. A changed dependency shows in the snapshot's diff.

To accept a deliberate change: FAZHI_UPDATE_SNAPSHOTS=1 ./dev test -k definitions, and review the diff.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from pipelines.definitions import defs
from pipelines.lib.schema import source_tables

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.txt"


def describe() -> str:
    graph = defs.resolve_asset_graph()
    lines = []
    for node in sorted(graph.asset_nodes, key=lambda n: n.key.to_user_string()):
        lines.append(f"asset {node.key.to_user_string()}  [group {node.group_name}]")
        for dep in sorted(p.to_user_string() for p in node.parent_keys):
            lines.append(f"  reads {dep}")
        for check in sorted(graph.get_check_spec(k) for k in node.check_keys):
            lines.append(f"  check {check.name}{'  (blocking)' if check.blocking else ''}")
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if not job.name.startswith("__"):
            lines.append(f"job {job.name}")
    for schedule in defs.schedules or ():
        lines.append(
            f"schedule {schedule.name}: {schedule.job_name} at {schedule.cron_schedule} "
            f"({schedule.execution_timezone})"
        )
    for sensor in defs.sensors or ():
        lines.append(f"sensor {sensor.name}: {sensor.job_name}")
    return "\n".join(lines) + "\n"


def test_definitions_match_the_snapshot():
    now = describe()
    if os.environ.get("FAZHI_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(now, encoding="utf-8")
    assert now == SNAPSHOT.read_text(encoding="utf-8"), "definitions changed: review and update the snapshot"


def test_every_table_has_one_owner_and_every_read_is_declared():
    """Each table the Python assets write is one asset; each dbt source is that asset; every mart is
    downstream of the staging it reads and upstream of publication."""
    graph = defs.resolve_asset_graph()
    keys = {n.key.to_user_string() for n in graph.asset_nodes}
    assert set(source_tables()) <= keys
    owners: dict[str, str] = {}
    for assets in defs.assets:
        for key in assets.keys:
            assert key.to_user_string() not in owners
            owners[key.to_user_string()] = assets.node_def.name
    publish = graph.get(dg.AssetKey("published_warehouse"))
    marts = {k for k in keys if k.startswith("marts/")}
    assert marts and marts <= {p.to_user_string() for p in publish.parent_keys}
    unit_scores = graph.get(dg.AssetKey(["marts", "unit_scores"]))
    assert unit_scores.parent_keys, "a mart reads declared upstream tables"
    assert not graph.get(dg.AssetKey("raw_files")).parent_keys
    assert not graph.get(dg.AssetKey("rulebook_info")).parent_keys


_DESCRIBE_MARTS = """
import json, re, sys
if sys.argv[1] == "with-dbt-core":
    import dbt.version  # noqa: F401  (dagster-dbt then takes the path that uses dbt-core)
from pipelines.defs.marts import marts
loaded = sorted(m for m in sys.modules if m == "dbt" or m.startswith("dbt."))
specs = [
    [s.key.to_user_string(), sorted(d.asset_key.to_user_string() for d in s.deps), s.group_name,
     s.description, sorted(s.tags.items()), sorted(s.kinds), repr(s.owners), s.code_version,
     {k: re.sub(" at 0x[0-9a-f]+", "", repr(v)) for k, v in sorted(s.metadata.items())}]
    for s in sorted(marts.specs, key=lambda s: s.key.to_user_string())
]
checks = [
    [str(c.key), c.description, c.blocking, repr(c.metadata), sorted(map(str, c.additional_deps or ()))]
    for c in sorted(marts.check_specs, key=lambda c: str(c.key))
]
print(json.dumps({"dbt_modules": loaded, "specs": specs, "checks": checks}, default=str))
"""


def _marts_described(mode: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _DESCRIBE_MARTS, mode], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_the_marts_load_without_dbt_core_and_are_the_same_as_with_it():
    """pipelines/defs/__init__.py: dagster-dbt reads the manifest without importing dbt-core (about 0.9 s
    of every process that loads the definitions), and every mart and check is declared exactly as when
    dagster-dbt uses dbt-core."""
    alone = _marts_described("as-loaded")
    with_core = _marts_described("with-dbt-core")
    assert alone["dbt_modules"] == []
    assert with_core["dbt_modules"]
    assert len(alone["specs"]) >= 30 and len(alone["checks"]) > 200
    assert alone["specs"] == with_core["specs"]
    assert alone["checks"] == with_core["checks"]


def test_the_dagster_ui_names_the_installed_dbt_core():
    from dagster_shared.libraries import DagsterLibraryRegistry

    libraries = DagsterLibraryRegistry.get()
    assert libraries["dbt-core"] == importlib.metadata.version("dbt-core")
    assert "dbt-fusion" not in libraries
