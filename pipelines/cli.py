"""`fazhi`: run the same asset graph as the Dagster UI, without knowing Dagster (SPEC §9)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _years(text: str | None) -> list[int] | None:
    """'2021-2025', '2023', '2021,2023' → years."""
    if not text:
        return None
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        elif part.strip():
            out.append(int(part))
    return sorted(set(out))


def run_pipeline(raw: str | None, warehouse: str | None, years: list[int] | None, rulebook: str | None = None,
                 workers: int = 2, quiet: bool = False) -> int:
    """Materialize the whole graph in-process for the given years (default: every year found)."""
    import dagster as dg

    from pipelines.defs import ingest
    from pipelines.definitions import defs
    from pipelines.defs.resources import FazhiWarehouse
    from pipelines.lib import pipeline

    resource = FazhiWarehouse(raw_dir=raw or "", warehouse=warehouse or "", rulebook=rulebook or "",
                              parse_workers=workers)
    paths = resource.paths
    started = time.perf_counter()
    instance = dg.DagsterInstance.ephemeral()
    # Dagster's own step log stays out of the clerk's summary; failures are still reported.
    run_config = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    all_assets = list(defs.assets)
    result = dg.materialize([ingest.raw_files], resources={"fazhi": resource}, instance=instance,
                            raise_on_error=False, run_config=run_config)
    if not result.success:
        print("运行失败：读取 data/raw 时出错。", file=sys.stderr)
        return 2
    found = pipeline.years_present(paths)
    years = years or found
    if not years:
        print(f"没有找到任何年度的数据（{paths.raw_dir}）。请先放入文件，或运行 fazhi generate。")
        return 0
    # Build every year, then publish once: the publish step refuses while any year fails its checks.
    from pipelines.defs.marts import published_warehouse

    building = [a for a in all_assets if a not in (ingest.raw_files, published_warehouse)]
    failed = []
    for year in years:
        r = dg.materialize(building, partition_key=str(year), resources={"fazhi": resource},
                           instance=instance, raise_on_error=False, run_config=run_config)
        if not r.success:
            failed.append(year)
    if not failed:
        r = dg.materialize([published_warehouse], partition_key=str(years[-1]), resources={"fazhi": resource},
                           instance=instance, raise_on_error=False, run_config=run_config)
        if not r.success:
            failed.append("publish")
    elapsed = time.perf_counter() - started
    if not quiet:
        _print_summary(paths, years, elapsed, failed)
    return 1 if failed else 0


def _print_summary(paths, years, elapsed, failed) -> None:
    from pipelines.lib import pipeline

    s = pipeline.summary(paths, years)
    print(f"年度：{', '.join(map(str, years))}    用时 {elapsed:.1f} 秒")
    print("文件（状态：个数，读入行，入库行，拒收行）：")
    for status, n, read, loaded, rejected in s["files"]:
        print(f"  {status:<18}{n:>7}{int(read or 0):>10}{int(loaded or 0):>10}{int(rejected or 0):>8}")
    print("问题（级别 代码：条数）：")
    for severity, code, n in s["issues"]:
        print(f"  {severity:<8}{code:<28}{n:>7}")
    if failed:
        print(f"以下年度运行失败或未通过检查，marts 未发布（仍为上次发布的版本）：{', '.join(map(str, failed))}",
              file=sys.stderr)
    else:
        print(f"已发布：{paths.warehouse}")
        print("  查询示例：.venv/bin/python -c \"import duckdb; print(duckdb.connect('"
              f"{paths.warehouse}', read_only=True).sql('select * from marts.region_rankings order by year, rank'))\"")


def _dagster_ui(port: int) -> int:
    """`dagster dev`: the webserver and the daemon (schedule, sensor, run queue) for this project."""
    home = Path(os.environ.get("DAGSTER_HOME") or ROOT / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():  # the repo's dagster.yaml is the instance config
        config.symlink_to(ROOT / "dagster.yaml")
    env = dict(os.environ, DAGSTER_HOME=str(home))
    # The code location runs from DAGSTER_HOME: pin the data paths the office uses, absolute.
    env.setdefault("FAZHI_RAW_DIR", str((ROOT / "data" / "raw").resolve()))
    env.setdefault("FAZHI_WAREHOUSE", str((ROOT / "data" / "marts" / "fazhi.duckdb").resolve()))
    print(f"Dagster 界面：http://127.0.0.1:{port}（实例目录 {home}）")
    return subprocess.call([sys.executable, "-m", "dagster", "dev", "-m", "pipelines.definitions",
                            "-p", str(port), "-h", "127.0.0.1"], env=env, cwd=home)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fazhi", description="法治建设第一责任人履职台账")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="生成模拟的 data/raw 目录（含各种真实的格式问题）")
    g.add_argument("--out", required=True)
    g.add_argument("--scale", choices=["city", "province", "nation"], default="city")
    g.add_argument("--years", default="2021-2025")
    g.add_argument("--seed", type=int, default=0)

    r = sub.add_parser("run", help="读取 data/raw，计算并发布 marts")
    r.add_argument("--raw")
    r.add_argument("--warehouse")
    r.add_argument("--years", help="如 2021-2025 或 2024；默认：数据中出现的所有年度")
    r.add_argument("--rulebook", help="规则目录或名称（默认 default）")
    r.add_argument("--workers", type=int, default=2)

    rc = sub.add_parser("recompute", help="年终重算某一年度（及其下一年度的排名）")
    rc.add_argument("--year", type=int, required=True)
    rc.add_argument("--raw")
    rc.add_argument("--warehouse")
    rc.add_argument("--rulebook")

    d = sub.add_parser("dashboard", help="启动看板（Streamlit）")
    d.add_argument("--warehouse")
    d.add_argument("--port", type=int, default=8501)

    u = sub.add_parser("ui", help="启动 Dagster 界面和守护进程")
    u.add_argument("--port", type=int, default=3000)

    args = parser.parse_args(argv)
    if args.command == "generate":
        from pipelines.lib.generate import format_summary, generate

        summary = generate(Path(args.out), scale=args.scale, years=_years(args.years), seed=args.seed)
        print(f"已生成到 {args.out}：")
        print(format_summary(summary))
        return 0
    if args.command == "run":
        return run_pipeline(args.raw, args.warehouse, _years(args.years), args.rulebook, args.workers)
    if args.command == "recompute":
        # The year's ranking step also refreshes the next year's prev_rank (pipelines/defs/marts.py).
        return run_pipeline(args.raw, args.warehouse, [args.year], args.rulebook)
    if args.command == "dashboard":
        env = dict(os.environ)
        if args.warehouse:
            env["FAZHI_WAREHOUSE"] = str(Path(args.warehouse).resolve())
        app = ROOT / "dashboards" / "streamlit_app.py"
        return subprocess.call([sys.executable, "-m", "streamlit", "run", str(app), "--server.address", "127.0.0.1",
                                "--server.port", str(args.port), "--server.headless", "true",
                                "--client.toolbarMode", "viewer", "--browser.gatherUsageStats", "false"], env=env)
    if args.command == "ui":
        return _dagster_ui(args.port)
    return 2


if __name__ == "__main__":
    sys.exit(main())
