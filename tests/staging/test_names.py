"""Unit names as offices write them, against the registry."""

from pipelines.lib.names import Unit, UnitRegistry, name_keys, normalize_name

UNITS = [
    Unit("a", "中共清丰县委员会", "党委", "party", "清丰县", ("清丰县委",)),
    Unit("b", "清丰县人民政府", "政府", "government", "清丰县"),
    Unit("c", "中共清丰县马庄桥镇委员会", "乡镇党委", "township_party", "清丰县"),
    Unit("d", "清丰县马庄桥镇人民政府", "乡镇政府", "township_government", "清丰县"),
    Unit("e", "濮阳经济技术开发区党工委", "党委", "party", "濮阳经济技术开发区"),
    Unit("f", "濮阳经济技术开发区管委会", "政府", "government", "濮阳经济技术开发区"),
    Unit("g", "濮阳市司法局", "部门", "department", "市直", ("市司法局",)),
]
REGISTRY = UnitRegistry(UNITS)


def test_normalize_variants():
    assert normalize_name("中共清丰县委员会") == normalize_name("中国共产党清丰县委员会") == "清丰县委"
    assert normalize_name(" 清丰县 人民政府 ") == "清丰县政府"
    assert normalize_name("濮阳市（司法局）") == normalize_name("濮阳市司法局")


def test_names_aliases_and_region_or_township_with_role():
    cases = {
        ("中共清丰县委", None): "a",
        ("清丰县委", None): "a",
        ("清丰县政府", None): "b",
        ("清丰县", "party"): "a",
        ("清丰县", "government"): "b",
        ("清丰县马庄桥镇", "township_party"): "c",
        ("清丰县马庄桥镇", "township_government"): "d",
        ("濮阳经济技术开发区", "party"): "e",
        ("濮阳经济技术开发区", "government"): "f",
        ("市司法局", None): "g",
        ("濮阳市司法局", "department"): "g",
    }
    for (text, role), unit_id in cases.items():
        resolved = REGISTRY.resolve(text, role)
        assert resolved.unit is not None and resolved.unit.unit_id == unit_id, (text, role, resolved)


def test_unknown_name_is_never_guessed_and_suggests_the_closest():
    resolved = REGISTRY.resolve("清丰县司法局")
    assert resolved.unit is None and resolved.problem == "unknown"
    assert "濮阳市司法局" in resolved.suggestions
    assert "濮阳市司法局" in resolved.message("清丰县司法局")


def test_a_region_name_without_a_role_is_not_guessed():
    assert REGISTRY.resolve("清丰县").unit is None


def test_an_issue_belongs_to_the_unit_it_names_else_to_the_one_its_file_names():
    import pyarrow as pa

    from pipelines.lib.staging.common import with_unit_ids

    issues = pa.table(
        {
            "file": [
                "2024/meetings/all.csv",
                "2024/meetings/all.csv",
                "2024/score_sheets/市司法局_打分表.xlsx",
                "x.csv",
            ],
            "unit": ["清丰县委", "丙单位", None, None],
        }
    )
    assert with_unit_ids(issues, REGISTRY).column("unit_id").to_pylist() == ["a", None, "g", None]
    assert REGISTRY.in_file_name("2024/score_sheets/清丰县政府（2024）.xlsx").unit_id == "b"
    assert REGISTRY.in_file_name("2024/score_sheets/打分表.xlsx") is None


class _NoSuggestions(UnitRegistry):
    def suggest(self, key: str, n: int = 3) -> list[str]:
        raise AssertionError(f"close names looked for “{key}”, which no message shows")


def test_an_issue_s_unit_is_found_without_looking_for_close_names():
    """Most parts of a file name (2024年度, 打分表…) name no unit and are never shown to anyone, and an issue's
    unknown unit text already has its message: looking for the registry's closest names to each of them,
    tens of thousands a year at nation scale, cost minutes."""
    import pyarrow as pa

    from pipelines.lib.staging.common import with_unit_ids

    registry = _NoSuggestions(UNITS)
    assert registry.in_file_name("2024/score_sheets/2024年度_清丰县政府_打分表.xlsx").unit_id == "b"
    assert registry.in_file_name("2024/score_sheets/2024年度_清丰县_打分表.xlsx", "party").unit_id == "a"
    assert registry.in_file_name("2024/score_sheets/打分表（第二版）.xlsx") is None
    issues = pa.table(
        {
            "file": [
                "2024/meetings/市司法局_学法记录.csv",
                "2024/meetings/汇总表.csv",
                "2024/meetings/x.csv",
            ],
            "unit": [None, None, "清丰县税务局"],
        }
    )
    # an issue's unit text that names no unit: its message was written when its row was staged
    assert with_unit_ids(issues, registry).column("unit_id").to_pylist() == ["g", None, None]
    assert registry.resolve("清丰县委").unit.unit_id == "a" and registry.resolve("清丰县税务局").unit is None


class _FileNamesCounted(UnitRegistry):
    looked_up: list[str]

    def in_file_name(self, path: str, role: str | None = None) -> Unit | None:
        self.looked_up.append(path)
        return super().in_file_name(path, role)


def test_a_file_name_is_read_only_for_issues_whose_written_name_says_no_unit():
    """At nation scale a year's meeting issues name 44,000 files; reading each file's name for a unit
    cost most of a second although the unit written with the issue decides for nearly all of them."""
    import pyarrow as pa

    from pipelines.lib.staging.common import with_unit_ids

    registry = _FileNamesCounted(UNITS)
    registry.looked_up = []
    issues = pa.table(
        {
            "file": [
                "2024/meetings/市司法局_a.csv",
                "2024/meetings/市司法局_b.csv",
                "2024/meetings/市司法局_a.csv",
            ],
            "unit": ["清丰县委", None, "清丰县政府"],
        }
    )
    assert with_unit_ids(issues, registry).column("unit_id").to_pylist() == ["a", "g", "b"]
    assert registry.looked_up == ["2024/meetings/市司法局_b.csv"]


class _NamesCounted(UnitRegistry):
    resolved: list[str]

    def resolve(self, text: str, role: str | None = None):
        self.resolved.append(text)
        return super().resolve(text, role)


def test_an_issue_whose_units_are_known_keeps_them_and_only_the_others_are_looked_up():
    """A staged ledger row's issue comes with the unit the row is staged with (`Report.add_issues(...,
    units=True)`): its unit and its row's. Looking up a nation year's 670,000 such meeting issues again
    took 0.6–0.8 s. An issue without them is looked up as before, among the others in their order."""
    from datetime import datetime

    import duckdb
    import pyarrow as pa

    from pipelines.lib.staging.common import Report, with_row_units, with_unit_ids

    report = Report(datetime(2024, 12, 1))
    report.issue(2024, "2024/meetings/m.csv", None, 2, "清丰县政府", "error", "bad_date", "一")
    known = {
        "file": ["2024/meetings/m.csv"] * 2,
        "sheet": [None, None],
        "row": [3, 4],
        "unit": ["清丰县委"] * 2,
    }
    # the units the rows are staged with; what the names would resolve to is not asked again
    report.add_issues(
        pa.table(
            {
                "year": [2024, 2024],
                **known,
                "severity": ["warning"] * 2,
                "code": ["c", "c"],
                "message": ["二", "三"],
                "unit_id": ["e", "e"],
            }
        ),
        units=True,
    )
    report.add_issues(
        pa.table(
            {
                "year": [2024],
                "file": ["2024/meetings/市司法局.csv"],
                "sheet": [None],
                "row": [5],
                "unit": [None],
                "severity": ["warning"],
                "code": ["c"],
                "message": ["四"],
            }
        )
    )
    issues = report.issues_table()
    assert (
        issues.column("unit_id").to_pylist()
        == issues.column("row_unit_id").to_pylist()
        == [None, "e", "e", None]
    )

    registry = _NamesCounted(UNITS)
    registry.resolved = []
    named = with_unit_ids(issues, registry)
    assert named.column("unit_id").to_pylist() == ["b", "e", "e", "g"]
    assert "清丰县委" not in registry.resolved  # the known issues' name, never looked up

    rows = pa.table(
        {
            "file": ["2024/meetings/m.csv"] * 3 + ["2024/meetings/市司法局.csv"],
            "sheet": [None] * 4,
            "row": [2, 3, 4, 5],
            "unit_id": ["b", "a", "a", "g"],
        }
    )
    with duckdb.connect() as con:
        done = with_row_units(con, named, rows)
    assert done.column("row_unit_id").to_pylist() == ["b", "e", "e", "g"]
    assert done.column("message").to_pylist() == ["一", "二", "三", "四"]


_SUGGEST_IN_A_PROCESS = """
import random, sys
from pipelines.lib.names import Unit, UnitRegistry, name_keys, normalize_name
rng = random.Random(7)
chars = "外丰峰岭秋宁海山阜南颍川源溪兰义上下东西河湖"
names = sorted({f"{rng.choice(chars)}{rng.choice(chars)}县{rng.choice(chars)}{rng.choice(chars)}镇人民政府" for _ in range(3000)})
registry = UnitRegistry([Unit(f"u{i}", n, "乡镇政府", "township_government", "x") for i, n in enumerate(names)])
print("|".join(registry.suggest(normalize_name("外峰县岭秋镇人民政府"))))
"""


def test_the_closest_names_suggested_do_not_depend_on_the_process():
    """A clerk's message names the closest registered names; the same file must give the same message in
    every run (string hashing differs from process to process), or a rebuild would differ from the
    published figures."""
    import os
    import subprocess
    import sys

    answers = {
        subprocess.run(
            [sys.executable, "-c", _SUGGEST_IN_A_PROCESS],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in range(6)
    }
    assert len(answers) == 1 and len(next(iter(answers)).split("|")) == 3, answers


def test_the_closest_names_are_those_difflib_would_choose():
    """close_matches compares closely only the candidates that could still be among the best: its list
    must be difflib.get_close_matches' own, ties and order included, whatever the candidates."""
    import difflib
    import random

    from pipelines.lib.names import close_matches

    rng = random.Random(7)
    chars = "外丰峰岭秋宁海山阜南颍川源溪兰义上下东西县镇局委政府"
    for _ in range(2000):
        word = "".join(rng.choice(chars) for _ in range(rng.randint(0, 9)))
        pool = [
            "".join(rng.choice(chars) for _ in range(rng.randint(0, 9))) for _ in range(rng.randint(0, 40))
        ]
        pool += [word, word[1:], word + word[-1:]] if rng.random() < 0.5 else []  # equal ratios: ties
        for n, cutoff in ((3, 0.5), (1, 0.6), (5, 0.0)):
            assert close_matches(word, pool, n, cutoff) == difflib.get_close_matches(
                word, pool, n=n, cutoff=cutoff
            ), (word, pool, n, cutoff)


def test_the_registry_as_staged_compares_names_as_one_made_from_its_units(tmp_path):
    import duckdb

    from pipelines.lib.schema import create_tables
    from pipelines.lib.staging.units import UNIT_COLUMNS, load_registry

    units = [
        *UNITS,
        Unit(
            "h", "中国共产党濮阳市委员会", "党委", "party", "市直", ("市委", "（濮阳市委）", "中共濮阳市委")
        ),
    ]
    con = duckdb.connect(str(tmp_path / "work.duckdb"))
    create_tables(con, ["stg_units"])
    rows = [
        (u.unit_id, u.name, u.unit_type, u.role, u.region, "、".join(u.aliases), None, *name_keys(u))
        for u in units
    ]
    con.executemany(
        f"insert into stg_units ({', '.join(UNIT_COLUMNS)}) values ({', '.join('?' * len(UNIT_COLUMNS))})",
        rows,
    )
    made = UnitRegistry(units)
    for staged in (load_registry(con), None):
        if staged is None:  # staged by an earlier version: no keys stored
            con.execute("update stg_units set name_keys = null, base_keys = null")
            staged = load_registry(con)
        assert staged.units == units
        assert staged._by_key == made._by_key and staged._by_base_role == made._by_base_role
        for text, role in (
            ("濮阳市委", None),
            ("中共濮阳市委员会", None),
            ("清丰县", "government"),
            ("司法局", None),
        ):
            assert staged.resolve(text, role).unit == made.resolve(text, role).unit
