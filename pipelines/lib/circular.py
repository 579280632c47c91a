"""通报: the circular a city leader signs on a year's ranking, written from the published marts.

The form an office issues: a 文号 line left for the office to fill, the title, the units addressed, the body
(coverage, first places, tiers, the last place and whether it can be told from the one above it, the largest
moves and whether they are inside the rank band, the weak spots most units share, missing submissions, what
is required by when), the office and the date; then the attachments: the region ranking with score, rank,
band, tier and change (and one table per other ranked role), the ranking policy as a footnote.

Every sentence is built from the marts by a plain function of small frames (`coverage_text`, …), so a year
is never written by hand. Text from the data goes into the document as text runs, never as markup.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from docx import Document
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from docx.table import Table

from pipelines.lib.documents import Read, failed, no_warehouse, published_tables, reader, say
from pipelines.lib.notices import OFFICE, chinese_date, set_font

if TYPE_CHECKING:
    from pipelines.lib.rulebook import Rulebook

TITLE = "关于{year}年度党政主要负责人履行推进法治建设第一责任人职责情况的通报"
DOC_NUMBER = "〔　　　　〕　　号"  # the office fills in its prefix, year and number
ADDRESSEE = "各县（区）党委、政府，市直各部门："
FILE_NAME = "{year}年度法治建设第一责任人履职情况通报.docx"
NUMERALS = "一二三四五六七八九十"
STATUS_LABELS = {"missing": "缺报", "pending": "待审", "incomplete": "材料不全", "scored": "已计分"}
# The marts a circular reads; an older warehouse lacks some and must be rebuilt first.
TABLES = ("region_rankings", "unit_scores", "rank_stability", "weak_spots", "rulebook_roles", "publication")
COMMON_SPOTS = 3  # how many shared weak spots the body names
# The attachment's columns (heading, width in cm, 24.3 cm across a landscape page); a region's role scores
# (2 cm each) go after the first three.
REGION_HEADINGS = [
    ("名次", 2.4),
    ("县区", 3.2),
    ("综合得分", 2.0),
    ("名次区间", 2.4),
    ("梯队", 2.0),
    ("名次变化", 4.2),
    ("备注", 4.0),
]
UNIT_HEADINGS = [
    ("名次", 2.4),
    ("单位", 5.4),
    ("县区", 2.4),
    ("得分", 2.0),
    ("名次区间", 2.4),
    ("梯队", 2.0),
    ("名次变化", 3.8),
    ("备注", 3.8),
]

REGIONS_SQL = """
    select r.region, r.score, r.party_score, r.government_score, r.rank, r.prev_rank, r.rank_change,
           r.is_bottom, r.score_change, r.rank_total, r.subject_total, r.status, r.note,
           s.p05, s.p95, s.tier, s.tier_name, s.stable_change, s.above_subject, s.p_below_above,
           s.distinct_from_above, s.draws
    from marts.region_rankings r
    left join marts.rank_stability s on s.year = r.year and s.scope = 'region' and s.subject = r.region
    where r.year = $year
    order by r.rank nulls last, r.region"""
UNITS_SQL = """
    select u.unit_id, u.unit_name, u.region, u.role, coalesce(u.scaled_score, u.score) as score, u.rank,
           u.prev_rank, u.rank_total, u.subject_total, u.status, u.sheet_due, u.is_bottom,
           s.p05, s.p95, s.tier, s.tier_name, s.stable_change
    from marts.unit_scores u
    left join marts.rulebook_roles o using (role)
    left join marts.rank_stability s
           on s.year = u.year and s.scope = u.role and s.subject = u.unit_id
    where u.year = $year
    order by o.display_order, u.rank nulls last, u.region, u.unit_name"""
WEAK_SQL = """
    select scope, scope_id, item, metric, value, note
    from marts.weak_spots
    where year = $year and scope in ('task', 'requirement')"""
ROLES_SQL = """
    select role, name, unit_type, in_region_score, region_position, display_order
    from marts.rulebook_roles
    order by display_order"""
PUBLICATION_SQL = "select * from marts.publication"

# XML 1.0 cannot hold these; python-docx would refuse the whole document.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass
class Marts:
    """What one year's circular is written from."""

    year: int
    regions: pd.DataFrame  # region_rankings with the region's rank_stability columns
    units: pd.DataFrame  # unit_scores with the unit's rank_stability columns
    weak: pd.DataFrame  # the shared weak spots (tasks, requirements)
    roles: pd.DataFrame  # rulebook_roles in display order
    publication: pd.Series


def load(read: Read, year: int) -> Marts:
    return Marts(
        year=year,
        regions=read(REGIONS_SQL, year=year),
        units=read(UNITS_SQL, year=year),
        weak=read(WEAK_SQL, year=year),
        roles=read(ROLES_SQL),
        publication=read(PUBLICATION_SQL).iloc[0],
    )


# -- small formatting helpers ---------------------------------------------------------------------------


def _missing(value: object) -> bool:
    return value is None or bool(pd.isna(value))  # type: ignore[call-overload]


def _yes(value: object) -> bool:
    """A boolean cell that is true (a frame holds True, numpy's True, or a missing value)."""
    return not _missing(value) and bool(value)


def _no(value: object) -> bool:
    return not _missing(value) and not bool(value)


def score_text(value: object) -> str:
    """A score as a circular writes it: up to two decimals, no trailing zeros (87.25, 87.5, 90)."""
    if _missing(value):
        return "—"
    return f"{float(value):.2f}".rstrip("0").rstrip(".")  # type: ignore[arg-type]


def percent_text(share: object) -> str:
    return "—" if _missing(share) else f"{round(float(share) * 100)}%"  # type: ignore[arg-type]


def names_text(names: Iterable[object]) -> str:
    return "、".join(str(n) for n in names)


def band_text(p05: object, p95: object) -> str:
    """The 5-95 % band of simulated ranks: 第2–4名, or 第1名 when it never moves."""
    if _missing(p05) or _missing(p95):
        return "—"
    low, high = int(p05), int(p95)  # type: ignore[call-overload]
    return f"第{low}名" if low == high else f"第{low}–{high}名"


def rank_cell(rank: object, tied: bool, status: object) -> str:
    if _missing(rank):
        return STATUS_LABELS.get(str(status), "未排名")
    return f"{int(rank)}（并列）" if tied else str(int(rank))  # type: ignore[call-overload]


def change_cell(change: object, stable: object) -> str:
    """A rank change for the table: 上升2位 / 下降1位 / 持平, and 基本稳定 when inside the band."""
    if _missing(change):
        return "—"
    n = int(change)  # type: ignore[call-overload]
    text = f"上升{n}位" if n > 0 else f"下降{-n}位" if n < 0 else "持平"
    return f"{text}（基本稳定）" if n != 0 and _yes(stable) else text


def _ranked(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["rank"].notna()]


def _tied(ranks: pd.Series) -> pd.Series:
    return ranks.notna() & ranks.duplicated(keep=False)


def _role_names(roles: pd.DataFrame) -> dict[str, str]:
    return dict(zip(roles["role"], roles["name"], strict=True))


# -- the body's paragraphs ------------------------------------------------------------------------------


def intro_text(year: int, office: str = OFFICE) -> str:
    return (
        f"根据全面依法治市工作安排，{office}对{year}年度各县（区）和市直各部门党政主要负责人履行推进法治建设"
        "第一责任人职责情况进行了考核，按考核规则计分排名。现将有关情况通报如下。"
    )


def coverage_text(regions: pd.DataFrame, units: pd.DataFrame, roles: pd.DataFrame) -> str:
    """How many regions and units are ranked out of how many, the spread of scores, who is not ranked."""
    ranked = _ranked(regions)
    total = len(regions)
    parts = [f"{len(ranked)}/{total}个县区参与排名"]
    if len(ranked):
        scores = ranked["score"].astype(float)
        parts.append(
            f"平均得分{score_text(scores.mean())}分，最高{score_text(scores.max())}分，"
            f"最低{score_text(scores.min())}分"
        )
    out = "，".join(parts) + "。"
    unranked = regions[regions["rank"].isna()]
    if len(unranked):
        shown = names_text(f"{r}（{STATUS_LABELS.get(str(s), '未排名')}）" for r, s in _pairs(unranked))
        out += f"未参与排名的县区：{shown}。"
    by_role = _role_coverage(units, roles)
    if by_role:
        out += f"各类单位参与排名情况：{by_role}。"
    return out


def _pairs(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(frame["region"], frame["status"], strict=True))


def _role_coverage(units: pd.DataFrame, roles: pd.DataFrame) -> str:
    parts = []
    for role, name in _role_names(roles).items():
        own = units[units["role"] == role]
        if len(own):
            parts.append(f"{name}{int(own['rank'].notna().sum())}/{len(own)}个")
    return "，".join(parts)


def first_places_text(regions: pd.DataFrame, units: pd.DataFrame, roles: pd.DataFrame) -> str:
    """The first places: the regions', then each role's units' (ties named together)."""
    firsts = regions[regions["rank"] == 1]
    if firsts.empty:
        return "本年度尚无县区参与排名。"
    out = f"县区综合排名{_first(firsts['region'], firsts['score'])}。"
    parts = []
    for role, name in _role_names(roles).items():
        top = units[(units["role"] == role) & (units["rank"] == 1)]
        if len(top):
            parts.append(f"{name}{_first(top['unit_name'], top['score'])}")
    if parts:
        out += f"各类单位中，{'；'.join(parts)}。"
    return out


def _first(names: pd.Series, scores: pd.Series) -> str:
    score = score_text(scores.iloc[0])
    if len(names) > 1:
        return f"{names_text(names)}并列第一名（{score}分）"
    return f"第一名为{names.iloc[0]}（{score}分）"


def tiers_text(regions: pd.DataFrame) -> str:
    """The tiers of the ranked regions: regions whose rank bands overlap are one tier."""
    tiered = regions[regions["rank"].notna() & regions["tier"].notna()]
    if tiered.empty:
        return ""
    groups = [
        f"{group['tier_name'].iloc[0]}：{names_text(group.sort_values(['rank', 'region'])['region'])}"
        for _, group in tiered.groupby("tier", sort=True)
    ]
    return (
        f"按名次区间划分，{'；'.join(groups)}。同一梯队的县区名次区间相互重叠，"
        "其名次先后在评分的不确定性范围之内，不宜作实质区分。"
    )


def last_place_text(regions: pd.DataFrame) -> str:
    """Each last place, and whether its score is lower than the one above it often enough to tell."""
    bottom = regions[regions["is_bottom"].fillna(False).astype(bool)]
    return "".join(_bottom_sentence(row) for _, row in bottom.iterrows())


def _bottom_sentence(row: pd.Series) -> str:
    out = f"{row['region']}列末位（第{int(row['rank'])}名，{score_text(row['score'])}分）。"
    if _missing(row["above_subject"]) or _missing(row["p_below_above"]):
        return out
    share = f"在{int(row['draws'])}次模拟中，其得分低于上一名{row['above_subject']}的占{percent_text(row['p_below_above'])}"
    if _yes(row["distinct_from_above"]):
        return out + f"{share}，与上一名可以明确区分。"
    return out + f"{share}，与上一名的差距在评分的不确定性范围之内，末位不能明确区分。"


def moves_text(regions: pd.DataFrame) -> str:
    """The largest rise and fall against last year, each said to be inside the band (基本稳定) or not."""
    moved = regions[regions["rank_change"].notna() & regions["rank"].notna()]
    if moved.empty:
        return "上年无可比排名，本年度不作名次变化比较。"
    changes = moved["rank_change"].astype(int)
    rise, fall = changes.max(), changes.min()
    return "与上年相比，" + "".join(
        [
            _moves(moved[changes == rise], "上升") if rise > 0 else "没有县区名次上升。",
            _moves(moved[changes == fall], "下降") if fall < 0 else "没有县区名次下降。",
        ]
    )


def _moves(rows: pd.DataFrame, word: str) -> str:
    each = []
    for _, r in rows.iterrows():
        band = band_text(r["p05"], r["p95"])
        how = (
            f"上年名次在本年名次区间（{band}）之内，属基本稳定"
            if _yes(r["stable_change"])
            else f"上年名次在本年名次区间（{band}）之外，属实质性变化"
            if _no(r["stable_change"])
            else "无名次区间可比"
        )
        n = abs(int(r["rank_change"]))
        each.append(
            f"{r['region']}由第{int(r['prev_rank'])}名{word}至第{int(r['rank'])}名（{word}{n}位），{how}"
        )
    return f"名次{word}最多的是{'；'.join(each)}。"


def weak_spots_text(weak: pd.DataFrame, roles: pd.DataFrame, limit: int = COMMON_SPOTS) -> str:
    """The weak spots most units share: score-sheet tasks at least half the units lose points on, and
    requirements at least half the unit-periods miss, the widest first."""
    names = _role_names(roles)
    tasks = weak[weak["scope"] == "task"].assign(share=lambda f: f["value"].astype(float))
    needs = weak[weak["scope"] == "requirement"].assign(share=lambda f: 1 - f["value"].astype(float))
    spots = pd.concat([tasks, needs])
    spots = spots[spots["share"] >= 0.5].sort_values(["share", "scope_id"], ascending=[False, True])
    if spots.empty:
        return "本年度未发现多数单位共有的短板。"
    items = [f"{NUMERALS[i]}是{_spot(r, names)}" for i, (_, r) in enumerate(spots.head(limit).iterrows())]
    return "多数单位存在的共性短板：" + "；".join(items) + "。"


def _spot(row: pd.Series, names: dict[str, str]) -> str:
    item = str(row["item"]).rstrip("。；;. ")
    if row["scope"] == "task":
        role, _, task_no = str(row["scope_id"]).partition("-")
        return f"{names.get(role, role)}第{task_no}项“{item}”失分较多，{row['note']}"
    return f"“{item}”落实不到位，{row['note']}"


def missing_units(units: pd.DataFrame) -> pd.DataFrame:
    """The 缺报 units, in the order the units come (by role, then region and name)."""
    return units[units["status"] == "missing"]


def submissions_text(units: pd.DataFrame) -> str:
    """缺报 units by name; 待审 units only as a count, with the due date they still have."""
    missing = missing_units(units)
    pending = units[units["status"] == "pending"]
    out = (
        f"以下{len(missing)}个单位逾期未报送打分表（缺报），未参与排名：{names_text(missing['unit_name'])}。"
        if len(missing)
        else "没有单位逾期缺报打分表。"
    )
    if len(pending):
        due = pending["sheet_due"].dropna()
        until = f"（报送期限{chinese_date(pd.Timestamp(due.min()).date())}）" if len(due) else ""
        out += f"另有{len(pending)}个单位的打分表尚在报送期限内{until}，列为待审，暂不参与排名。"
    return out


def requirements_text(
    missing: pd.DataFrame, regions: pd.DataFrame, deadline: date, days: int, office: str = OFFICE
) -> list[str]:
    """What is required next and by when: the missing resubmit, the last places explain and rectify."""
    by = f"{chinese_date(deadline)}前（自本通报印发之日起{days}日内）"
    out = []
    if len(missing):
        out.append(f"缺报单位（{names_text(missing['unit_name'])}）须于{by}补报本年度打分表及相关佐证材料。")
    bottom = regions[regions["is_bottom"].fillna(False).astype(bool)]
    if len(bottom):
        out.append(
            f"末位县区（{names_text(bottom['region'])}）党政主要负责人须于{by}向{office}书面说明情况，"
            "提出整改措施和完成时限。"
        )
    out.append("各县（区）、各部门要对照本通报指出的共性短板，逐项查找原因，举一反三抓好整改。")
    return [f"（{NUMERALS[i]}）{text}" for i, text in enumerate(out)]


def _rulebook(publication: pd.Series) -> Rulebook:
    """The rulebook the marts were built with (the bundled default when that one is no longer here)."""
    from pipelines.lib.rulebook import RulebookError, load_rulebook

    try:
        return load_rulebook(str(publication.get("rulebook_id") or "default"))
    except RulebookError:
        return load_rulebook("default")


def resubmit_days(publication: pd.Series) -> int:
    """Days to resubmit and rectify: the published value where the warehouse carries it, else the
    rulebook's."""
    if not _missing(publication.get("resubmit_days")):
        return int(publication["resubmit_days"])
    return int(_rulebook(publication).resubmit_days)


def band_percentiles(publication: pd.Series) -> tuple[int, int]:
    """The rank band's quantiles as percentiles (5, 95): published where the warehouse carries them."""
    if not _missing(publication.get("band_low")) and not _missing(publication.get("band_high")):
        low, high = float(publication["band_low"]), float(publication["band_high"])
    else:
        low, high = _rulebook(publication).stability.band
    return round(low * 100), round(high * 100)


# -- the attachment's tables ------------------------------------------------------------------------------


def region_score_headings(roles: pd.DataFrame) -> dict[str, str]:
    """party_score/government_score → 党委得分/政府得分: the roles at region positions 1 and 2."""
    columns = {1: "party_score", 2: "government_score"}
    placed = roles[roles["in_region_score"].fillna(False).astype(bool)]
    return {
        columns[int(p)]: f"{t}得分"
        for p, t in zip(placed["region_position"], placed["unit_type"], strict=True)
        if int(p) in columns
    }


def region_rows(regions: pd.DataFrame, score_columns: list[str]) -> list[list[str]]:
    tied = _tied(regions["rank"]).tolist()
    return [
        [
            rank_cell(r["rank"], tie, r["status"]),
            str(r["region"]),
            score_text(r["score"]),
            *(score_text(r[c]) for c in score_columns),
            band_text(r["p05"], r["p95"]),
            "—" if _missing(r["tier_name"]) else str(r["tier_name"]),
            change_cell(r["rank_change"], r["stable_change"]),
            _remark(r["is_bottom"], r["note"]),
        ]
        for (_, r), tie in zip(regions.iterrows(), tied, strict=True)
    ]


def unit_rows(units: pd.DataFrame) -> list[list[str]]:
    tied = _tied(units["rank"]).tolist()
    return [
        [
            rank_cell(r["rank"], tie, r["status"]),
            str(r["unit_name"]),
            "—" if _missing(r["region"]) else str(r["region"]),
            score_text(r["score"]),
            band_text(r["p05"], r["p95"]),
            "—" if _missing(r["tier_name"]) else str(r["tier_name"]),
            change_cell(_unit_change(r), r["stable_change"]),
            _remark(r["is_bottom"], None),
        ]
        for (_, r), tie in zip(units.iterrows(), tied, strict=True)
    ]


def _unit_change(row: pd.Series) -> object:
    return None if _missing(row["prev_rank"]) or _missing(row["rank"]) else row["prev_rank"] - row["rank"]


def _remark(is_bottom: object, note: object) -> str:
    parts = ["末位"] if _yes(is_bottom) else []
    if not _missing(note) and str(note):
        parts.append(str(note))
    return "；".join(parts)


def unit_tables(units: pd.DataFrame, roles: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Each ranked role outside the region score (市直部门 …), in display order, with its units."""
    out = []
    for _, role in roles.iterrows():
        own = units[units["role"] == role["role"]]
        if not bool(role["in_region_score"]) and own["rank"].notna().any():
            out.append((str(role["name"]), own.reset_index(drop=True)))
    return out


def band_note(regions: pd.DataFrame, percentiles: tuple[int, int]) -> str:
    draws = regions["draws"].dropna()
    times = f"{int(draws.iloc[0])}次" if len(draws) else ""
    return (
        f"名次区间为按考核规则声明的评分不确定性进行{times}模拟所得名次的第{percentiles[0]}至第{percentiles[1]}"
        "百分位；名次区间相互重叠的列为同一梯队；上年名次落在本年名次区间之内的，名次变化为基本稳定。"
    )


# -- the Word document ------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    return _ILLEGAL.sub("", text)


def _run(paragraph, text: str, size: float, font: str, bold: bool = False) -> None:
    run = paragraph.add_run(_clean(text))
    set_font(run, size, bold, font)
    run._element.get_or_add_rPr().find(qn("w:rFonts")).set(
        qn("w:hint"), "eastAsia"
    )  # the quotation marks “” in the Chinese font, full width


def _para(
    doc, text: str, *, size: float = 16, font: str = "仿宋", bold: bool = False, align=None, indent=True
):
    """A paragraph of the body: 仿宋 三号, the first line indented two characters."""
    p = doc.add_paragraph()
    p.paragraph_format.space_after = Pt(0)
    if size >= 16:  # the fixed line pitch of an official document's body; notes keep single spacing
        p.paragraph_format.line_spacing = Pt(28)
    if align is not None:
        p.alignment = align
    elif indent:
        p.paragraph_format.first_line_indent = Pt(size * 2)
    _run(p, text, size, font, bold)
    return p


def _cell(cell, text: str, *, bold: bool = False, center: bool = True) -> None:
    cell.text = ""
    if center:
        cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    _run(cell.paragraphs[0], text, 10.5, "宋体", bold)


def _table(doc, headings: list[tuple[str, float]], rows: list[list[str]]) -> Table:
    table = doc.add_table(rows=1, cols=len(headings))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for column, (_, width) in zip(table.columns, headings, strict=True):
        column.width = Cm(width)  # the grid LibreOffice lays the table out by
    for cell, (heading, width) in zip(table.rows[0].cells, headings, strict=True):
        _cell(cell, heading, bold=True)
        cell.width = Cm(width)
    header = OxmlElement("w:tblHeader")  # the heading row again on every page
    header.set(qn("w:val"), "true")
    table.rows[0]._tr.get_or_add_trPr().append(header)
    for values in rows:
        for cell, value, (heading, width) in zip(table.add_row().cells, values, headings, strict=True):
            _cell(cell, value, center=heading not in ("备注", "单位"))
            cell.width = Cm(width)
    return table


def _page(section, landscape: bool) -> None:
    """A4, the margins of an official document (公文)."""
    long, short = Cm(29.7), Cm(21.0)
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = (long, short) if landscape else (short, long)
    section.top_margin, section.bottom_margin = Cm(3.7), Cm(3.5)
    section.left_margin, section.right_margin = Cm(2.8), Cm(2.6)
    if landscape:
        section.top_margin, section.bottom_margin = Cm(2.5), Cm(2.5)


def _attachment_names(m: Marts) -> list[str]:
    names = [f"{m.year}年度县（区）排名表"]
    names += [f"{m.year}年度{name}排名表" for name, _ in unit_tables(m.units, m.roles)]
    return names


def _body(doc, m: Marts, issued_on: date, days: int) -> None:
    missing = missing_units(m.units)
    sections = [
        ("总体情况", [coverage_text(m.regions, m.units, m.roles)]),
        (
            "排名情况",
            [
                t
                for t in (
                    first_places_text(m.regions, m.units, m.roles),
                    tiers_text(m.regions),
                    last_place_text(m.regions),
                    moves_text(m.regions),
                )
                if t
            ],
        ),
        ("存在的问题", [weak_spots_text(m.weak, m.roles)]),
        ("材料报送情况", [submissions_text(m.units)]),
        ("工作要求", requirements_text(missing, m.regions, issued_on + timedelta(days=days), days)),
    ]
    for i, (heading, paragraphs) in enumerate(sections):
        _para(doc, f"{NUMERALS[i]}、{heading}", font="黑体")
        for text in paragraphs:
            _para(doc, text)


def _closing(doc, m: Marts, issued_on: date) -> None:
    _para(doc, "")
    names = _attachment_names(m)
    if len(names) == 1:
        _para(doc, f"附件：{names[0]}")
    else:
        _para(doc, f"附件：1. {names[0]}")
        for i, name in enumerate(names[1:], start=2):
            _para(doc, f"　　　{i}. {name}")
    _para(doc, "")
    _para(doc, OFFICE, align=WD_ALIGN_PARAGRAPH.RIGHT)
    _para(doc, chinese_date(issued_on), align=WD_ALIGN_PARAGRAPH.RIGHT)


def _attachments(doc, m: Marts) -> None:
    section = doc.add_section(WD_SECTION.NEW_PAGE)
    _page(section, landscape=True)
    names = _attachment_names(m)
    headings = region_score_headings(m.roles)
    _attachment_title(doc, 1, len(names), names[0])
    _table(
        doc,
        [*REGION_HEADINGS[:3], *((h, 2.0) for h in headings.values()), *REGION_HEADINGS[3:]],
        region_rows(m.regions, list(headings)),
    )
    _para(doc, "", size=10.5)
    _para(doc, f"注：1. 排名规则：{m.publication.get('ranking_policy') or '—'}", size=10.5, indent=False)
    _para(doc, f"2. {band_note(m.regions, band_percentiles(m.publication))}", size=10.5, indent=False)
    for i, (_, units) in enumerate(unit_tables(m.units, m.roles), start=2):
        doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        _attachment_title(doc, i, len(names), names[i - 1])
        _table(doc, UNIT_HEADINGS, unit_rows(units))


def _attachment_title(doc, number: int, count: int, name: str) -> None:
    _para(doc, f"附件{number if count > 1 else ''}", font="黑体", indent=False)
    _para(doc, name, size=18, font="宋体", bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)


def circular_docx(read: Read, year: int, as_of: date | None = None) -> bytes:
    """The year's circular as a Word document (.docx), dated `as_of` (default: today, Beijing time); the
    deadlines it sets run from that date."""
    from pipelines.lib.warehouse import today

    m = load(read, year)
    issued_on = as_of or today()
    doc = Document()
    _page(doc.sections[0], landscape=False)
    _para(doc, DOC_NUMBER, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(doc, "")
    _para(doc, TITLE.format(year=year), size=22, font="宋体", bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(doc, "")
    _para(doc, ADDRESSEE, indent=False)
    _para(doc, intro_text(year))
    _body(doc, m, issued_on, resubmit_days(m.publication))
    _closing(doc, m, issued_on)
    _attachments(doc, m)
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


# -- the command line -------------------------------------------------------------------------------------


def _refusal(con, year: int, path: Path) -> str | None:
    """Why this warehouse cannot give the year's circular, in one sentence; None when it can."""
    if not set(TABLES) <= published_tables(con):
        return f"已发布的数据（{path}）中还没有通报所需的表：请先用当前版本运行一次 fazhi run。"
    years = {int(y) for (y,) in con.execute("select distinct year from marts.region_rankings").fetchall()}
    if year not in years:
        shown = "、".join(str(y) for y in sorted(years)) or "无"
        return f"已发布的数据中没有 {year} 年度（有的年度：{shown}）。"
    return None


def circular_command(warehouse: str | None, year: int, out: str | None, as_of: date | None = None) -> int:
    """`fazhi circular --year Y [--out FILE] [--warehouse FILE] [--as-of DATE]`: writes the year's circular
    (.docx) and says where. Exit codes: 0 written; 1 an unexpected failure (details in a log file); 2 no
    published warehouse, or no such year in it."""
    from pipelines.lib.warehouse import Paths, read_only

    path = Paths.from_env(None, warehouse).warehouse
    if no_warehouse(path):
        return 2
    target = Path(out) if out else path.parent / "circulars" / FILE_NAME.format(year=year)
    try:
        with read_only(path) as con:
            refusal = _refusal(con, year, path)
            if refusal:
                say(refusal)
                return 2

            document = circular_docx(reader(con), year, as_of)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(document)
        print(f"已生成 {year} 年度通报（Word）：{target}")
        return 0
    except Exception as error:  # one sentence for the person; the details for the administrator
        return failed(path, error, f"通报未能生成（读取已发布的数据或写入 {target} 时出错）")
