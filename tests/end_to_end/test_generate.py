"""The synthetic data generator (`fazhi generate`): layout, determinism, realism and the mess it puts in."""

from __future__ import annotations

import csv
import io
import itertools
import re
import zipfile
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from generator import format_summary, generate, plans
from generator.draws import seeded
from generator.registry import build_registry
from generator.tree import KINDS
from generator.vocabulary import LAWS, MEETING_TEXTS, OTHER_MEETINGS, ROLE_FILE_LABELS
from pipelines.lib.dates import parse_date
from pipelines.lib.rulebook import load_rulebook

RB = load_rulebook()
YEARS = range(2021, 2026)
AS_OF = date(2026, 6, 30)  # after YEARS: every year of the demo tree is complete
POINTS = re.compile(r"[（(]\s*([0-9０-９.]+)\s*分\s*[）)]")


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """The default demo tree: city scale, five years, seed 0."""
    out = tmp_path_factory.mktemp("raw")
    return out, generate(out, scale="city", years=YEARS, seed=0, as_of=AS_OF)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _decode(data: bytes) -> str:
    """The reading order offices' CSVs need: BOM, strict UTF-8, strict GB18030."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _anomalies(summary: dict, code: str) -> list[dict]:
    return [a for a in summary["anomaly_files"] if a["code"] == code]


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    summary = generate(a, years=[2023, 2024], seed=7, as_of=AS_OF)
    generate(b, years=[2023, 2024], seed=7, as_of=AS_OF)
    # every writer is covered: the fast writer, XlsxWriter, openpyxl (timestamps pinned) and xlwt
    assert summary["anomalies"]["openpyxl_writer"] and summary["anomalies"]["legacy_xls"]
    generate(c, years=[2023, 2024], seed=8, as_of=AS_OF)
    ta, tb, tc = _tree(a), _tree(b), _tree(c)
    assert ta == tb
    assert sorted(p.stat().st_mtime_ns for p in a.rglob("*.*")) == sorted(
        p.stat().st_mtime_ns for p in b.rglob("*.*")
    )
    assert ta != tc
    common = set(ta) & set(tc)
    assert any(ta[k] != tc[k] for k in common if "/" in k)


def test_adding_years_leaves_other_years_unchanged(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    generate(one, years=[2024], seed=3, as_of=AS_OF)
    generate(two, years=[2022, 2024], seed=3, as_of=AS_OF)
    t1, t2 = _tree(one), _tree(two)
    assert t1 == {k: v for k, v in t2.items() if not k.startswith("2022/")}


def test_regenerating_replaces_the_previous_tree(tmp_path):
    reused, fresh = tmp_path / "reused", tmp_path / "fresh"
    generate(reused, years=[2024], seed=1, as_of=AS_OF)
    generate(reused, years=[2024], seed=2, as_of=AS_OF)
    generate(fresh, years=[2024], seed=2, as_of=AS_OF)
    assert _tree(reused) == _tree(fresh)


def test_xlsx_timestamps_are_fixed(city):
    out, _ = city
    for path in itertools.islice(sorted(out.glob("*/score_sheets/*.xlsx")), 20):
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            continue  # the deliberately truncated ones
        core = zf.read("docProps/core.xml").decode()
        year = int(path.parent.parent.name)
        assert re.search(rf"<dcterms:modified[^>]*>{year + 1}-", core)
        assert all(i.date_time[0] == year + 1 for i in zf.infolist())


# --- layout and units ----------------------------------------------------------------------------


def test_tree_layout_and_summary(city):
    out, summary = city
    assert (out / "units.csv").is_file()
    for year in YEARS:
        for kind in KINDS:
            files = list((out / str(year) / kind).iterdir())
            assert files, (year, kind)
            assert all(f.suffix in (".xlsx", ".xls", ".csv") and f.stat().st_size > 0 for f in files)
    on_disk = Counter(p.parent.name for p in out.glob("*/*/*"))
    for kind in KINDS:
        assert summary["files"][kind] == on_disk[kind]
    assert summary["units"] == 66 and summary["regions"] == 9
    assert 2_400 <= summary["rows"]["meetings"] / len(YEARS) <= 4_000  # SPEC §8: ~3,000 a year


def test_units_csv(city):
    out, _ = city
    raw = (out / "units.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw[3:].decode("utf-8"))))
    assert list(rows[0]) == ["单位名称", "单位类型", "所属县区", "别名"]
    types = Counter(r["单位类型"] for r in rows)
    assert types["党委"] == types["政府"] == 9
    assert types["部门"] == 40
    assert types["乡镇党委"] == types["乡镇政府"] >= 2
    assert set(types) == {"党委", "政府", "部门", "乡镇党委", "乡镇政府"}
    regions = {r["所属县区"] for r in rows if r["单位类型"] in ("党委", "政府")}
    assert {
        "华龙区",
        "清丰县",
        "南乐县",
        "范县",
        "台前县",
        "濮阳县",
        "濮阳经济技术开发区",
        "濮阳工业园区",
        "濮阳示范区",
    } == regions
    for region in regions:
        assert Counter(r["单位类型"] for r in rows if r["所属县区"] == region)["党委"] == 1
    assert all(r["所属县区"] == "市直" for r in rows if r["单位类型"] == "部门")
    by_name = {r["单位名称"]: r for r in rows}
    assert re.split(r"[;；、|]", by_name["中共清丰县委员会"]["别名"]) == ["清丰县委", "中共清丰县委"]
    assert by_name["清丰县人民政府"]["别名"] == "清丰县政府"
    assert "市司法局" in by_name["濮阳市司法局"]["别名"]
    names = [r["单位名称"] for r in rows]
    aliases = [a for r in rows for a in re.split(r"[;；、|]", r["别名"]) if a]
    assert len(set(names)) == len(names)
    assert len(set(aliases)) == len(aliases) and not set(aliases) & set(names)


@pytest.mark.parametrize(
    "scale, regions, units",
    [("province", (130, 170), (2_500, 3_500)), ("nation", (2_600, 3_200), (40_000, 50_000))],
)
def test_larger_scales_have_unique_names(scale, regions, units):
    reg = build_registry(scale, seed=0)
    all_units = reg.units
    assert regions[0] <= len(reg.regions) <= regions[1]
    assert units[0] <= len(all_units) <= units[1]
    names = [u.name for u in all_units]
    aliases = [a for u in all_units for a in u.aliases]
    assert len(set(reg.regions)) == len(reg.regions)
    assert len(set(names)) == len(names)
    assert len(set(aliases)) == len(aliases) and not set(aliases) & set(names)
    for u in all_units:  # GBK must hold every name: most ledgers are saved in GBK
        (u.name + "".join(u.aliases)).encode("gbk")


# --- score sheets ---------------------------------------------------------------------------------


def _clean_sheet(summary: dict, role: str) -> str:
    """A score sheet of this role with every template task in it, as .xlsx."""
    flagged = {
        a["file"]
        for a in summary["anomaly_files"]
        if a["code"] in ("task_missing", "task_unknown", "corrupt_file", "legacy_xls")
    }
    out = Path(summary["out"])
    label = f"_{ROLE_FILE_LABELS[role]}打分表"  # the underscore keeps 党委 apart from 乡镇党委
    return next(
        rel
        for rel in (p.relative_to(out).as_posix() for p in sorted(out.glob("*/score_sheets/*.xlsx")))
        if rel not in flagged and label in rel
    )


def _read_task_points(path: Path) -> tuple[list[int], list[float]]:
    wb = openpyxl.load_workbook(path)
    for ws in wb.worksheets:
        rows = list(ws.iter_rows(values_only=True))
        header = next((i for i, r in enumerate(rows) if r and r[0] == "主要职责"), None)
        if header is None:
            continue
        numbers, points = [], []
        for r in rows[header + 1 :]:
            m = POINTS.search(str(r[2] or ""))
            if m:
                numbers.append(int(str(r[1]).translate(str.maketrans("０１２３４５６７８９", "0123456789"))))
                points.append(
                    float(m.group(1).translate(str.maketrans("０１２３４５６７８９", "0123456789")))
                )
        return numbers, points
    raise AssertionError(f"no score sheet in {path}")


@pytest.mark.parametrize(
    "role", ["party", "government", "department", "township_party", "township_government"]
)
def test_sheet_points_add_up_to_the_template(city, role):
    out, summary = city
    rel = _clean_sheet(summary, role)
    numbers, points = _read_task_points(out / rel)
    template = RB.templates[role]
    assert sorted(numbers) == sorted(t.task_no for t in template.tasks)
    assert sum(points) == template.max_total == 100


def test_sheet_layout_like_puyang(city):
    out, summary = city
    rel = _clean_sheet(summary, "party")
    wb = openpyxl.load_workbook(out / rel)
    ws = next(w for w in wb.worksheets if w.title != "说明" and w.max_row > 5)
    rows = list(ws.iter_rows(values_only=True))
    text = [str(r[0]) for r in rows if r[0]]
    assert "打分表" in text[0]
    assert any(t.startswith(("责任人：", "责任人:")) and "党委主要负责人" in t for t in text)
    assert any(t.startswith(("被考核单位：", "被考核单位:")) for t in text)
    assert any(re.match(r"(考核)?年度[：:]\d{4}", t) for t in text)
    header = next(r for r in rows if r[0] == "主要职责")
    assert list(header[:5]) == ["主要职责", "序号", "工作任务", "落实单位", "检查标准"]
    assert header[5] in ("得分", "自评分", "自评得分") and header[-1] == "备注"
    duty_merges = [m for m in ws.merged_cells.ranges if m.min_col == 1 == m.max_col and m.max_row > m.min_row]
    assert len(duty_merges) >= 5  # 主要职责 merged over its tasks


def test_sample_opens_with_calamine_and_openpyxl(city):
    out, summary = city
    corrupt = {a["file"] for a in _anomalies(summary, "corrupt_file")}
    files = [
        p
        for p in sorted(out.glob("*/*/*"))
        if p.suffix in (".xlsx", ".xls") and p.relative_to(out).as_posix() not in corrupt
    ]
    sample = files[::7] + [p for p in files if p.suffix == ".xls"][:5]
    assert len(sample) > 50
    for path in sample:
        wb = CalamineWorkbook.from_path(str(path))
        assert any(len(wb.get_sheet_by_name(n).to_python()) >= 2 for n in wb.sheet_names), path
        if path.suffix == ".xlsx":
            assert openpyxl.load_workbook(path, read_only=True).sheetnames
    for path in sorted(out.glob("*/*/*.csv"))[::5]:
        lines = list(csv.reader(io.StringIO(_decode(path.read_bytes()))))
        assert len(lines) >= 2


def test_verified_scores_in_a_realistic_share_and_mostly_below_self(city):
    out, _ = city
    with_verified = total = 0
    below = above = 0
    for path in sorted(out.glob("*/score_sheets/*.xlsx"))[::3]:
        try:
            wb = CalamineWorkbook.from_path(str(path))
        except Exception:
            continue
        for name in wb.sheet_names:
            rows = wb.get_sheet_by_name(name).to_python()
            header = next((r for r in rows if r and r[0] == "主要职责"), None)
            if header is None:
                continue
            total += 1
            if len(header) > 7 and header[6] in ("核定分", "督察得分"):
                start = rows.index(header) + 1
                values = [
                    (r[5], r[6]) for r in rows[start:] if isinstance(r[5], float) and isinstance(r[6], float)
                ]
                if values:
                    with_verified += 1
                    below += sum(s >= v for s, v in values)
                    above += sum(s < v for s, v in values)
    assert 0.4 <= with_verified / total <= 0.8
    assert below / (below + above) > 0.93


# --- the evidence behind the numbers ------------------------------------------------------------


def test_meeting_texts_classify_as_intended():
    ctx = {"CW": "县委", "RW": "县", "GW": "县政府"}
    for kind, by_role in MEETING_TEXTS.items():
        for role, (types, topics) in by_role.items():
            for t, topic in itertools.product(types, topics):
                t = t.format(**ctx, Y=2024, law="《中华人民共和国民法典》")
                topic = topic.format(**ctx, Y=2024, law="《中华人民共和国民法典》")
                assert kind in RB.classify_meeting(t, topic), (kind, role, t, topic)
    for role, pairs in OTHER_MEETINGS.items():
        for t, topic in pairs:
            assert RB.classify_meeting(t.format(**ctx), topic) == [], (role, t, topic)
    for law in LAWS:  # a law's name alone must not turn a meeting into another type
        assert set(RB.classify_meeting("会前学法", f"学习{law}")) == {"pre_meeting_study"}


def test_generated_meetings_mostly_classified(city):
    out, _ = city
    kinds = Counter()
    rows_seen = 0
    for path in sorted(out.glob("2024/meetings/*.csv")):
        rows = list(csv.reader(io.StringIO(_decode(path.read_bytes()))))
        header_at = next(
            i for i, r in enumerate(rows) if any(h in r for h in ("会议类型", "类型", "活动形式"))
        )
        header = rows[header_at]
        ti = next(i for i, h in enumerate(header) if h in ("会议类型", "类型", "活动形式"))
        pi = next(i for i, h in enumerate(header) if h in ("主题", "内容", "学习内容"))
        for r in rows[header_at + 1 :]:
            if any(r):
                found = RB.classify_meeting(r[ti], r[pi])
                kinds.update(found or ["other"])
                rows_seen += 1
    share = 1 - kinds["other"] / rows_seen
    assert 0.6 <= share <= 0.9
    assert set(RB.meeting_types) <= set(kinds)  # every rulebook meeting type occurs


def test_scores_follow_the_records_and_sometimes_contradict_them():
    """Party task 1: 2 of its points are decided by the committee hearings on record."""
    reg = build_registry("city", 0)
    party = [u for u in reg.units if u.role == "party"]
    consistent = contradicted = short = 0
    for unit, year in itertools.product(party, range(2015, 2030)):
        q = plans.quality(0, unit, year)
        meetings = plans.plan_meetings(RB, unit, year, q, seeded(0, year, unit.name, "meetings"), "张三")
        counts = plans.requirement_counts(RB, meetings, year, lambda a, b: set(RB.classify_meeting(a, b)))
        evidence = plans.evidence(RB, "party", counts, {}, [], year)
        earned, decided = evidence[1]
        halves = counts.get("committee_hearing", {})
        assert earned == max(0, 2 - sum(max(0, 1 - halves.get(k, 0)) for k in (1, 2)))
        task1 = next(
            s
            for s in plans.plan_scores(
                RB.templates["party"], q, seeded(0, year, unit.name, "scores"), evidence
            )
            if s.task.task_no == 1
        )
        assert task1.verified_points <= 6 - (decided - earned)
        if earned < decided:
            short += 1
            contradicted += task1.self_points == 6  # full points claimed against the records
        else:
            consistent += 1
    assert consistent > short > 0
    assert contradicted > 0


def test_regions_differ_and_rankings_change():
    reg = build_registry("city", 0)
    governments = [u for u in reg.units if u.role == "government"]
    orders = {
        y: tuple(u.name for u in sorted(governments, key=lambda u: -plans.quality(0, u, y))) for y in YEARS
    }
    assert len(set(orders.values())) > 1
    spread = [plans.quality(0, u, 2024) for u in governments]
    assert max(spread) - min(spread) > 0.08


# --- the mess ---------------------------------------------------------------------------------------


def test_mess_appears_at_city_scale(city):
    _out, summary = city
    counts = summary["anomalies"]
    for code in (
        "legacy_xls",
        "resubmission",
        "score_invalid",
        "score_blank",
        "score_text",
        "total_mismatch",
        "date_unparseable",
        "duplicate_row",
        "corrupt_file",
        "unit_unknown",
        "unit_alias",
        "task_missing",
        "task_unknown",
        "year_mismatch",
        "notes_sheet",
        "fullwidth_digits",
        "encoding_gbk",
        "encoding_utf-8-sig",
        "encoding_utf-8",
        "encoding_gb18030",
        "filing_late",
        "filing_missing",
        "normative_late",
        "normative_not_filed",
    ):
        assert counts.get(code, 0) >= 1, code
    # …but a small share: the demo looks like a real city, not a test of errors.
    sheets = summary["files"]["score_sheets"]
    problems = {
        a["file"]
        for a in summary["anomaly_files"]
        if a["code"]
        in (
            "score_invalid",
            "score_blank",
            "total_mismatch",
            "unit_unknown",
            "task_missing",
            "task_unknown",
            "year_mismatch",
            "corrupt_file",
        )
    }
    assert len(problems) / sheets < 0.2
    assert counts["date_unparseable"] / summary["rows"]["meetings"] < 0.01


def test_ledgers_come_in_every_encoding_and_format(city):
    out, _ = city
    encodings = Counter()
    for path in out.glob("*/meetings/*.csv"):
        data = path.read_bytes()
        if data.startswith(b"\xef\xbb\xbf"):
            encodings["utf-8-sig"] += 1
            continue
        try:
            data.decode("utf-8")
            encodings["utf-8"] += 1
        except UnicodeDecodeError:
            try:
                data.decode("gbk")
                encodings["gbk"] += 1
            except UnicodeDecodeError:
                data.decode("gb18030")
                encodings["gb18030"] += 1
    assert encodings["gbk"] > encodings["utf-8-sig"] > 0 and encodings["utf-8"] > 0
    assert encodings["gb18030"] >= 1
    suffixes = Counter(p.suffix for p in out.glob("*/meetings/*"))
    assert suffixes[".csv"] > suffixes[".xlsx"] > suffixes[".xls"] > 0
    assert Counter(p.suffix for p in out.glob("*/score_sheets/*"))[".xls"] > 0


def test_resubmission_is_a_later_file_for_the_same_unit(city):
    out, summary = city
    for entry in _anomalies(summary, "resubmission"):
        later = out / entry["file"]
        stem = later.stem[: -len(entry["detail"])]
        first = later.with_name(stem + later.suffix)
        assert first.is_file() and later.is_file()
        assert later.stat().st_mtime > first.stat().st_mtime


def test_problem_values_are_in_the_files(city):
    out, summary = city
    invalid = _anomalies(summary, "score_invalid")[0]
    _task_no, bad = invalid["detail"].split(":", 1)
    wb = CalamineWorkbook.from_path(str(out / invalid["file"]))
    cells = [str(v) for n in wb.sheet_names for r in wb.get_sheet_by_name(n).to_python() for v in r]
    assert any(
        c in (bad, f"{bad}.0") or c.rstrip("0").rstrip(".") == bad.rstrip("0").rstrip(".") for c in cells
    )

    unparseable = next(a for a in _anomalies(summary, "date_unparseable") if a["file"].endswith(".csv"))
    assert unparseable["detail"] in _decode((out / unparseable["file"]).read_bytes())

    corrupt = next(a for a in _anomalies(summary, "corrupt_file") if a["file"].endswith(".xlsx"))
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(out / corrupt["file"])

    mismatch = _anomalies(summary, "year_mismatch")[0]
    year = int(mismatch["file"].split("/")[0])
    wb = openpyxl.load_workbook(out / mismatch["file"]) if mismatch["file"].endswith(".xlsx") else None
    if wb is not None:
        text = " ".join(
            str(c) for ws in wb.worksheets for r in ws.iter_rows(values_only=True) for c in r if c
        )
        assert f"{year - 1}" in text and f"年度：{year}" not in text


def test_filing_and_normative_registers(city):
    out, _ = city
    path = next(iter(sorted(out.glob("2024/filings/*.csv"))))
    rows = list(csv.reader(io.StringIO(_decode(path.read_bytes()))))
    header = next(r for r in rows if "年度" in r)
    assert any(h in header for h in ("报告类型", "报告名称")) and any(
        h in header for h in ("报送日期", "报送时间")
    )
    ti = next(i for i, h in enumerate(header) if h in ("报告类型", "报告名称"))
    for r in rows[rows.index(header) + 1 :]:
        assert RB.classify_report(r[ti]) is not None, r[ti]
    path = next(iter(sorted(out.glob("2024/normative_docs/*.csv"))))
    rows = list(csv.reader(io.StringIO(_decode(path.read_bytes()))))
    header = next(r for r in rows if "文号" in r)
    assert "文件名称" in header and "是否规范" in header
    assert {r[header.index("是否规范")] for r in rows[rows.index(header) + 1 :]} <= {"是", "否"}


def test_format_summary_is_short(city):
    _, summary = city
    text = format_summary(summary)
    assert "66" in text and "打分表" in text and "corrupt_file" in text and "整改事项" in text
    assert len(text.splitlines()) == 6 and len(text) < 1_500  # and a line for a running year


# --- rectification ledgers (整改台账) ----------------------------------------------------------------

RECT_HEADERS = {
    "unit": ("单位", "单位名称", "整改单位", "责任单位"),
    "source": ("问题来源", "问题类型"),
    "problem": ("问题描述", "存在问题"),
    "measure": ("整改措施", "整改举措"),
    "owner": ("责任人", "责任领导"),
    "deadline": ("整改时限", "完成时限", "整改期限"),
    "status": ("整改状态", "整改进展", "完成情况"),
    "done": ("完成日期", "实际完成时间", "销号日期"),
    "remark": ("备注",),
}


def _rows(path: Path) -> list[list]:
    """A table file's rows as a reader gets them: CSV decoded as offices save it, else the first sheet."""
    if path.suffix == ".csv":
        return list(csv.reader(io.StringIO(_decode(path.read_bytes()))))
    wb = CalamineWorkbook.from_path(str(path))
    return wb.get_sheet_by_name(wb.sheet_names[0]).to_python()


def _text(v) -> str:
    return "" if v is None else str(v).strip()


def _rect_rows(path: Path) -> list[dict]:
    """The item rows of a rectification ledger by an alias-based reader: the header within the first
    15 rows; blank rows and the lines under the table (no 问题来源) left out."""
    rows = _rows(path)
    names = {h for hs in RECT_HEADERS.values() for h in hs}
    at = next(i for i, r in enumerate(rows[:15]) if sum(_text(c) in names for c in r) == len(RECT_HEADERS))
    header = [_text(c) for c in rows[at]]
    col = {k: next(i for i, h in enumerate(header) if h in hs) for k, hs in RECT_HEADERS.items()}
    out = []
    for r in rows[at + 1 :]:
        r = list(r) + [None] * (len(header) - len(r))
        if _text(r[col["source"]]):
            out.append({k: (r[i] if isinstance(r[i], (int, float)) else _text(r[i])) for k, i in col.items()})
        else:
            assert not any(_text(r[col[k]]) for k in ("status", "deadline", "problem")), (path, r)
    return out


def _rect_files(out: Path, summary: dict) -> list[Path]:
    corrupt = {a["file"] for a in _anomalies(summary, "corrupt_file")}
    return [p for p in sorted(out.glob("*/rectifications/*")) if p.relative_to(out).as_posix() not in corrupt]


def test_rectification_ledgers_read_by_their_aliases(city):
    out, summary = city
    rect = summary["rectifications"]
    files = _rect_files(out, summary)
    assert (
        len(files) + len([a for a in _anomalies(summary, "corrupt_file") if "/rectifications/" in a["file"]])
        == rect["files"]
        == summary["files"]["rectifications"]
    )
    assert rect["registers"] and rect["unit_files"]  # group registers and units' own files
    assert {p.suffix for p in files} == {".csv", ".xlsx", ".xls"}
    got = Counter()
    for path in files:
        for row in _rect_rows(path):
            got["items"] += 1
            got[row["status"]] += 1
            assert row["source"] in ("自查", "督察反馈", "述法评议", "其他")
            assert row["status"] in ("已完成", "整改中", "未启动")
            assert row["problem"] and row["owner"], (path, row)
            deadline = parse_date(row["deadline"]) if row["deadline"] != "长期坚持" else None
            assert deadline is not None or row["deadline"] == "长期坚持", (path, row)
            done = parse_date(row["done"]) if row["done"] != "" else None
            if row["status"] != "已完成":
                assert row["done"] == "", (path, row)
                got["overdue"] += deadline is not None and deadline < AS_OF
            elif done is None:
                got["done_without_date" if row["done"] == "" else "done_bad_date"] += 1
            elif deadline is not None:
                got["late"] += done > deadline
                got["on_deadline"] += done == deadline
            if not row["measure"]:
                assert row["source"] == "督察反馈", (path, row)  # only feedback items lack a measure
                got["no_measure"] += 1
    in_corrupt = rect["items_in_corrupt_files"]
    assert got["items"] == rect["items"] - in_corrupt == summary["rows"]["rectifications"] - in_corrupt
    assert got["已完成"] + got["整改中"] + got["未启动"] == got["items"]
    readable = {p.relative_to(out).as_posix() for p in files}

    def planted(code: str) -> int:
        return sum(a["file"] in readable for a in _anomalies(summary, code))

    # past years' ledgers are compiled in January after the year: overdue then is overdue on AS_OF
    assert got["overdue"] == planted("rectification_overdue") > 0
    assert got["done_without_date"] == planted("rectification_done_no_date") > 0
    assert got["done_bad_date"] == planted("rectification_bad_date") > 0
    assert got["late"] == planted("rectification_late") > 0
    assert got["on_deadline"] == planted("rectification_on_deadline") > 0
    assert got["no_measure"] == planted("rectification_no_measure") > 0
    assert rect["overdue"] >= got["overdue"] and rect["completed_late"] >= got["late"]
    # realistic shares: most items are done, a few problems are planted
    assert got["已完成"] / got["items"] > 0.6 and got["整改中"] > got["未启动"] > 0
    assert (got["done_without_date"] + got["done_bad_date"]) / got["已完成"] < 0.05
    assert got["on_deadline"] < got["late"]
    assert set(rect["by_source"]) == {"自查", "督察反馈", "述法评议", "其他"}
    assert sum(rect["by_status"].values()) == rect["items"]
    assert sum(y["items"] for y in rect["by_year"].values()) == rect["items"]


def _resolver() -> dict[str, str]:
    """What a ledger may call a unit (name, alias, 中共/人民政府 spelled otherwise) → its name."""
    out = {}
    for u in build_registry("city", 0).units:
        for n in (u.name, *u.aliases):
            out[n.replace(" ", "").removeprefix("中共")] = u.name
    return out


def test_rectification_items_follow_the_inspection_calendar(city):
    out, summary = city
    resolve = _resolver()
    sources = Counter()
    self_check_units: dict[int, set[str]] = {}
    for path in _rect_files(out, summary):
        year = int(path.parts[-3])
        for row in _rect_rows(path):
            deadline = parse_date(row["deadline"]) if row["deadline"] != "长期坚持" else None
            sources[row["source"]] += 1
            if row["source"] == "自查":  # listed with the self-inspection report of Aug 10
                assert deadline is None or deadline >= date(year, 9, 5), row
                unit = resolve.get(row["unit"].replace(" ", "").removeprefix("中共"))
                self_check_units.setdefault(year, set()).add(unit or row["unit"])
            elif row["source"] == "督察反馈":  # the inspection's feedback of Aug 25
                assert deadline is not None and date(year, 9, 5) <= deadline <= date(year, 12, 31), row
            elif row["source"] == "述法评议":  # the review of the 述法 held early in the year
                assert deadline is not None and date(year, 4, 30) <= deadline <= date(year, 9, 30), row
            assert deadline is None or deadline.year == year, row
            assert (
                row["status"] != "已完成"
                or not row["done"]
                or parse_date(row["done"]) is None
                or (parse_date(row["done"]).year == year)
            )
    assert sources["自查"] > sources["督察反馈"] > sources["述法评议"] > sources["其他"] > 0
    # units that filed the self-inspection report but sent no problem list: none of their rows is 自查
    missing = _anomalies(summary, "rectification_no_problem_list")
    assert len(missing) == summary["rectifications"]["units_without_problem_list"] >= 3
    reg = {u.name: u for u in build_registry("city", 0).units}
    for entry in missing:
        year, unit = int(entry["file"].split("/")[0]), reg[entry["detail"]]
        assert unit.name not in self_check_units.get(year, set())
        q = plans.quality(0, unit, year)
        status, _ = plans.plan_filings(RB, unit, year, q, seeded(0, year, unit.name, "filings"))[
            "self_inspection_report"
        ]
        assert status != "missing"


# --- the running year ------------------------------------------------------------------------------


def _sent_on(path: Path) -> date:
    """A file's modification day in China time (when the office sent it)."""
    return datetime.fromtimestamp(path.stat().st_mtime, timezone(timedelta(hours=8))).date()


def test_default_years_run_to_the_as_of_year_and_later_years_are_refused(tmp_path):
    summary = generate(tmp_path / "a", years=None, seed=4, as_of=date(2022, 3, 1))
    assert summary["years"] == [2021, 2022] and summary["in_year"]["year"] == 2022
    assert summary["as_of"] == "2022-03-01"
    with pytest.raises(ValueError, match="2023"):
        generate(tmp_path / "b", years=[2022, 2023], seed=4, as_of=date(2022, 12, 31))


def test_running_year_holds_only_what_exists_by_the_as_of_date(tmp_path):
    as_of = date(2026, 9, 18)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    summary = generate(a, years=[2025, 2026], seed=2, as_of=as_of)
    generate(b, years=[2025, 2026], seed=2, as_of=as_of)
    generate(c, years=[2025, 2026], seed=2, as_of=date(2026, 11, 20))
    ta, tb, tc = _tree(a), _tree(b), _tree(c)
    assert ta == tb  # the same as_of, the same bytes
    assert sorted(p.stat().st_mtime_ns for p in a.rglob("*.*")) == sorted(
        p.stat().st_mtime_ns for p in b.rglob("*.*")
    )
    # the past year is complete whatever the as_of date; the running year differs
    assert {k: v for k, v in ta.items() if k.startswith("2025/")} == {
        k: v for k, v in tc.items() if k.startswith("2025/")
    }
    assert {k: v for k, v in ta.items() if k.startswith("2026/")} != {
        k: v for k, v in tc.items() if k.startswith("2026/")
    }
    assert not list((a / "2026" / "score_sheets").iterdir())  # sent after the year ends
    assert list((a / "2025" / "score_sheets").iterdir())
    for kind in ("meetings", "filings", "normative_docs", "rectifications"):
        files = list((a / "2026" / kind).iterdir())
        assert files, kind
        assert all(_sent_on(p) <= as_of for p in files), kind

    latest = Counter()
    for kind, header_words in (
        ("meetings", ("日期", "会议日期", "时间")),
        ("filings", ("报送日期", "报送时间")),
        ("normative_docs", ("印发日期", "发文日期", "报备日期", "备案日期")),
    ):
        for path in sorted((a / "2026" / kind).iterdir()):
            if any(x["file"] == f"2026/{kind}/{path.name}" for x in _anomalies(summary, "corrupt_file")):
                continue
            rows = _rows(path)
            at = next(i for i, r in enumerate(rows) if any(_text(c) in header_words for c in r))
            cols = [i for i, c in enumerate(rows[at]) if _text(c) in header_words]
            for r in rows[at + 1 :]:
                for i in cols:
                    d = parse_date(r[i]) if i < len(r) and r[i] not in (None, "") else None
                    if d is not None:
                        assert d <= as_of, (path, r)
                        latest[kind] = max(latest[kind], d.toordinal())
    assert date.fromordinal(latest["meetings"]) >= date(2026, 9, 1)  # in-year data up to the last days

    rows = [r for p in _rect_files(a, summary) if "2026/" in p.as_posix() for r in _rect_rows(p)]
    sources = Counter(r["source"] for r in rows)
    assert sources["自查"] and sources["督察反馈"] and sources["述法评议"]
    statuses = Counter(r["status"] for r in rows)
    assert statuses["已完成"] and statuses["整改中"] and statuses["未启动"]
    # open items whose deadline has not come yet, and overdue ones
    deadlines = [
        parse_date(r["deadline"]) for r in rows if r["status"] != "已完成" and r["deadline"] != "长期坚持"
    ]
    assert any(d > as_of for d in deadlines) and any(d < as_of for d in deadlines)
    for r in rows:
        done = parse_date(r["done"]) if r["done"] else None
        assert done is None or done <= as_of, r

    in_year = summary["in_year"]
    assert in_year["year"] == 2026 and in_year["as_of"] == as_of.isoformat() and in_year["units_behind"] >= 3
    assert "2026 年为当年" in format_summary(summary)
    # a unit behind on a meeting requirement: the ledger shows none of that type in that period
    behind = _anomalies(summary, "behind_current_period") + _anomalies(summary, "behind_past_period")
    assert {a["code"] for a in behind} == {"behind_current_period", "behind_past_period"}
    for entry in behind:
        req_id, k = entry["detail"].split(":")
        req = RB.frequency_requirements[req_id]
        months = {"quarter": 3, "half_year": 6, "year": 12}[req.period]
        rows = _rows(a / entry["file"])
        at = next(
            i for i, r in enumerate(rows) if any(_text(c) in ("会议类型", "类型", "活动形式") for c in r)
        )
        header = [_text(c) for c in rows[at]]
        di = next(i for i, h in enumerate(header) if h in ("日期", "会议日期", "时间"))
        ti = next(i for i, h in enumerate(header) if h in ("会议类型", "类型", "活动形式"))
        pi = next(i for i, h in enumerate(header) if h in ("主题", "内容", "学习内容"))
        for r in rows[at + 1 :]:
            d = parse_date(r[di]) if r[di] not in (None, "") else None
            if d is not None and (d.month - 1) // months + 1 == int(k):
                assert not set(req.meeting_types) & set(RB.classify_meeting(_text(r[ti]), _text(r[pi]))), r
