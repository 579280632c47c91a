"""`fazhi`: run the same asset graph as the Dagster UI, without knowing Dagster (SPEC §9)."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import NoReturn

from pipelines.lib import progress
from pipelines.lib.services import supervise

ROOT = Path(__file__).resolve().parent.parent


def _date(text: str) -> date:
    """--as-of: a calendar date written YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日期格式不对：{text}（应为 2026-09-30 这样的年-月-日）") from None


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


# Errors of ours whose message is already a sentence for the person (Chinese, no internals).
_PLAIN_ERRORS = {"InputError", "PublicationBlocked", "RunLocked"}
EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED = 1, 2, 3
EXIT_INTERRUPTED = 130  # as a shell reports a command stopped by Ctrl+C


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _failure(result, paths) -> tuple[int, str]:
    """The exit code and one sentence for a failed Dagster run (wrong arguments or inputs: EXIT_USAGE);
    the full trace goes to a log file beside the work database."""
    events = result.get_step_failure_events() if hasattr(result, "get_step_failure_events") else []
    error = events[0].step_failure_data.error if events and events[0].step_failure_data else None
    while error is not None and error.cls_name not in _PLAIN_ERRORS and error.cause is not None:
        error = error.cause
    if error is not None and error.cls_name in _PLAIN_ERRORS:
        code = EXIT_USAGE if error.cls_name == "InputError" else EXIT_FAILED
        return code, error.message.split(": ", 1)[-1].strip()
    log = paths.work_db.parent / "last_error.log"
    log.write_text(
        "".join(
            e.step_failure_data.error.to_string()
            for e in events
            if e.step_failure_data and e.step_failure_data.error
        ),
        encoding="utf-8",
    )
    step = STEP_LABELS.get(events[0].step_key, events[0].step_key) if events else "运行"
    return (
        EXIT_FAILED,
        f"运行失败（{step}），marts 未发布，仍为上次发布的版本。错误详情已写入 {log}，请转给系统管理员。",
    )


def run_pipeline(
    raw: str | None,
    warehouse: str | None,
    years: list[int] | None,
    rulebook: str | None = None,
    workers: int = 2,
    quiet: bool = False,
    wait_seconds: float = 0,
    timings: bool = False,
    as_of: date | None = None,
) -> int:
    """Materialize the whole graph in-process: every year is rebuilt (figures that compare years read
    them as they are now); `years` are checked to have data and summarised.

    One run at a time: the run lock is held from the first read to the publication. On a terminal,
    unless quiet, the steps are shown as they run (pipelines.lib.progress); `quiet` also leaves out
    the summary. Python's collector does not run meanwhile (pipelines/lib/gc_tuning.py)."""
    from pipelines.lib.gc_tuning import collector_paused

    with collector_paused():
        return _run_pipeline(raw, warehouse, years, rulebook, workers, quiet, wait_seconds, timings, as_of)


def _run_pipeline(
    raw: str | None,
    warehouse: str | None,
    years: list[int] | None,
    rulebook: str | None,
    workers: int,
    quiet: bool,
    wait_seconds: float,
    timings: bool,
    as_of: date | None,
) -> int:
    from pipelines.lib.parse_server import start_parsers

    start_parsers()  # first: the parse workers' imports run beside the command's own, and Dagster's
    from pipelines.lib.ingest import parse_ahead, stop_parsing_ahead
    from pipelines.lib.rulebook import RulebookError, load_rulebook
    from pipelines.lib.runlock import RunLocked, command_line, run_lock
    from pipelines.lib.warehouse import Paths, held

    paths = Paths.from_env(raw, warehouse)
    if not paths.raw_dir.is_dir():
        _say(f"报送文件目录不存在：{paths.raw_dir}。请检查路径（--raw 或 FAZHI_RAW_DIR）。")
        return EXIT_USAGE
    try:
        load_rulebook(rulebook or os.environ.get("FAZHI_RULEBOOK") or "default")
    except RulebookError as exc:
        _say(f"规则无法加载（{rulebook or '默认规则'}）：{exc}")
        return EXIT_USAGE
    started = time.perf_counter()
    try:
        with (
            progress.shown(not quiet),
            run_lock(
                paths.work_db.parent,
                command_line(),
                wait_seconds=wait_seconds,
                on_wait=lambda who: _say(f"另一次运行正在进行，等待其结束：{who}"),
                on_takeover=lambda h: _say(f"上次运行未正常结束（{h.describe()}），本次接管。"),
            ),
            held(paths.work_db),  # its Dagster run, and what is read before it
        ):
            if workers > 1:  # a core to spare: one worker parses while Dagster is imported
                parse_ahead(
                    paths.raw_dir, paths.work_db, importing="pipelines.definitions" not in sys.modules
                )
            try:
                code, years, steps = _run_locked(paths, years, rulebook, workers, wait_seconds, as_of)
            finally:
                stop_parsing_ahead()
    except RunLocked as exc:
        _say(str(exc))
        return EXIT_LOCKED
    if code == 0 and not quiet:
        _print_summary(paths, years, time.perf_counter() - started)
    if timings:
        print("各步骤用时（秒）：")
        for step, seconds in steps:
            print(f"  {step:<28}{seconds:>8.2f}")
    return code


def _run_locked(
    paths,
    years: list[int] | None,
    rulebook: str | None,
    workers: int,
    wait_seconds: float,
    as_of: date | None,
) -> tuple[int, list[int], list[tuple[str, float]]]:
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.defs.resources import FazhiWarehouse
    from pipelines.lib.gc_tuning import collector_for_bulk_rows
    from pipelines.lib.run_instance import ephemeral_instance

    resources = {
        **(defs.resources or {}),
        "fazhi": FazhiWarehouse(
            raw_dir=str(paths.raw_dir),
            warehouse=str(paths.warehouse),
            rulebook=rulebook or "",
            parse_workers=workers,
            lock_wait_seconds=int(wait_seconds),
            as_of=as_of.isoformat() if as_of else "",
            years=years or [],
        ),
    }
    # Imports done: what exists now lives as long as the process (pipelines/lib/gc_tuning.py).
    with collector_for_bulk_rows():
        instance = ephemeral_instance()
        # Dagster's own step log stays out of the clerk's terminal; a failure is told in one sentence.
        run_config = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
        shown = _RunProgress(str(paths.warehouse))
        assets = [a for a in defs.assets or () if isinstance(a, dg.AssetsDefinition)]
        # The marts' dbt tests run in their step, which fails on a failing one; reported as Dagster
        # checks they would be over a thousand events that this instance does not keep (0.25–0.3 s of a
        # corrected file's run: docs/performance.md). One run from the listing to publication: years
        # without data stop it in `unit_registry`, before anything is staged.
        result = _materialize(assets, resources, instance, run_config, shown, checks=False)
        if not result.success:
            code, message = _failure(result, paths)
            _say(message)
            return code, [], []
        return 0, years or shown.years, _step_seconds(instance, result.run_id)


def _materialize(assets, resources, instance, run_config, on_event, checks: bool = True):
    """`dg.materialize`, with each event of the run handed to `on_event` as it happens: the same job
    (`materialize` makes it the same way), given its run id so that a listener can be attached first;
    without the assets' checks unless `checks`."""
    import uuid

    import dagster as dg

    name = "__ephemeral_asset_job__"
    selection = dg.AssetSelection.all() if checks else dg.AssetSelection.all().without_checks()
    job = dg.Definitions(
        jobs=[dg.define_asset_job(name=name, selection=selection)], assets=assets, resources=resources
    ).resolve_job_def(name)
    run_id = str(uuid.uuid4())
    instance.add_event_listener(run_id, on_event)
    return job.execute_in_process(
        run_config=run_config, instance=instance, raise_on_error=False, run_id=run_id
    )


# What a person reads for each step of the run (Dagster's step keys: the assets of pipelines/defs).
STEP_LABELS = {
    "raw_files": "登记报送文件（按内容哈希）",
    "parsed_files": "解析文件",
    "rulebook": "载入规则库",
    "run_context": "确定计算基准日期",
    "unit_registry": "整理单位名册",
    "staging": "整理打分表、台账和登记（按类，各类同时）",
    "marts": "计算并检查 marts（模型与检查）",
    "published_warehouse": "发布",
}


class _RunProgress:
    """The run's Dagster events as lines of the progress display: a line per step, the staged years,
    the marts' models counted as they are reported, where the warehouse is published."""

    def __init__(self, warehouse: str):
        self.warehouse = warehouse
        self.years: list[int] = []

    def label(self, step: str) -> str:
        text = STEP_LABELS.get(step, step)
        if step == "staging" and self.years:
            text += f"：{_years_text(self.years)}"
        if step == "published_warehouse":
            text += f" {self.warehouse}"
        return text

    def __call__(self, entry) -> None:
        event = entry.dagster_event
        if event is None or event.step_key is None:
            return
        kind = event.event_type_value
        if kind == "STEP_START":
            progress.begin(self.label(event.step_key))
            if event.step_key == "marts":
                from pipelines.defs.marts import marts

                progress.expect(len(marts.keys))
        elif kind == "STEP_SUCCESS":
            progress.end()
        elif kind == "STEP_FAILURE":
            progress.end(f"{self.label(event.step_key)}：未完成", ok=False)
        elif event.step_key == "marts" and kind == "ASSET_MATERIALIZATION":
            progress.advance()
        elif event.step_key == "unit_registry" and kind == "ASSET_MATERIALIZATION":
            self.years = list(event.event_specific_data.materialization.metadata["years"].value)


def _years_text(years: list[int]) -> str:
    """2021–2025 年 for consecutive years, else 2021、2023 年."""
    ys = sorted(years)
    if len(ys) > 2 and ys == list(range(ys[0], ys[-1] + 1)):
        return f"{ys[0]}–{ys[-1]} 年"
    return f"{'、'.join(map(str, ys))} 年"


def _step_seconds(instance, run_id: str) -> list[tuple[str, float]]:
    """Each step of a finished run and its wall time, in the order the steps started."""
    started: dict[str, float] = {}
    seconds: list[tuple[str, float]] = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value == "STEP_SUCCESS":
            seconds.append((event.step_key, entry.timestamp - started[event.step_key]))
    return seconds


def _print_summary(paths, years, elapsed) -> None:
    from pipelines.lib import pipeline

    s = pipeline.summary(paths, years)
    print(f"年度：{', '.join(map(str, years))}    用时 {elapsed:.1f} 秒")
    print("文件（状态：个数，读入行，入库行，拒收行）：")
    for status, n, read, loaded, rejected in s["files"]:
        print(f"  {status:<18}{n:>7}{int(read or 0):>10}{int(loaded or 0):>10}{int(rejected or 0):>8}")
    print("问题（级别 代码：条数）：")
    for severity, code, n in s["issues"]:
        print(f"  {severity:<8}{code:<28}{n:>7}")
    print(f"已发布：{paths.warehouse}")
    print(
        "  查询示例：.venv/bin/python -c \"import duckdb; print(duckdb.connect('"
        f"{paths.warehouse}', read_only=True).sql('select * from marts.region_rankings order by year, rank'))\""
    )


def build_docs(warehouse: str | None) -> int:
    """The marts' documentation and lineage as one HTML file an analyst opens offline."""
    import shutil
    import subprocess

    from pipelines.lib.dbt_project import DBT_EXECUTABLE, prepared_project
    from pipelines.lib.runlock import RunLocked, command_line, run_lock
    from pipelines.lib.warehouse import Paths

    paths = Paths.from_env(None, warehouse)
    if not paths.work_db.exists():
        _say(f"还没有工作数据库（{paths.work_db}）：请先运行 fazhi run，文档中的表结构取自它。")
        return EXIT_USAGE
    project = prepared_project()
    target = paths.work_db.parent / "dbt_docs"
    env = {
        **os.environ,
        "FAZHI_WORK_DB": str(paths.work_db),
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(target),
        "DBT_PROFILES_DIR": str(project.project_dir),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    try:
        with run_lock(paths.work_db.parent, command_line()):
            done = subprocess.run(
                [DBT_EXECUTABLE, "docs", "generate", "--static", "--quiet"],
                cwd=project.project_dir,
                env=env,
                capture_output=True,
                text=True,
            )
    except RunLocked as exc:
        _say(str(exc))
        return EXIT_LOCKED
    if done.returncode != 0:
        log = paths.work_db.parent / "last_error.log"
        log.write_text(done.stdout + done.stderr, encoding="utf-8")
        _say(f"文档生成失败，详情已写入 {log}。")
        return EXIT_FAILED
    out = paths.warehouse.parent / "docs" / "marts.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(target / "static_index.html", out)
    print(f"marts 文档与血缘（离线可打开）：{out}")
    return 0


def check_files(
    files: list[str],
    kind: str | None,
    year: int | None,
    raw: str | None,
    warehouse: str | None,
    rulebook: str | None,
    store: bool,
) -> int:
    """`fazhi check`: each file through the ingestion's parsers and staging against the published
    registry and records, as the upload page does; with --store the readable ones go into data/raw.

    Exit codes: 0 every file is readable and every row usable (warnings allowed); 1 a file is refused
    whole, or has rows or units that will not count; 2 wrong arguments (a missing file, no published
    warehouse, an unknown kind, a rulebook that cannot be loaded)."""
    from pipelines.lib import check
    from pipelines.lib.rulebook import RulebookError
    from pipelines.lib.warehouse import Paths

    paths = Paths.from_env(raw, warehouse)
    chosen = None
    if kind:
        chosen = check.kind_from_text(kind)
        if chosen is None:
            names = "、".join(f"{k}（{check.kind_name(k)}）" for k in check.upload_kinds())
            _say(f"没有这个类别：{kind}。可用：{names}。")
            return EXIT_USAGE
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        _say(f"找不到文件：{'、'.join(missing)}。")
        return EXIT_USAGE
    try:
        reference = check.Reference.load(paths.warehouse, rulebook)
    except FileNotFoundError:
        _say(f"还没有已发布的数据（{paths.warehouse}），无法核对单位名册：请先运行 fazhi run。")
        return EXIT_USAGE
    except RulebookError as exc:
        _say(f"规则无法加载（{rulebook or '默认规则'}）：{exc}")
        return EXIT_USAGE
    worst = 0
    for name in files:
        result = check.check_file(Path(name), reference, kind=chosen, year=year)
        print("\n".join(_check_lines(name, result, reference)))
        if result.refused is not None or result.errors or result.rows_rejected:
            worst = 1
        if store:
            problem = result.store_problem()
            if problem is not None:
                print(f"  未存入：{problem}")
                continue
            assert result.kind is not None and result.year is not None
            stored = check.store(
                Path(name).read_bytes(), Path(name).name, paths.raw_dir, result.year, result.kind
            )
            from access import audit
            from access import cli as users_cli

            audit.record(
                "upload",
                users_cli.operator(),
                None,
                file=stored.relative,
                original_name=Path(name).name,
                kind=result.kind,
                year=result.year,
                unit="、".join(u.unit.name for u in result.units if u.unit) or None,
                via="fazhi check --store",
            )
            print(f"  已存入：{stored.path}（运行 fazhi run 后计入）")
    return worst


def _check_lines(name: str, c, reference) -> list[str]:
    """One file's check as the clerk reads it."""
    from pipelines.lib import check

    out = [f"文件：{name}"]
    if c.refused is not None:
        out.append(f"  拒收（{c.refused.code}）：{c.refused.message}")
        return out
    how = "自动识别" if c.kind_detected else "指定"
    out.append(f"  类别：{check.kind_name(c.kind)}（{how}）")
    year_how = {"file": "文件内写明", "given": "指定"}.get(c.year_source or "", "未写明，请用 --year 指定")
    out.append(f"  年度：{c.year if c.year else '—'}（{year_how}）")
    for u in c.units:
        if u.unit is not None:
            rows = f"，{u.rows}行" if u.rows else ""
            out.append(f"  单位：{u.text} → {u.unit.name}（{u.unit.region}，{u.unit.unit_type}{rows}）")
        else:
            out.append(f"  单位：{u.text} → 无法确认：{u.problem or '不在单位名册中'}")
    names = reference.rules.role_names
    if c.roles:
        out.append(f"  角色：{'、'.join(names.get(r, r) for r in c.roles)}")
    out.append(f"  行：读入 {c.rows_read}，可用 {c.rows_usable}，拒收 {c.rows_rejected}")
    for t in c.totals:
        declared = "、".join(
            f"{label}{v:g}分"
            for label, v in (("自评", t.declared_self), ("核定", t.declared_verified))
            if v is not None
        )
        out.append(
            f"  合计（{t.sheet}）：表内合计 {declared or '未填'}；按规则计分 {t.counted:g} 分（满分 {t.max_total:g}）"
        )
    for line in c.contradictions:
        out.append(f"  与记录不符：{line}")
    if c.evidence_note:
        out.append(f"  记录比对：{c.evidence_note}")
    for f in c.replaces:
        out.append(f"  将替代此前报送：{f}（同一单位、角色、年度以最新报送为准）")
    if c.issues:
        out.append(f"  问题（{len(c.issues)}条）：")
        for i in c.issues:
            where = "".join(
                part
                for part in (f"工作表“{i.sheet}”" if i.sheet else "", f"第{i.row}行" if i.row else "")
                if part
            )
            level = "错误" if i.severity == "error" else "提醒"
            out.append(f"    [{level}] {i.code} {where + '：' if where else ''}{i.message}")
    return out


def _dagster_ui(port: int) -> int:
    """The Dagster webserver behind sign-in and the daemon (schedule, sensor, run queue) for this project."""
    from pipelines.lib.ui_server import InstanceConfigError, check_postgres, prepare_instance

    home = Path(os.environ.get("DAGSTER_HOME") or ROOT / ".dagster_home").resolve()
    try:
        # The repo's dagster.yaml is the instance config; with FAZHI_PG_* its storage is PostgreSQL.
        storage = prepare_instance(home, os.environ)
    except InstanceConfigError as exc:
        _say(str(exc))
        return EXIT_USAGE
    unreachable = check_postgres(os.environ)
    if unreachable:
        _say(
            f"{unreachable}。请检查 FAZHI_PG_HOST、FAZHI_PG_PORT、FAZHI_PG_USER、FAZHI_PG_PASSWORD、FAZHI_PG_DB。"
        )
        return EXIT_FAILED
    env = dict(os.environ, DAGSTER_HOME=str(home))
    # The code location runs from DAGSTER_HOME: pin the data paths the office uses, absolute.
    env.setdefault("FAZHI_RAW_DIR", str((ROOT / "data" / "raw").resolve()))
    env.setdefault("FAZHI_WAREHOUSE", str((ROOT / "data" / "marts" / "fazhi.duckdb").resolve()))
    print(
        f"Dagster 界面：http://127.0.0.1:{port}（实例目录 {home}，运行记录存于 {storage.describe()}）；"
        "用有“重新计算”权限的看板账户登录（如法治办工作人员）。"
    )
    # The webserver behind the product's sign-in, with the daemon beside it (pipelines/lib/ui_server.py).
    return supervise(
        [sys.executable, "-m", "pipelines.lib.ui_server", "127.0.0.1", str(port)],
        env=env,
        cwd=home,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fazhi", description="法治建设第一责任人履职台账")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="生成模拟的 data/raw 目录（含各种真实的格式问题）")
    g.add_argument("--out", required=True)
    g.add_argument("--scale", choices=["city", "province", "nation"], default="city")
    g.add_argument("--years", help="如 2021-2025；默认：2021 年至基准日期所在年度")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument(
        "--as-of", type=_date, metavar="YYYY-MM-DD", help="基准日期：当年只生成到此日为止的记录（默认今天）"
    )
    g.add_argument("-q", "--quiet", action="store_true", help="不显示进度和摘要")

    r = sub.add_parser("run", help="读取 data/raw，计算并发布 marts")
    r.add_argument("--raw")
    r.add_argument("--warehouse")
    r.add_argument("--years", help="如 2021-2025 或 2024；默认：数据中出现的所有年度")
    r.add_argument("--rulebook", help="规则目录或名称（默认 default）")
    r.add_argument("--workers", type=int, default=2)
    r.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="另一次运行正在进行时最多等待的秒数（默认不等待，直接说明由谁占用）",
    )
    r.add_argument("--timings", action="store_true", help="最后列出每个步骤的用时")
    r.add_argument(
        "--as-of",
        type=_date,
        metavar="YYYY-MM-DD",
        help="计算基准日期：预警、逾期天数和整改状态按此日计算（默认今天）",
    )
    r.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="不显示进度和摘要，只报告错误（在终端上默认显示进度；输出到管道或文件时从不显示）",
    )

    n = sub.add_parser("notices", help="生成各单位的反馈通知（Word，每单位一份，另附全部单位的 zip）")
    n.add_argument("--year", type=int, required=True)
    n.add_argument("--out", help="输出目录（默认：数据仓库旁的 notices/<年度>/）")
    n.add_argument("--unit", help="只生成这个单位的通知（单位名称、别名或 unit_id）")
    n.add_argument("--warehouse")

    ci = sub.add_parser(
        "circular", help="生成年度通报（Word）：排名、梯队、末位、缺报单位和工作要求，附排名表"
    )
    ci.add_argument("--year", type=int, required=True)
    ci.add_argument("--out", help="输出文件（默认：数据仓库旁的 circulars/<年度>年度…通报.docx）")
    ci.add_argument("--warehouse")
    ci.add_argument(
        "--as-of",
        type=_date,
        metavar="YYYY-MM-DD",
        help="通报落款日期：补报和整改期限由此日起算（默认今天）",
    )

    rc = sub.add_parser("recompute", help="年终重算某一年度（及其下一年度的排名）")
    rc.add_argument("--year", type=int, required=True)
    rc.add_argument("--raw")
    rc.add_argument("--warehouse")
    rc.add_argument("--rulebook")
    rc.add_argument("--wait", type=float, default=0, metavar="SECONDS")

    d = sub.add_parser("dashboard", help="启动看板（Streamlit）")
    d.add_argument("--warehouse")
    d.add_argument("--raw", help="上传页存入报送文件的目录（默认 FAZHI_RAW_DIR 或仓库内 data/raw）")
    d.add_argument("--port", type=int, default=8501)
    d.add_argument(
        "--address",
        default="127.0.0.1",
        help="监听地址（默认 127.0.0.1，只有本机可访问；0.0.0.0 供局域网访问，须有账户，建议放在 HTTPS 反向代理之后）",
    )

    ck = sub.add_parser(
        "check",
        help="检查报送文件（与上传页相同）：类别、单位、年度、可用与拒收行、与记录不符的自评分",
        description="退出码：0 全部可读且每行可用；1 有文件被拒收或有行、单位不能计入；2 参数错误或尚无已发布数据。",
    )
    ck.add_argument("files", nargs="+", metavar="FILE")
    ck.add_argument("--kind", help="类别（默认自动识别）：score_sheet/打分表、meetings/会议台账 等")
    ck.add_argument("--year", type=int, help="年度（默认取文件内写明的年度）")
    ck.add_argument("--raw")
    ck.add_argument("--warehouse")
    ck.add_argument("--rulebook")
    ck.add_argument(
        "--store", action="store_true", help="把可读的文件存入 data/raw/<年度>/<类别>/（不覆盖已有文件）"
    )

    doc = sub.add_parser("docs", help="生成 marts 的文档与血缘图（单个 HTML 文件，离线可打开）")
    doc.add_argument("--warehouse")

    u = sub.add_parser("ui", help="启动 Dagster 界面和守护进程")
    u.add_argument("--port", type=int, default=3000)

    sub.add_parser(
        "runner",
        help="常驻运行进程：本用户的 fazhi run 交由它执行，省去每次约 2 秒的启动（代码更新后自行停止）",
    )

    from access import cli as users_cli

    users_cli.add_parser(sub)

    args = parser.parse_args(argv)
    if args.command == "generate":
        from generator import format_summary, generate

        try:
            with progress.shown(not args.quiet):
                summary = generate(
                    Path(args.out),
                    scale=args.scale,
                    years=_years(args.years),
                    seed=args.seed,
                    as_of=args.as_of,
                )
        except ValueError as exc:  # a year after the as-of date, or a malformed --years
            parser.error(str(exc))
        if not args.quiet:
            print(f"已生成到 {args.out}：")
            print(format_summary(summary))
        return 0
    if args.command == "run":
        try:
            years = _years(args.years)
        except ValueError:
            parser.error(f"--years 格式不对：{args.years}（应为 2024、2021-2025 或 2021,2023）")
        from pipelines.lib import runner

        served = runner.delegate(sys.argv[1:] if argv is None else argv)
        if served is not None:
            return served
        return run_pipeline(
            args.raw,
            args.warehouse,
            years,
            args.rulebook,
            args.workers,
            quiet=args.quiet,
            wait_seconds=args.wait,
            timings=args.timings,
            as_of=args.as_of,
        )
    if args.command == "notices":
        from pipelines.lib.notices import notices_command

        return notices_command(args.warehouse, args.year, args.out, args.unit)
    if args.command == "circular":
        from pipelines.lib.circular import circular_command

        return circular_command(args.warehouse, args.year, args.out, args.as_of)
    if args.command == "recompute":
        # Every year is rebuilt (the next year's comparisons read this one); the year must have data.
        code = run_pipeline(args.raw, args.warehouse, [args.year], args.rulebook, wait_seconds=args.wait)
        from access import audit

        audit.record("recompute", users_cli.operator(), None, year=args.year, exit_code=code)
        return code
    if args.command == "users":
        return users_cli.run(args)
    if args.command == "dashboard":
        from access.accounts import Accounts

        if not any(not a.disabled for a in Accounts().all()):
            _say(
                "还没有可用的登录账户，看板不会启动。请先用 fazhi users add 建立账户"
                "（或 fazhi users demo 建立演示账户）。"
            )
            return EXIT_USAGE
        env = dict(os.environ)
        if args.warehouse:
            env["FAZHI_WAREHOUSE"] = str(Path(args.warehouse).resolve())
        if args.raw:
            env["FAZHI_RAW_DIR"] = str(Path(args.raw).resolve())
        app = ROOT / "dashboards" / "streamlit_app.py"
        # Error details off: a user sees the app's own message, never a traceback or a source path.
        return supervise(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(app),
                "--server.address",
                args.address,
                "--server.port",
                str(args.port),
                "--server.headless",
                "true",
                "--client.toolbarMode",
                "viewer",
                "--client.showErrorDetails",
                "none",
                "--browser.gatherUsageStats",
                "false",
            ],
            env=env,
        )
    if args.command == "docs":
        return build_docs(args.warehouse)
    if args.command == "check":
        return check_files(
            args.files, args.kind, args.year, args.raw, args.warehouse, args.rulebook, args.store
        )
    if args.command == "ui":
        return _dagster_ui(args.port)
    if args.command == "runner":
        from pipelines.lib.runner import serve_command

        return serve_command()
    return 2


def _unforeseen(exc: Exception) -> int:
    import tempfile
    import traceback

    log = Path(tempfile.gettempdir()) / f"fazhi-error-{os.getpid()}.log"
    with contextlib.suppress(OSError):
        log.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    published = "已发布的数据仍是最后一次完整发布的版本"  # publication swaps whole files
    if isinstance(exc, OSError) and exc.filename:
        _say(
            f"无法访问或创建 {exc.filename}：请检查该路径是否存在、是否可以写入。{published}。错误详情：{log}"
        )
    else:
        _say(f"运行未完成：出现了意外错误。{published}。错误详情已写入 {log}，请转给系统管理员。")
    return EXIT_FAILED


def command(argv: list[str] | None = None) -> int:
    """`main`, finished as a process ends: an error no command foresaw becomes a sentence for the
    person (its details a file for an administrator), Ctrl+C a sentence too, other threads are waited
    for, the exit handlers run (logging, temporary directories, the parse workers' server) and the
    output is flushed. What `entry` runs, and a runner's child (pipelines/lib/runner.py)."""
    try:
        code = main(argv)
    except KeyboardInterrupt:
        _say("已中断：本次运行未完成，已发布的数据仍是最后一次完整发布的版本。")
        code = EXIT_INTERRUPTED
    except Exception as exc:
        code = _unforeseen(exc)
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # what the interpreter itself runs at exit
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream: nothing to keep
            stream.flush()
    return code


def entry() -> NoReturn:
    """The `fazhi` command: `command`, then an exit without the interpreter's teardown.

    Tearing down the interpreter after a run takes over a second (measured: 1.4 s at the end of a
    province run, three quarters of it the collector walking again and again the half a million
    objects of Dagster, dbt and pandas that are about to go anyway). `main` itself, which tests call
    in their own process, returns as before."""
    os._exit(command())


if __name__ == "__main__":
    entry()
