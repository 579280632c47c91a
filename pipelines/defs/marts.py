"""Marts: the published tables, as dbt models over the staging tables (fazhi_dbt/models).

Each dbt source is the Python asset of the same name; each model is an asset `marts/<name>` (or
`intermediate/<name>`); each dbt data test is an asset check, blocking when its severity is error,
so publication waits for every one of them.
"""

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets

from pipelines.defs.resources import WRITER_POOL, FazhiDbt, FazhiWarehouse
from pipelines.lib.dbt_project import prepared_project
from pipelines.lib.faults import crashpoint

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
def marts(context: dg.AssetExecutionContext, dbt: FazhiDbt, fazhi: FazhiWarehouse):
    paths = fazhi.paths
    # profiles.yml reads the work database's path from here; the target folder beside it keeps dbt's
    # partial-parse state between runs of this work database (and its logs out of the repository).
    os.environ["FAZHI_WORK_DB"] = str(paths.work_db)
    target = paths.work_db.parent / "dbt"
    # The rules' unit tests (given rows → expected rows) test the SQL, not the data: they run in the
    # test suite (tests/models/test_models.py), not in every build.
    build = ["build", "--exclude-resource-type", "unit_test"]
    for event in dbt.cli(build, context=context, target_path=target).stream():
        crashpoint("marts.building")
        yield event


def mart_keys() -> list[dg.AssetKey]:
    """The published tables: every model of the marts folder."""
    return [key for key in marts.keys if key.path[0] == "marts"]
