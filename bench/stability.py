"""Benchmark: the rank-stability simulation (pipelines/lib/stability.py, the dbt model
`int_rank_stability`) at the scales of SPEC §8, on synthetic scores shaped like a year's marts.

    .venv/bin/python bench/stability.py [--scale province|nation|both] [--draws 1000]

Per scale: units per role as SPEC §8 (regions: party and government; departments; townships), the
default rulebook's sheets (every task of every unit), one in five units with a verified score that
differs from its self score on two tasks and one in ten with a claim the records contradict; weight
ranges for the roles the default rulebook gives them. Times `rank_stability` in this process and
reports the peak resident memory it added (sampled every 0.05 s). Prints
`RESULT scale=S units=N draws=D seconds=X peak_mb=Y`.
"""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np
import pandas as pd
import psutil

from pipelines.lib.rulebook import load_rulebook
from pipelines.lib.stability import Settings, rank_stability

# regions, departments and townships per scale (SPEC §8: ~3,000 and ~45,000 units)
SCALES = {"province": (150, 600, 1_100), "nation": (2_900, 9_000, 15_600)}


def frames(scale: str, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rules = load_rulebook("default")
    regions, departments, townships = SCALES[scale]
    rng = np.random.default_rng(seed)
    people = [("party", regions), ("government", regions), ("department", departments)]
    people += [("township_party", townships), ("township_government", townships)]
    units, tasks = [], []
    for role, n in people:
        template = rules.templates[role].tasks
        points = np.array([t.points for t in template])
        for i in range(n):
            unit_id = f"{role}-{i}"
            got = np.maximum(points - rng.choice([0, 0, 0, 0.5, 1], size=len(points)), 0)
            verified = got.copy()
            selfs = got.copy()
            if rng.random() < 0.2:
                for k in rng.choice(len(points), size=2, replace=False):
                    selfs[k] = points[k]
            flags: list[str | None] = [None] * len(points)
            if rng.random() < 0.1:
                flags[0] = "evidence_shortfall"
            for t, v, s, f in zip(template, verified, selfs, flags, strict=True):
                tasks.append(
                    {
                        "year": 2024,
                        "unit_id": unit_id,
                        "role": role,
                        "task_no": t.task_no,
                        "duty_no": t.duty_no,
                        "max_points": t.points,
                        "self_points": s,
                        "verified_points": v,
                        "points": v,
                        "flag": f,
                        "evidence_max": 2.0 if f else None,
                        "evidence_points": 1.0 if f else None,
                    }
                )
            score = float(verified.sum())
            units.append(
                {
                    "year": 2024,
                    "unit_id": unit_id,
                    "unit_name": unit_id,
                    "region": f"r{i % regions}",
                    "role": role,
                    "max_score": float(points.sum()),
                    "scaled_score": score,
                    "score": score,
                    "rank_total": n,
                    "prev_rank": None,
                }
            )
    unit_frame = pd.DataFrame(units)
    unit_frame["rank"] = unit_frame.groupby("role")["scaled_score"].rank(method="min", ascending=False)
    region_scores = (
        unit_frame[unit_frame["role"].isin(["party", "government"])].groupby("region")["scaled_score"].mean()
    )
    region_frame = pd.DataFrame(
        {
            "year": 2024,
            "region": region_scores.index,
            "score": region_scores.to_numpy(),
            "rank": region_scores.rank(method="min", ascending=False).to_numpy(),
            "rank_total": len(region_scores),
            "prev_rank": None,
        }
    )
    return unit_frame, pd.DataFrame(tasks), region_frame


def measure(scale: str, draws: int) -> None:
    rules = load_rulebook("default")
    s = rules.stability
    settings = Settings(
        draws=draws,
        seed=s.seed,
        band=s.band,
        distinct_probability=s.distinct_probability,
        self_vs_verified=s.self_vs_verified,
        contradicted_points=s.contradicted_points,
        weight_ranges=s.weight_ranges,
        region_roles=rules.ranking.region_roles,
        require_all_region_roles=rules.ranking.require_all_region_roles,
    )
    units, tasks, regions = frames(scale)
    process = psutil.Process()
    base = process.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    out = rank_stability(units, tasks, regions, settings)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    print(f"{scale}: {len(units)} units, {len(tasks)} task rows, {len(out)} subjects")
    print(
        f"RESULT scale={scale} units={len(units)} draws={draws} seconds={seconds:.2f} "
        f"peak_mb={(peak[0] - base) / 2**20:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", choices=["province", "nation", "both"], default="both")
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    for scale in ("province", "nation") if args.scale == "both" else (args.scale,):
        measure(scale, args.draws)


if __name__ == "__main__":
    main()
