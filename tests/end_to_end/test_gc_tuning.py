"""A run sets Python's collector for bulk rows (pipelines/lib/gc_tuning.py) and gives the settings back."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap

from builders import city_units, write_score_sheet, write_units
from conftest import run_fazhi

from pipelines.lib.gc_tuning import collector_for_bulk_rows


def test_within_the_objects_before_are_frozen_and_nothing_is_collected_then_all_is_given_back():
    before = gc.isenabled(), gc.get_freeze_count()
    assert before[0], "the test process collects as usual"
    with collector_for_bulk_rows():
        assert not gc.isenabled()
        assert gc.get_freeze_count() > before[1]
    assert (gc.isenabled(), gc.get_freeze_count()) == before


def test_a_run_collects_nothing_and_leaves_the_process_as_it_was(tmp_path):
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县"]))
    write_score_sheet(raw, 2024, "清丰县", "party")
    write_score_sheet(raw, 2024, "清丰县", "government")
    before = gc.isenabled(), gc.get_freeze_count()
    frozen_at_collections: list[int] = []  # the objects frozen when each collection started

    def watch(phase: str, _info: dict) -> None:
        if phase == "start":
            frozen_at_collections.append(gc.get_freeze_count())

    gc.callbacks.append(watch)
    try:
        run_fazhi(raw, tmp_path / "marts" / "fazhi.duckdb")
    finally:
        gc.callbacks.remove(watch)
    # Collections while the imports were still being made are expected; once the run had frozen them,
    # none (with the collector on, a run's objects would have set it off hundreds of times).
    during = [n for n in frozen_at_collections if n > before[1]]
    assert during == [], f"the collector ran {len(during)} times during the run"
    assert (gc.isenabled(), gc.get_freeze_count()) == before


def test_a_run_in_a_new_process_collects_nothing_from_its_start(tmp_path):
    # `fazhi run` imports Dagster, dbt and pandas as it starts: collecting while they are imported
    # walked hundreds of thousands of objects that all stay (0.3–0.45 s of each run's start). The run is
    # made in a new interpreter, as the command makes it, with the collections counted from its start.
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县"]))
    write_score_sheet(raw, 2024, "清丰县", "party")
    script = textwrap.dedent(
        f"""
        import gc
        from pipelines.cli import run_pipeline
        collections, given_back, enable = [], [], gc.enable
        gc.callbacks.append(lambda phase, _: phase == "start" and not given_back and collections.append(1))
        gc.enable = lambda: (given_back.append(1), enable())  # the run ends: collecting is expected after
        code = run_pipeline({str(raw)!r}, {str(tmp_path / "marts" / "fazhi.duckdb")!r}, None, quiet=True)
        print(code, len(collections), gc.isenabled())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, FAZHI_RUNNER="off"),
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    code, collections, enabled = out.stdout.split()[-3:]
    assert code == "0"
    assert collections == "0", f"the collector ran {collections} times during the run"
    assert enabled == "True", "the collector is on again once the run is over"
