"""Benchmark: generating the demo data, in one run: the generator that wrote every .xlsx by hand,
the `generator` package as it ships (XlsxWriter for ledgers and registers, its own small writer for
the bulk of the score sheets), and the package with every .xlsx through XlsxWriter.

    .venv/bin/python bench/generate.py [--repeat 2]

The old generator is `pipelines/lib/generate.py` as git last held it: copied to
bench/_data/generate_old.py and imported from there. Each variant writes the same trees into
bench/_data/gen-<variant>-<scale>: one province-scale year (2024, seed 7, as bench/ingest.py) and
the city demo (2021-2025, seed 1, as `./dev up`). Runs alternate between the variants; the best of
each counts. Then the two .xlsx writers alone on the same 300 score sheets.
Prints files/s by wall clock and by the process's CPU time (the fairer figure on a busy machine:
other processes' load inflates wall time, not CPU time, much) and, last, `RESULT …` with files/s
and ratio = new CPU seconds / old CPU seconds for the package as it ships and for all-XlsxWriter:
a maintained writer may cost up to twice the time (above that, a path keeps hand-written bytes).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import generator
from generator import tree, writers
from generator.sheet_layouts import Formula, SheetData

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "_data"
OLD_PATH = "pipelines/lib/generate.py"
SHIPPED = tree.SHEET_XLSX_WRITER
RUNS = {
    "province": {"scale": "province", "years": [2024], "seed": 7},
    "city": {"scale": "city", "years": range(2021, 2026), "seed": 1},
}


def _comparable(summary: dict) -> tuple[int, dict[str, int]]:
    """Files and planted anomalies of the kinds the old generator wrote (it had no rectification ledgers)."""
    files = sum(n for kind, n in summary["files"].items() if kind != "rectifications")
    if "anomaly_files" not in summary:
        return files, dict(summary["anomalies"])
    kept = Counter(a["code"] for a in summary["anomaly_files"] if "/rectifications/" not in a["file"])
    return files, dict(sorted(kept.items()))


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def load_old(rev: str | None):
    """The old generator module, from git (the last commit that still had it, unless rev is given)."""
    if rev is None:
        rev = _git("rev-list", "-n", "1", "HEAD", "--", OLD_PATH).strip()
        if subprocess.run(
            ["git", "cat-file", "-e", f"{rev}:{OLD_PATH}"], cwd=ROOT, capture_output=True
        ).returncode:
            rev += "^"  # that commit deleted it
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / "generate_old.py"
    path.write_text(_git("show", f"{rev}:{OLD_PATH}"), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("generate_old", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"{path}: not loadable as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module, _git("rev-parse", "--short", rev).strip()


def timed(generate, out: Path, kwargs: dict, sheet_writer: str | None = None) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of this process, summary)."""
    if sheet_writer:
        tree.SHEET_XLSX_WRITER = sheet_writer
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        summary = generate(out, **kwargs)
        return time.perf_counter() - wall, time.process_time() - cpu, summary
    finally:
        tree.SHEET_XLSX_WRITER = SHIPPED


def writer_only(old, n: int = 300) -> tuple[float, float]:
    """Workbooks/s of the old hand-written writer and of XlsxWriter on the same score sheets."""
    rb = old.load_rulebook()
    units = [u for u in old.build_registry("province", 7).units if u.role in rb.templates][:n]
    sheets = []
    for unit in units:
        q = old._quality(7, unit, 2024)
        scores = old._plan_scores(rb.templates[unit.role], q, old._rng(7, 2024, unit.name, "scores"), {})
        sheets.append(
            old._score_sheet(
                unit,
                rb.templates[unit.role],
                rb,
                2024,
                scores,
                set(),
                True,
                old._rng(7, 2024, unit.name, "layout"),
                [],
                set(),
            )
        )
    when = datetime(2025, 1, 10, 9, 30)

    def as_new(sheet) -> SheetData:  # the same cells, with this package's Formula
        rows = [
            [
                (Formula(c[0].expr, c[0].cached), c[1]) if c and isinstance(c[0], old.Formula) else c
                for c in row
            ]
            for row in sheet.rows
        ]
        return SheetData(sheet.name, rows, sheet.merges, sheet.widths, sheet.heights)

    new_sheets = [[as_new(s) for s in book] for book in sheets]
    started = time.perf_counter()
    for book in sheets:
        old.xlsx_bytes(book, when, "Administrator")
    old_rate = len(sheets) / (time.perf_counter() - started)
    started = time.perf_counter()
    for book in new_sheets:
        writers.xlsx_bytes(book, when, "Administrator")
    return old_rate, len(new_sheets) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2, help="runs of each variant per scale (best counts)")
    parser.add_argument(
        "--old-rev", help="git revision holding the old generator (default: the last one that had it)"
    )
    args = parser.parse_args()

    old, rev = load_old(args.old_rev)
    print(f"old: {OLD_PATH} at {rev} (every .xlsx hand-written)")
    print(f"new: generator/ as it ships (score sheets' .xlsx: {SHIPPED}; ledgers and registers: XlsxWriter)")
    print("all_xlsxwriter: generator/ with every .xlsx through XlsxWriter")
    variants = {
        "old": (old.generate, None),
        "new": (generator.generate, SHIPPED),
        "all_xlsxwriter": (generator.generate, "xlsx"),
    }
    results = {}
    for name, kwargs in RUNS.items():
        best = dict.fromkeys(variants, float("inf"))
        best_cpu = dict.fromkeys(variants, float("inf"))
        summaries = {}
        for _ in range(args.repeat):
            for variant, (generate, sheet_writer) in variants.items():
                wall, cpu, summaries[variant] = timed(
                    generate, DATA / f"gen-{variant}-{name}", kwargs, sheet_writer
                )
                best[variant] = min(best[variant], wall)
                best_cpu[variant] = min(best_cpu[variant], cpu)
        files = sum(summaries["old"]["files"].values())
        for variant, summary in summaries.items():  # the same tree, only written differently
            assert _comparable(summary) == _comparable(summaries["old"]), variant
        formats = ", ".join(f"{v:,} {k}" for k, v in sorted(summaries["old"]["files_by_format"].items()))
        results[name] = (files, best_cpu)
        print(f"{name}: {files:,} files ({formats}); best of {args.repeat}, wall clock and CPU time")
        for variant, seconds in best.items():
            cpu = best_cpu[variant]
            print(
                f"  {variant:>14}: wall {seconds:6.2f} s ({files / seconds:4.0f} files/s), "
                f"CPU {cpu:6.2f} s ({files / cpu:4.0f} files/s), {cpu / best_cpu['old']:.2f}x the old CPU time"
            )

    old_rate, new_rate = writer_only(old)
    print(
        f".xlsx writers alone, 300 score sheets (wall clock): hand-written {old_rate:.0f}/s, "
        f"XlsxWriter {new_rate:.0f}/s ({old_rate / new_rate:.1f}x the time)"
    )
    files, best = results["province"]
    _, city = results["city"]
    print(
        f"RESULT scale=province old_files_per_cpu_s={files / best['old']:.0f} "
        f"new_files_per_cpu_s={files / best['new']:.0f} "
        f"all_xlsxwriter_files_per_cpu_s={files / best['all_xlsxwriter']:.0f} ratio={best['new'] / best['old']:.2f} "
        f"all_xlsxwriter_ratio={best['all_xlsxwriter'] / best['old']:.2f} city_ratio={city['new'] / city['old']:.2f} "
        f"city_all_xlsxwriter_ratio={city['all_xlsxwriter'] / city['old']:.2f}"
    )


if __name__ == "__main__":
    main()
