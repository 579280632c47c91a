"""The dbt project of the marts (fazhi_dbt/): its compiled manifest, made offline when missing or stale.

`@dbt_assets` reads `target/manifest.json` when the code location loads, and the marts step runs the
compiled SQL it holds (pipelines/lib/marts_build.py). A fresh clone has none, and an edited model
makes it stale: it is then made here with `dbt compile` of the models and data tests (no network, no
packages; the unit tests are compiled by `dbt test` when they run, as they need the models' tables).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from pipelines.lib.schema import DBT_DIR

DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))  # the venv's, activated or not
_SOURCES = ("models", "macros", "tests")


def _stale(project: DbtProject) -> bool:
    manifest = project.manifest_path
    if not manifest.exists() or not (project.project_dir / "target" / "compiled").is_dir():
        return True
    built = manifest.stat().st_mtime_ns
    files = [p for sub in _SOURCES for p in (project.project_dir / sub).rglob("*") if p.is_file()]
    files += [project.project_dir / "dbt_project.yml", project.project_dir / "profiles.yml"]
    return any(p.stat().st_mtime_ns > built for p in files)


def prepared_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)
    if not _stale(project):
        return project
    (DBT_DIR / "target").mkdir(exist_ok=True)
    # Several processes may load the code location at once (test workers, the webserver and the
    # daemon): one parses, the others wait for its manifest.
    with open(DBT_DIR / "target" / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _stale(project):
            return project
        done = subprocess.run(
            [DBT_EXECUTABLE, "compile", "--quiet", "--select", "resource_type:model resource_type:test"],
            cwd=DBT_DIR,
            capture_output=True,
            text=True,
            # the compiled SQL names the profile's default database, not the work database of the moment
            env={k: v for k, v in os.environ.items() if k != "FAZHI_WORK_DB"}
            | {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_PROFILES_DIR": str(DBT_DIR)},
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"dbt compile failed in {DBT_DIR}:\n{done.stdout[-4000:]}{done.stderr[-4000:]}"
            )
    return project
