"""The scoring policy, in one place: which score of a task row counts, and what a blank, invalid,
above-maximum or missing score is worth. It reads the rulebook's score basis and the template."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.lib.records import ERROR, WARNING
from pipelines.lib.rulebook import Task
from pipelines.lib.score_sheets import says_not_applicable

COLUMN_NAMES = {"self": "自评分", "verified": "核定分"}


@dataclass
class TaskScore:
    self_points: float | None
    verified_points: float | None
    points: float | None  # what counts; None when the task does not apply (it leaves the denominator)
    score_source: str | None  # self | verified; None for a task missing from the sheet
    flag: str | None  # blank_score | invalid_score | missing_task | not_applicable
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (severity, code, message)


def score_task(task: Task, row, basis: str) -> TaskScore:
    """A task row as the parser read it (self_raw/self_points, verified_raw/verified_points,
    max_points_text), scored under `basis` (verified_else_self | self | verified)."""
    problems = []
    if row.max_points_text is not None and abs(row.max_points_text - task.points) > 1e-9:
        problems.append(
            (
                WARNING,
                "max_points_mismatch",
                f"第{task.task_no}项任务表中分值为{row.max_points_text:g}分，模板为{task.points:g}分，按模板计。",
            )
        )
    values: dict[str, float | None] = {}
    above_max = set()
    for kind, column in COLUMN_NAMES.items():
        v = getattr(row, f"{kind}_points")
        if v is not None and v > task.points + 1e-9:  # the template's maximum is the limit
            problems.append(
                (
                    ERROR,
                    "score_above_max",
                    f"第{task.task_no}项任务{column}“{getattr(row, f'{kind}_raw')}”超过该项满分"
                    f"{task.points:g}分，按0分计。",
                )
            )
            v = 0.0
            above_max.add(kind)
        values[kind] = v
    filled = {"self": bool(row.self_raw), "verified": bool(row.verified_raw)}
    use = {"self": "self", "verified": "verified"}.get(basis) or (
        "verified" if filled["verified"] else "self"
    )
    points = values[use]
    # a score read as a number is not a word such as 不适用 (the check costs more than the scoring)
    if points is None and says_not_applicable(getattr(row, f"{use}_raw")):
        return not_applicable_task(task, use, values, problems)
    flag = None
    if not filled[use]:
        flag = "blank_score"  # counted as 0 (the parser warned score_blank)
    elif points is None or use in above_max:
        flag = "invalid_score"  # not a number, negative, or above the task's max: 0 points
    return TaskScore(values["self"], values["verified"], points or 0.0, use, flag, problems)


def missing_task(task: Task) -> TaskScore:
    """A template task the sheet does not have: 0 points, and the unit is told which."""
    return TaskScore(
        None,
        None,
        0.0,
        None,
        "missing_task",
        [
            (
                ERROR,
                "task_missing",
                f"打分表缺少第{task.task_no}项任务（{task.text[:20]}…，{task.points:g}分），该项按0分计。",
            )
        ],
    )


def not_applicable_task(
    task: Task,
    written_by: str | None = None,
    values: dict[str, float | None] | None = None,
    problems: list[tuple[str, str, str]] | None = None,
) -> TaskScore:
    """A task that does not apply (不适用): no points and out of the unit's denominator. The rulebook may
    say so (`written_by` None: nothing to confirm), or the sheet may (the office is asked to confirm)."""
    problems = list(problems or ())
    if written_by is not None:
        problems.append(
            (
                WARNING,
                "task_not_applicable",
                f"第{task.task_no}项任务{COLUMN_NAMES[written_by]}填写为不适用，该项{task.points:g}分不计入满分；"
                "规则库未规定该项不适用，请核实确属不适用。",
            )
        )
    values = values or {}
    return TaskScore(values.get("self"), values.get("verified"), None, written_by, "not_applicable", problems)
