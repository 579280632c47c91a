"""The score-sheet templates of the default rulebook (pipelines/rules/default/templates/*.yaml).

Reads the YAML directly (yaml.safe_load, no project imports) and checks them against the seeds:
Puyang party 27 tasks / government 30 tasks with the reference points, derived Shapotou templates
marked as assumptions, every sheet summing to exactly 100.
"""

from __future__ import annotations

import csv
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from pipelines.lib.rulebook import load_rulebook

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "pipelines" / "rules" / "default" / "templates"

PUYANG = ("party", "government")
DERIVED = ("department", "township_party", "township_government")
ROLES = PUYANG + DERIVED

TOP_KEYS = {"role", "name", "title", "source", "weights_are_assumption", "duties", "tasks"}
DUTY_KEYS = {"duty_no", "text"}
TASK_REQUIRED = {"task_no", "duty_no", "points", "text", "responsible", "check_standard", "source"}
TASK_KEYS = TASK_REQUIRED | {"note"}

# Copy of shared/reference/puyang_score_sheet_tasks.csv (role → points by task 1..N), so the test
# also runs where the shared folder is not mounted; test_reference_copy_matches_csv keeps it honest.
REFERENCE_POINTS = {
    "party": [6, 6, 4, 3, 4, 6, 2, 5, 4, 3, 3, 5, 3, 5, 4, 5, 4, 2, 3, 2, 4, 3, 3, 2, 3, 4, 2],
    "government": [7, 4, 4, 3, 3, 3, 1, 4, 4, 6, 3, 6, 3, 3, 5, 5, 3, 3, 3, 3, 3, 2, 2, 4, 2, 2, 2, 2, 2, 3],
}


def _reference_csv() -> Path | None:
    candidates = []
    if os.environ.get("FAZHI_SHARED"):
        candidates.append(Path(os.environ["FAZHI_SHARED"]) / "reference" / "puyang_score_sheet_tasks.csv")
    candidates += [
        ROOT.parent / "shared" / "reference" / "puyang_score_sheet_tasks.csv",
        Path("/work/shared/reference/puyang_score_sheet_tasks.csv"),
    ]
    return next((p for p in candidates if p.is_file()), None)


def load(role: str) -> dict:
    with open(TEMPLATES / f"{role}.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module", params=ROLES)
def template(request):
    return request.param, load(request.param)


def test_schema_keys(template):
    role, t = template
    assert set(t) == TOP_KEYS
    assert t["role"] == role
    for key in ("name", "title", "source"):
        assert isinstance(t[key], str) and t[key].strip()
    assert t["duties"] and t["tasks"]
    for d in t["duties"]:
        assert set(d) == DUTY_KEYS, d
    for task in t["tasks"]:
        assert TASK_REQUIRED <= set(task) <= TASK_KEYS, task
        assert isinstance(task["task_no"], int) and isinstance(task["duty_no"], int)
        for key in ("text", "responsible", "check_standard", "source"):
            assert isinstance(task[key], str), (task["task_no"], key)


def test_sums_to_exactly_100(template):
    role, t = template
    total = sum(Decimal(str(task["points"])) for task in t["tasks"])
    assert total == Decimal(100), f"{role}: {total}"


def test_points_positive_with_at_most_one_decimal(template):
    role, t = template
    for task in t["tasks"]:
        p = task["points"]
        assert isinstance(p, (int, float)) and not isinstance(p, bool), task["task_no"]
        assert p > 0, (role, task["task_no"])
        assert Decimal(str(p)) == Decimal(str(p)).quantize(Decimal("0.1")), (role, task["task_no"], p)
        if role in PUYANG:
            assert isinstance(p, int), (role, task["task_no"])


def test_task_numbers_unique(template):
    role, t = template
    numbers = [task["task_no"] for task in t["tasks"]]
    assert len(numbers) == len(set(numbers)), role
    # derived templates too are numbered without gaps (seed items first, then the added groups)
    assert sorted(numbers) == list(range(1, len(numbers) + 1)), role


def test_duties_referenced_and_unique(template):
    role, t = template
    duty_nos = [d["duty_no"] for d in t["duties"]]
    assert len(duty_nos) == len(set(duty_nos)), role
    assert sorted(duty_nos) == list(range(1, len(duty_nos) + 1)), role
    for d in t["duties"]:
        assert d["text"].strip(), (role, d["duty_no"])
    used = {task["duty_no"] for task in t["tasks"]}
    for task in t["tasks"]:
        assert task["duty_no"] in duty_nos, (role, task["task_no"], task["duty_no"])
    # no duty group is left without a task (its score rate would be undefined)
    assert used == set(duty_nos), (role, set(duty_nos) - used)


def test_texts_non_empty(template):
    role, t = template
    for task in t["tasks"]:
        assert task["text"].strip(), (role, task["task_no"])
        assert task["source"].strip(), (role, task["task_no"])
        if role in PUYANG:
            assert task["check_standard"].strip(), (role, task["task_no"])
            assert task["responsible"].strip(), (role, task["task_no"])


def test_text_cleaned_of_extraction_artefacts(template):
    _role, t = template
    strings = [d["text"] for d in t["duties"]]
    for task in t["tasks"]:
        strings += [task["text"], task["responsible"], task["check_standard"]]
    for s in strings:
        assert not re.search(r"\band\b", s), s
        assert "<p>" not in s and "</p>" not in s, s
        assert not re.search(r"\s", s), s
        # the max points live in `points`, not in the text
        assert not re.search(r"[（(]\d+分[）)]$", s), s


def test_weights_assumption_flag(template):
    role, t = template
    assert t["weights_are_assumption"] is (role in DERIVED)


@pytest.mark.parametrize("role, count", [("party", 27), ("government", 30)])
def test_puyang_task_count_and_numbering(role, count):
    t = load(role)
    assert [task["task_no"] for task in t["tasks"]] == list(range(1, count + 1))


@pytest.mark.parametrize("role", PUYANG)
def test_puyang_points_equal_reference(role):
    t = load(role)
    points = {task["task_no"]: task["points"] for task in t["tasks"]}
    expected = dict(enumerate(REFERENCE_POINTS[role], start=1))
    assert points == expected


def test_reference_copy_matches_csv():
    path = _reference_csv()
    if path is None:
        pytest.skip("shared/reference/puyang_score_sheet_tasks.csv not available")
    by_role: dict[str, dict[int, int]] = {}
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            by_role.setdefault(row["role"], {})[int(row["task_no"])] = int(row["points"])
    for role in PUYANG:
        assert by_role[role] == dict(enumerate(REFERENCE_POINTS[role], start=1)), role
        t = load(role)
        assert {task["task_no"]: task["points"] for task in t["tasks"]} == by_role[role], role


def test_party_tasks_7_to_10_realigned():
    """The seed prints the 落实单位/检查标准 of party tasks 7-10 one row too high."""
    tasks = {task["task_no"]: task for task in load("party")["tasks"]}
    assert "纳入巡察范围" in tasks[7]["check_standard"]
    assert "巡察办" in tasks[7]["responsible"]
    assert "成立相关工作机构" in tasks[8]["check_standard"]
    assert "建立相应机制和制度" in tasks[9]["check_standard"]
    assert "党内法规宣传" in tasks[10]["check_standard"]
    for n in (7, 8, 9, 10):
        assert tasks[n]["duty_no"] == 2


def test_english_and_replaced():
    party = load("party")
    duty1 = party["duties"][0]["text"]
    assert "总体规划和年度工作计划" in duty1
    task3 = next(t for t in party["tasks"] if t["task_no"] == 3)
    assert task3["text"] == "把法治建设纳入本地经济社会发展总体规划和常委会年度工作要点。"


def test_derived_keep_seed_item_numbers():
    """SPEC §3 cites Shapotou party 15, gov 1 and dept 12: those task numbers must still hold."""
    tp = {t["task_no"]: t for t in load("township_party")["tasks"]}
    assert "学法不少于4次" in tp[15]["text"] and "习近平法治思想不少于2次" in tp[15]["text"]
    assert "不少于1次" in tp[1]["text"]
    tg = {t["task_no"]: t for t in load("township_government")["tasks"]}
    assert "领导小组" in tg[1]["text"]
    dept = load("department")
    assert len(dept["duties"]) == 15
    dt = {t["task_no"]: t for t in dept["tasks"]}
    assert "会前学法每年不少于4次" in dt[12]["text"] and "60学时" in dt[12]["text"]
    assert all(t["task_no"] == t["duty_no"] for t in dept["tasks"])


def test_the_ranking_policy_names_the_duty_holder_once():
    # the circular's footnote and marts.publication.ranking_policy: roles are named by their units
    rules = load_rulebook("default")
    text = rules.ranking.describe(rules.role_names)
    assert "区县综合得分为县（区）党委、县（区）政府主要负责人得分的平均值" in text
    assert "主要负责人主要负责人" not in text
