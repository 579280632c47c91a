"""Benchmark: a corrected file live — from the change in data/raw to the new published warehouse.

    .venv/bin/python bench/correction.py --scale province
    .venv/bin/python bench/correction.py --scale nation

On one generated year (bench/_data/<scale>-2024-seed7, made by bench/ingest.py when missing), in a
tree of hard links (the generated files are never changed) under bench/_data/correction-<scale>/:
1. `fazhi run` publishes the year (a full build, timed for reference);
2. `fazhi run` again on unchanged files: timed, and no staging table may have been written again;
3. one score sheet is corrected (one task's score lowered by one point, saved by openpyxl as an
   office suite would), then `fazhi run`: timed from the moment the file is written to the new
   warehouse served (the moment its file was renamed into place: the file's status-change time, to
   the kernel clock's tick) and, `…_exit`, to the process's exit (what a run does after the swap, such
   as writing the work database's checkpoint, delays no reader); only the score sheets may have been
   restaged;
4. separately, one meeting ledger is corrected (a meeting added), then `fazhi run`, timed likewise;
   steps 2–4 run first with every `fazhi run` in its own process (FAZHI_RUNNER=off), then again
   with `fazhi runner` up (pipelines/lib/runner.py), each run served by it (the same two files
   corrected once more), `--rounds` times: this machine's speed drifts by a third within an hour, and
   one round says little;
5. a full rebuild of the same files in a fresh work database: every published table must equal the
   corrected warehouse's, table by table (the bench stops if one differs).
`fazhi run` is the path a clerk takes after dropping the file (the sensor requests the same job).
Prints, last, `RESULT scale=… full_s=… rerun_s=… sheet_s=… sheet_exit_s=… ledger_s=… ledger_exit_s=…
warm_rerun_s=… warm_sheet_s=… warm_sheet_exit_s=… warm_ledger_s=… warm_ledger_exit_s=… equal=yes`, the
served figures the median of the rounds (each round's printed above, and their range on the line
before).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import openpyxl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.ingest import DATA, FAZHI, RUNNER, YEAR, ensure_data, started_runner, warm_page_cache
from pipelines.lib.warehouse import table_differences

STAGING_FILES = {
    "score_sheets": "stg_score_sheet_files",
    "meetings": "stg_meeting_files",
    "filings": "stg_filing_files",
    "normative_docs": "stg_normative_doc_files",
    "rectifications": "stg_rectification_files",
    "other_files": "stg_other_files",
}


def fazhi_run(raw: Path, warehouse: Path, runner: bool = False) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [FAZHI, "run", "--raw", str(raw), "--warehouse", str(warehouse), "--timings", "--quiet"],
        capture_output=True,
        text=True,
        env=dict(os.environ, FAZHI_RUNNER=RUNNER if runner else "off"),
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout, done.stderr)
        raise SystemExit(f"fazhi run failed with exit code {done.returncode}")
    return seconds, done.stdout


def staged_stamps(warehouse: Path) -> dict[str, str]:
    """Each staging kind's fingerprint (its files table's comment): what it was last made from."""
    work = warehouse.parent / ".work" / f"{warehouse.stem}_work.duckdb"
    with duckdb.connect(str(work), read_only=True) as con:
        return {
            kind: con.execute(
                "select comment || ' ' || (select coalesce(max(loaded_at)::varchar, '') from "
                f"{table}) from duckdb_tables() where table_name = ?",
                [table],
            ).fetchone()[0]  # type: ignore[index]
            for kind, table in STAGING_FILES.items()
        }


def loaded_file(warehouse: Path, kind: str, suffix: str) -> str:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute(
            "select file from marts.submissions where kind = ? and status = 'loaded' and year = ? "
            "and rows_rejected = 0 and file like ? order by file limit 1",
            [kind, YEAR, f"%{suffix}"],
        ).fetchone()
    if row is None:
        raise SystemExit(f"no loaded {kind} file ending in {suffix}")
    return str(row[0])


def correct_score_sheet(path: Path) -> str:
    """Lower the first task scored above zero by one point, in place of the file (not the link)."""
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    score_col = None
    for row in ws.iter_rows():
        for cell in row:
            if score_col is None and cell.value in ("得分", "自评分", "自评得分"):
                score_col = cell.column
            elif cell.column == score_col and isinstance(cell.value, int | float) and cell.value >= 1:
                cell.value = cell.value - 1
                path.unlink()
                wb.save(path)
                return f"{path.name}: {ws.title}!{cell.coordinate} −1"
    raise SystemExit(f"no score to correct in {path}")


def correct_ledger(path: Path) -> str:
    """Add one meeting (the last row again, on another topic), in the file's own encoding."""
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    rows = list(csv.reader(io.StringIO(text)))
    extra = list(rows[-1])
    extra[3 if len(extra) > 3 else -1] = "补报：学习新修订的行政复议法"
    out = io.StringIO()
    csv.writer(out).writerows([*rows, extra])
    path.unlink()
    path.write_bytes(out.getvalue().encode(encoding))
    return f"{path.name}: +1 row ({encoding})"


def corrections(raw: Path, warehouse: Path, runner: bool) -> dict[str, float]:
    """A re-run on unchanged files, then one score sheet and one meeting ledger corrected, each
    followed by `fazhi run` (in its own process, or served by the runner): seconds of each."""
    how = "served by the runner" if runner else "each its own process"
    before = staged_stamps(warehouse)
    rerun, out = fazhi_run(raw, warehouse, runner)
    assert staged_stamps(warehouse) == before, "a re-run on unchanged files staged again"
    print(f"re-run, nothing changed ({how}): {rerun:.2f} s (no kind restaged)\n{out.strip()}")
    timings = {"rerun": rerun}
    for label, kind, suffix, correct, restaged in (
        ("sheet", "score_sheet", ".xlsx", correct_score_sheet, "score_sheets"),
        ("ledger", "meetings", ".csv", correct_ledger, "meetings"),
    ):
        target = raw / loaded_file(warehouse, kind, suffix)
        served = warehouse.stat().st_ino
        stamps = staged_stamps(warehouse)
        started, started_at = time.perf_counter(), time.time_ns()
        what = correct(target)
        _, out = fazhi_run(raw, warehouse, runner)
        exited = time.perf_counter() - started
        swapped = warehouse.stat()
        assert swapped.st_ino != served, "nothing was published"
        published = (swapped.st_ctime_ns - started_at) / 1e9
        now = staged_stamps(warehouse)
        assert [k for k in now if now[k] != stamps[k]] == [restaged], (stamps, now)
        timings[label], timings[f"{label}_exit"] = published, exited
        print(
            f"corrected {what} → published in {published:.2f} s, the run ended at {exited:.2f} s "
            f"({how}; restaged: {restaged})\n{out.strip()}"
        )
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", choices=["city", "province", "nation"], default="province")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds served by the runner; the median is reported"
    )
    args = parser.parse_args()
    source = ensure_data(args.scale, args.seed)
    root = DATA / f"correction-{args.scale}"
    shutil.rmtree(root, ignore_errors=True)
    raw = root / "raw"
    shutil.copytree(source, raw, copy_function=os.link)  # hard links: a corrected file is a new inode
    warehouse = root / "marts" / "fazhi.duckdb"
    files = sum(1 for p in raw.rglob("*") if p.is_file())
    print(f"scale={args.scale} year={YEAR} files={files} cores={os.cpu_count()}")

    warm_page_cache(raw)
    full, _ = fazhi_run(raw, warehouse)
    print(f"full build: {full:.2f} s")
    timings = corrections(raw, warehouse, runner=False)
    with started_runner() as served:
        rounds = [corrections(raw, warehouse, runner=True) for _ in range(args.rounds)]
        assert served() == 3 * args.rounds, "a run was not served by the runner"
    for label in rounds[0]:
        seconds = sorted(r[label] for r in rounds)
        timings[f"warm_{label}"] = statistics.median(seconds)
        print(f"served {label}, {args.rounds} rounds: " + ", ".join(f"{s:.2f}" for s in seconds) + " s")

    fresh = root / "fresh" / "fazhi.duckdb"
    rebuild, _ = fazhi_run(raw, fresh)
    # restatements are the served file's own history of what changed; a fresh build has none
    differences = table_differences(warehouse, fresh, where={"restatements": "false"})
    print(f"full rebuild of the same files: {rebuild:.2f} s; tables that differ: {differences or 'none'}")
    if differences:
        raise SystemExit("the corrected warehouse differs from a full rebuild")
    figures = " ".join(f"{label}_s={seconds:.2f}" for label, seconds in timings.items())
    print(f"RESULT scale={args.scale} full_s={full:.2f} {figures} equal=yes")


if __name__ == "__main__":
    main()
