"""Marts: the published tables, as dbt models over the staging tables (fazhi_dbt/models).

Each dbt source is the Python asset of the same name; each model is an asset `marts/<name>` (or
`intermediate/<name>`); each dbt data test is an asset check, blocking when its severity is error,
so publication waits for every one of them. The tests of the models a step builds run whether or not
their checks are selected (a `fazhi run` selects none: pipelines/cli.py); a failing one fails the step,
so publication never reads a model whose tests did not pass. The step runs the project's compiled SQL in one
transaction (pipelines/lib/marts_build.py), the way `dbt build` runs it without dbt's per-node cost.
"""

from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets
from dagster_dbt.asset_utils import get_asset_check_key_for_test

from pipelines.defs.resources import WRITER_POOL, FazhiWarehouse
from pipelines.lib import marts_build
from pipelines.lib.dbt_project import prepared_project
from pipelines.lib.faults import crashpoint
from pipelines.lib.pipeline import PublicationBlocked
from pipelines.lib.warehouse import WORK_DB_MEMORY_LIMIT

dbt_project = prepared_project()


class Translator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey(dbt_resource_props["name"])  # the Python asset that writes the table
        return dg.AssetKey(
            [dbt_resource_props["fqn"][1], dbt_resource_props["name"]]
        )  # marts/… intermediate/…

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props["fqn"][1]


translator = Translator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_source_tests_as_checks=True)
)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    pool=WRITER_POOL,
    name="marts",
)
def marts(context: dg.AssetExecutionContext, fazhi: FazhiWarehouse) -> Iterator[Any]:
    project, keys, checks = project_keys()
    models = [uid for uid, key in keys.items() if key in context.selected_asset_keys]
    reported = {uid for uid, key in checks.items() if key in context.selected_asset_check_keys}
    building = set(models)
    tests = [t.unique_id for t in project.tests if t.unique_id in reported or _gates(t, building, project)]
    con = marts_build.connect(fazhi.paths.work_db, project, WORK_DB_MEMORY_LIMIT)
    try:
        built = marts_build.build(
            con, project, models, tests, on_model=lambda _m: crashpoint("marts.building")
        )
    finally:
        con.close()
    for uid in models:
        if uid in built.rows:
            yield dg.Output(
                None,
                output_name=keys[uid].to_python_identifier(),
                metadata={
                    "dagster/row_count": built.rows[uid],
                    "unique_id": uid,
                    "seconds": round(built.seconds[uid], 3),
                    "rebuilt": uid not in built.reused,  # kept as built when nothing it reads has changed
                },
            )
    for uid, failures in built.failures.items():
        if uid not in reported:
            continue
        key = checks[uid]
        assert key is not None
        yield dg.AssetCheckResult(
            asset_key=key.asset_key,
            check_name=key.name,
            passed=failures == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            # not run again: it passed on what its models and sources hold now
            metadata={"failures": failures, "unique_id": uid, "ran": uid not in built.passed_before},
        )
    if built.failed:  # as `dbt build` exits non-zero: the run fails and nothing is published
        named = {t.unique_id: t.name for t in project.tests}  # a test of two sources has no check
        failed = sorted(
            f"{k.asset_key.to_user_string()}: {k.name}" if (k := checks[uid]) else named[uid]
            for uid in built.failed
        )
        shown = "；".join(failed[:10]) + ("……" if len(failed) > 10 else "")
        raise PublicationBlocked(f"有阻断性检查未通过，marts 未发布，仍为上次发布的版本：{shown}。")


# The compiled project, each model's asset key and each test's check key (None: a test of two sources).
ProjectKeys = tuple[marts_build.Project, dict[str, dg.AssetKey], dict[str, dg.AssetCheckKey | None]]


def project_keys() -> ProjectKeys:
    """The compiled project, its models' asset keys and its tests' check keys: worked out once per
    process and manifest (the runner's children find them made: 0.03–0.05 s of a served run)."""
    path = dbt_project.manifest_path
    return _project_keys(str(path), path.stat().st_mtime_ns)


@cache
def _project_keys(path: str, _mtime_ns: int) -> ProjectKeys:
    project = marts_build.load_project(Path(path))
    keys = {
        m.unique_id: translator.get_asset_spec(project.manifest, m.unique_id, dbt_project).key
        for m in project.models
    }
    checks = {
        t.unique_id: get_asset_check_key_for_test(project.manifest, translator, t.unique_id, dbt_project)
        for t in project.tests
    }
    return project, keys, checks


def _gates(test: marts_build.DataTest, models: set[str], project: marts_build.Project) -> bool:
    """Whether a test runs though its check was not asked for: it reads a model this step builds, or
    only staging tables. Publication stands on these tests whether or not a run reports them as checks
    (a `fazhi run` does not: its instance keeps no check evaluation, and the step fails on a failing
    test, as `dbt build` exits non-zero)."""
    return any(uid in models for uid in test.depends_on) or all(
        uid in project.sources for uid in test.depends_on
    )


def mart_keys() -> list[dg.AssetKey]:
    """The published tables: every model of the marts folder."""
    return [key for key in marts.keys if key.path[0] == "marts"]
