"""Benchmark: staging alone (pipelines/lib/staging/, `pipeline.stage_kinds`) on a published bench year.

    .venv/bin/python bench/staging.py --scale province|nation [--repeat 2]

Copies the work database of `bench/ingest.py --scale S` (bench/_data/run-<scale>/.work/, published by
that bench, which this script runs first when it is missing) to a temporary folder, so that the
bench's own files are never written. Then, `--repeat` times, with the collector as a run has it
(pipelines/lib/gc_tuning.py):
1. each input kind staged on its own in this process (its stager, as `pipeline.stage_kind` calls it,
   without writing the tables);
2. every kind staged and written as the `staging` step does (`pipeline.stage_kinds`, two kinds at a
   time within the memory rule), after the tables' fingerprints are cleared so that nothing is skipped.
Reports seconds per kind and for the step, and this process's peak resident memory (bench/ingest.py's
sampler). Prints `RESULT scale=S step_s=X peak_mb=Y <kind>_s=…` with the medians.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.ingest import DATA, ROOT, TreeMemory
from pipelines.defs.staging import KINDS, kind_deps
from pipelines.lib import pipeline
from pipelines.lib.gc_tuning import collector_for_bulk_rows
from pipelines.lib.rulebook import load_rulebook
from pipelines.lib.staging import units
from pipelines.lib.staging.common import years_present
from pipelines.lib.warehouse import Paths, utc_now, work_connection


def bench_work_db(scale: str) -> Path:
    work_db = DATA / f"run-{scale}" / ".work" / "fazhi_work.duckdb"
    if not work_db.exists():
        command = [str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "bench" / "ingest.py")]
        subprocess.run([*command, "--scale", scale, "--skip-baseline", "--runs", "1"], cwd=ROOT, check=True)
    return work_db


def stage_each_kind(paths: Paths) -> dict[str, float]:
    """Each kind's stager alone, its frames made and dropped."""
    rules = load_rulebook("default")
    seconds = {}
    with work_connection(paths) as con:
        registry = units.load_registry(con)
        years = years_present(con)
        for kind in pipeline.STAGERS:
            started = time.perf_counter()
            pipeline.STAGERS[kind](con, rules, registry, years, utc_now())
            seconds[kind] = time.perf_counter() - started
    return seconds


def stage_all_kinds(paths: Paths) -> float:
    """The `staging` step's work: every kind, two at a time, its tables written."""
    with work_connection(paths) as con:
        for tables, _ in KINDS.values():
            for table in tables:
                con.execute(f"comment on table {table} is ''")  # restage, whatever they were made from
    started = time.perf_counter()
    pipeline.stage_kinds(
        paths,
        load_rulebook("default"),
        {kind: (tables, kind_deps(kind)) for kind, (tables, _) in KINDS.items()},
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", choices=["province", "nation"], default="province")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    source = bench_work_db(args.scale)
    with tempfile.TemporaryDirectory(prefix="fazhi-bench-staging-") as tmp:
        paths = Paths(Path(tmp) / "raw", Path(tmp) / "fazhi.duckdb")  # staging reads no raw file
        paths.work_db.parent.mkdir(parents=True)
        shutil.copy(source, paths.work_db)
        print(f"scale={args.scale} work database {source.stat().st_size / 2**20:.0f} MB, copied", flush=True)
        kinds: dict[str, list[float]] = {kind: [] for kind in pipeline.STAGERS}
        steps: list[float] = []
        memory = TreeMemory(os.getpid())  # this process: staging starts none
        with collector_for_bulk_rows():
            for round_no in range(1, args.repeat + 1):
                for kind, seconds in stage_each_kind(paths).items():
                    kinds[kind].append(seconds)
                steps.append(stage_all_kinds(paths))
                print(
                    f"round {round_no}: "
                    + " ".join(f"{kind}={values[-1]:.2f}" for kind, values in kinds.items())
                    + f" step={steps[-1]:.2f} s",
                    flush=True,
                )
        peak = memory.stop() // 2**20
    print(
        f"RESULT scale={args.scale} step_s={statistics.median(steps):.2f} peak_mb={peak} "
        + " ".join(f"{kind}_s={statistics.median(values):.2f}" for kind, values in kinds.items())
    )


if __name__ == "__main__":
    main()
