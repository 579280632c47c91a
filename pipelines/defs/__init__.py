"""The Dagster definitions, by concern (pipelines/definitions.py gathers them).

dagster-dbt is loaded here before any of them, as it is when dbt-core is not installed. Here it only
reads the marts' compiled manifest (pipelines/defs/marts.py); dbt itself runs in its own process
(pipelines/lib/dbt_project.py). When dbt-core can be imported, dagster-dbt imports it at once, for
the features that run dbt inside this process, which the project does not use: about 0.9 s of every
command, code server and run worker that loads these definitions. The assets and checks are the
same either way (tests/definitions/test_definitions.py compares them).
"""

import importlib
import importlib.metadata
import sys


def _load_dagster_dbt_without_dbt_core() -> None:
    if "dagster_dbt" in sys.modules or "dbt" in sys.modules:  # loaded already, with dbt-core
        return
    sys.modules["dbt"] = None  # type: ignore[assignment]  # `import dbt…` fails while dagster-dbt loads
    try:
        importlib.import_module("dagster_dbt")
    finally:
        del sys.modules["dbt"]
    # dagster-dbt then lists "dbt-fusion" among the libraries the Dagster UI shows: name the dbt
    # that is installed and runs the project.
    from dagster_shared.libraries import DagsterLibraryRegistry

    DagsterLibraryRegistry._libraries.pop("dbt-fusion", None)
    DagsterLibraryRegistry.register(
        "dbt-core", importlib.metadata.version("dbt-core"), is_dagster_package=False
    )


_load_dagster_dbt_without_dbt_core()
