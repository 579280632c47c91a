"""A run sets Python's collector for bulk rows (pipelines/lib/gc_tuning.py) and gives the settings back."""

from __future__ import annotations

import gc

from builders import city_units, write_score_sheet, write_units
from conftest import run_fazhi

from pipelines.lib.gc_tuning import BULK_THRESHOLDS, collector_for_bulk_rows


def test_within_the_objects_before_are_frozen_and_collections_are_fewer_then_all_is_given_back():
    before = gc.get_threshold(), gc.get_freeze_count()
    with collector_for_bulk_rows():
        assert gc.get_threshold() == BULK_THRESHOLDS
        assert gc.get_freeze_count() > before[1]
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_a_run_collects_with_the_imports_frozen_and_leaves_the_process_as_it_was(tmp_path):
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县"]))
    write_score_sheet(raw, 2024, "清丰县", "party")
    write_score_sheet(raw, 2024, "清丰县", "government")
    before = gc.get_threshold(), gc.get_freeze_count()
    frozen_during: list[int] = []

    def watch(phase: str, _info: dict) -> None:
        if phase == "start":
            frozen_during.append(gc.get_freeze_count())

    gc.callbacks.append(watch)
    try:
        run_fazhi(raw, tmp_path / "marts" / "fazhi.duckdb")
    finally:
        gc.callbacks.remove(watch)
    assert frozen_during and max(frozen_during) > before[1], "the run's collections saw nothing frozen"
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
