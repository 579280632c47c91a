"""The warehouse resource: where raw files are, where the marts are published, which rulebook rules."""
from __future__ import annotations

import os
from functools import cached_property

import dagster as dg

from pipelines.lib.rulebook import Rulebook, load_rulebook
from pipelines.lib.warehouse import Paths


class FazhiWarehouse(dg.ConfigurableResource):
    raw_dir: str = ""  # empty: FAZHI_RAW_DIR or data/raw
    warehouse: str = ""  # empty: FAZHI_WAREHOUSE or data/marts/fazhi.duckdb
    rulebook: str = ""  # empty: FAZHI_RULEBOOK or "default"
    parse_workers: int = 2

    @property
    def paths(self) -> Paths:
        return Paths.from_env(self.raw_dir or None, self.warehouse or None)

    @cached_property
    def rules(self) -> Rulebook:
        return load_rulebook(self.rulebook or os.environ.get("FAZHI_RULEBOOK") or "default")
