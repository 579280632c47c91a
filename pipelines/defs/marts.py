"""Marts: the published tables, as dbt models over the staging tables (fazhi_dbt/models).

Each dbt source is the Python asset of the same name; each model is an asset `marts/<name>` (or
`intermediate/<name>`); each dbt data test is an asset check, blocking when its severity is error,
so publication waits for every one of them. The step runs the project's compiled SQL in one
transaction (pipelines/lib/marts_build.py), the way `dbt build` runs it without dbt's per-node cost.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets
from dagster_dbt.asset_utils import get_asset_check_key_for_test

from pipelines.defs.resources import WRITER_POOL, FazhiWarehouse
from pipelines.lib import marts_build
from pipelines.lib.dbt_project import prepared_project
from pipelines.lib.faults import crashpoint
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
    project = marts_build.load_project(dbt_project.manifest_path)
    keys = {
        m.unique_id: translator.get_asset_spec(project.manifest, m.unique_id, dbt_project).key
        for m in project.models
    }
    checks = {
        t.unique_id: get_asset_check_key_for_test(project.manifest, translator, t.unique_id, dbt_project)
        for t in project.tests
    }
    models = [uid for uid, key in keys.items() if key in context.selected_asset_keys]
    tests = [uid for uid, key in checks.items() if key in context.selected_asset_check_keys]
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
        raise dg.Failure(
            description=f"{len(built.failed)} 项数据检查未通过：{'、'.join(checks[uid].name for uid in built.failed)}"  # type: ignore[union-attr]
        )


def mart_keys() -> list[dg.AssetKey]:
    """The published tables: every model of the marts folder."""
    return [key for key in marts.keys if key.path[0] == "marts"]
