"""Synthetic `data/raw` trees for demos, tests and load tests (`fazhi generate`, SPEC §9).

What it writes is what a city's rule-of-law office really receives (SPEC §4): a unit registry, and per
year the score sheets, meeting/study ledgers, report filing registers and normative-document
registers of every unit, with the small share of mess real offices produce (mixed encodings, date
forms, full-width digits, text scores, aliases, re-submissions, a rare corrupt file …).

Design notes
- The score sheets' tasks come from the rulebook's templates (`load_rulebook().templates`), the
  meeting types are checked against the rulebook's keyword rules, and the numbers hang together:
  each region has a quality level that drifts over the years; the part of a task's points that the
  records decide (evidence links) is derived from the meetings, filings and documents generated
  for that unit, so the verified score agrees with the records while some self-scores claim more.
- Deterministic per seed, byte for byte: every random choice comes from a `random.Random` seeded by
  (seed, year, unit, aspect), so adding a year never changes another year; every timestamp (xlsx
  core properties, zip entry dates, file mtimes) is derived from the year, never the wall clock.
  Rare problems are rationed per year with a low-discrepancy quota (see `_quota`), so a 5-year
  city demo always shows a few of each kind instead of none or a cluster.
- Speed: openpyxl needs ~15 ms a workbook, too slow for 45,000 units, so the bulk .xlsx files come
  from the small writer below (zipfile + string templates, shared strings, merged cells, styles);
  openpyxl and xlwt write a few percent of files, as other producers would.
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import random
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from pipelines.lib.rulebook import Rulebook, Task, Template, load_rulebook

KINDS = ("score_sheets", "meetings", "filings", "normative_docs")
ROLE_UNIT_TYPES = {
    "party": "党委", "government": "政府", "department": "部门",
    "township_party": "乡镇党委", "township_government": "乡镇政府",
}
# Role words in file names, as offices write them.
ROLE_FILE_LABELS = {
    "party": "党委主要负责人", "government": "政府主要负责人", "department": "部门主要负责人",
    "township_party": "乡镇党委主要负责人", "township_government": "乡镇政府主要负责人",
}

# ---------------------------------------------------------------------------------------------
# Rates of mess. File-level kinds are a share of that kind's files per year (rationed by _quota);
# row-level kinds are a per-row probability. Kinds in ISSUE_KINDS should make the pipeline report
# an ingest issue; the others are variety the parsers must take in their stride, or (filing_*,
# normative_*) shortfalls the marts should show.
# ---------------------------------------------------------------------------------------------
SHEET_RATES = {
    "legacy_xls": 0.04,        # BIFF8 .xls (xlwt)
    "openpyxl_writer": 0.04,   # written by another producer (openpyxl's styles and layout)
    "notes_sheet": 0.08,       # an extra 说明 sheet (sometimes before the score sheet)
    "empty_sheets": 0.06,      # Sheet2/Sheet3 left empty
    "blank_rows": 0.10,        # blank rows between duty groups
    "fullwidth_digits": 0.08,  # （６分）, １２ …
    "score_text": 0.06,        # scores typed as text: '4.5分', '5'
    "score_blank": 0.04,       # one or two score cells left blank
    "score_invalid": 0.02,     # '优', a negative number or more than the task's points
    "total_mismatch": 0.03,    # 合计 does not equal the sum of the task rows
    "total_missing": 0.03,     # no 合计 row
    "unit_alias": 0.15,        # 被考核单位 written as an alias or 中共/委员会/人民政府 variant
    "unit_unknown": 0.005,     # 被考核单位 misspelled: matches no registry name
    "task_missing": 0.01,      # a template task left out
    "task_unknown": 0.008,     # an extra task number the template does not know
    "year_mismatch": 0.006,    # 年度 inside says the year before the folder's
    "resubmission": 0.03,      # a corrected file (…_更正.xlsx) follows the first one
    "corrupt_file": 0.006,     # truncated zip
}
LEDGER_RATES = {
    "legacy_xls": 0.04,
    "xlsx": 0.16,
    "serial_dates": 0.03,      # the date column holds Excel serial numbers as plain numbers
    "blank_rows": 0.05,
    "unit_unknown": 0.005,
    "corrupt_file": 0.004,     # only .xlsx ledgers are truncated
}
ROW_RATES = {
    "date_unparseable": 0.003,
    "date_other_year": 0.002,  # a typo puts the meeting in the year before
    "duplicate_row": 0.01,
}
CSV_ENCODINGS = (("gbk", 0.55), ("utf-8-sig", 0.25), ("utf-8", 0.15), ("gb18030", 0.05))
VERIFIED_SHARE = {"region": 0.6, "department": 0.55, "township": 0.4}  # sheets with 督察 scores
ISSUE_KINDS = frozenset({
    "score_blank", "score_invalid", "total_mismatch", "unit_unknown", "task_missing", "task_unknown",
    "year_mismatch", "resubmission", "corrupt_file", "date_unparseable", "date_other_year", "duplicate_row",
})
# Target meeting rows per unit and year (SPEC §8: ~3,000 a year at city scale, ~50 a unit).
ROWS_PER_UNIT = {"party": 35, "government": 40, "department": 55, "township_party": 55,
                 "township_government": 55}


# ---------------------------------------------------------------------------------------------
# Names: Puyang for the city scale, synthesized places for province and nation.
# ---------------------------------------------------------------------------------------------
CITY = "濮阳"
PUYANG_REGIONS = [  # (name, kind): kind county | district | zone
    ("华龙区", "district"), ("濮阳县", "county"), ("清丰县", "county"), ("南乐县", "county"),
    ("范县", "county"), ("台前县", "county"), ("濮阳经济技术开发区", "zone"),
    ("濮阳工业园区", "zone"), ("濮阳示范区", "zone"),
]
PUYANG_TOWNSHIPS = [("清丰县", "韩村镇"), ("清丰县", "马庄桥镇"), ("华龙区", "孟轲乡"), ("台前县", "夹河乡")]
# (name after the city, common short form, 文号 abbreviation). The first 40 are Puyang's.
DEPARTMENTS = [
    ("人民政府办公室", "政府办", "政办"), ("发展和改革委员会", "发改委", "发改"), ("教育局", "教育局", "教"),
    ("科学技术局", "科技局", "科"), ("工业和信息化局", "工信局", "工信"), ("公安局", "公安局", "公"),
    ("民政局", "民政局", "民"), ("司法局", "司法局", "司"), ("财政局", "财政局", "财"),
    ("人力资源和社会保障局", "人社局", "人社"), ("自然资源和规划局", "自然资源局", "自然资"),
    ("生态环境局", "生态环境局", "环"), ("住房和城乡建设局", "住建局", "建"), ("城市管理局", "城管局", "城管"),
    ("交通运输局", "交通局", "交"), ("水利局", "水利局", "水"), ("农业农村局", "农业农村局", "农"),
    ("商务局", "商务局", "商"), ("文化广电和旅游局", "文广旅局", "文广旅"), ("卫生健康委员会", "卫健委", "卫"),
    ("退役军人事务局", "退役军人局", "退役"), ("应急管理局", "应急局", "应急"), ("审计局", "审计局", "审"),
    ("人民政府国有资产监督管理委员会", "国资委", "国资"), ("市场监督管理局", "市场监管局", "市监"),
    ("体育局", "体育局", "体"), ("统计局", "统计局", "统"), ("医疗保障局", "医保局", "医保"),
    ("信访局", "信访局", "信"), ("机关事务管理局", "机关事务局", "机管"),
    ("政务服务和大数据管理局", "大数据局", "数据"), ("人民防空办公室", "人防办", "人防"),
    ("粮食和物资储备局", "粮储局", "粮"), ("民族宗教事务局", "民宗局", "宗"), ("乡村振兴局", "乡村振兴局", "振兴"),
    ("地方金融监督管理局", "金融局", "金融"), ("住房公积金管理中心", "公积金中心", "公积金"),
    ("人民政府外事办公室", "外办", "外"), ("供销合作社", "供销社", "供销"),
    ("公共资源交易中心", "交易中心", "交易"), ("林业局", "林业局", "林"), ("投资促进局", "投促局", "投促"),
    ("消防救援支队", "消防支队", "消防"), ("气象局", "气象局", "气"),
]
# Syllables for synthesized place names (all in GBK), each once.
PLACE_SYLLABLES = "".join(dict.fromkeys(
    "安平河山阳城宁清丰源泉林水长新东西南北江海云龙凤华昌兴永和泰康德庆广武文明洪桂柳石金玉宝定乐临"
    "汾淮沙湖溪峰岭原川陵台营桥坪塘沁涧滨洛渭嵩岳恒嘉瑞祥福寿吉利通远春秋榆槐杨柏松竹兰桃梅莲荷"
    "青白黄红丹紫翠碧阜章德彰汝颍潢澄灵宜怀仁信义礼智方圆高大小中上下前后左右内外固始商息遂绥望"
))
SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董肖程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁"
    "魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹"
)
GIVEN_CHARS = "建国伟军明华志强新海红霞丽敏平峰磊涛勇杰文东立春秋玉兰芳晓宏振德成卫光永忠林辉鹏静燕洪利庆宁亮刚俊超斌波彬飞鑫瑞凯浩"
# A misspelling map: one character an office might get wrong (by sound or shape).
MISSPELL = dict(zip("清丰南华龙阳台前乐范安平河山城宁源泉林水新东西江海云凤昌兴永和泰康德庆广武文明", "青峰楠化隆扬苔钱勒泛按坪和衫成凝原全临税心冬希将还运奉长星勇河太糠得亲光午闻名"))


@dataclass
class Unit:
    name: str
    role: str
    region: str  # 所属县区
    aliases: tuple[str, ...]
    city: str  # the city stem, e.g. 濮阳
    place: str  # what 被考核单位 may say instead of the name: the region or township
    words: dict[str, str]  # text pieces for meeting types/topics: CW 县委, RW 县, GW 县政府 …
    quality_key: str  # units of one region share its quality level
    doc_abbr: str  # 文号 prefix of its normative documents


@dataclass
class Group:
    """Units whose filings and normative documents one register lists (a region, or ~10 departments)."""

    label: str
    units: list[Unit] = field(default_factory=list)


@dataclass
class Registry:
    groups: list[Group]
    regions: list[str]

    @property
    def units(self) -> list[Unit]:
        return [u for g in self.groups for u in g.units]


@dataclass(frozen=True)
class ScaleSpec:
    cities: int
    counties_per_city: tuple[int, int]
    zones_per_city: tuple[int, int]
    departments_per_city: tuple[int, int]
    townships_per_region: tuple[int, int]


SCALES = {  # SPEC §8: province ~150 regions / ~3,000 units; nation ~2,900 / ~45,000
    "province": ScaleSpec(15, (7, 10), (1, 2), (36, 44), (5, 9)),
    "nation": ScaleSpec(290, (7, 10), (1, 2), (36, 44), (3, 6)),
}


def _region_words(kind: str) -> dict[str, str]:
    if kind == "zone":
        return {"CW": "党工委", "RW": "区", "GW": "管委会"}
    suffix = {"county": "县", "district": "区", "city": "市"}[kind]
    return {"CW": f"{suffix}委", "RW": suffix, "GW": f"{suffix}政府"}


def _region_units(name: str, kind: str, city: str, city_scale: bool) -> list[Unit]:
    words = _region_words(kind)
    abbr = name[0] if kind != "zone" else name.replace(city, "")[0]
    if kind == "zone":
        short = name.replace(city, "").replace("经济技术开发区", "开发区").replace("高新技术产业开发区", "高新区")
        party_aliases = [f"{name}党工委", f"中共{name}工委"] + ([f"{short}党工委"] if city_scale else [])
        gov_aliases = [f"{name}管委会"] + ([f"{short}管委会"] if city_scale else [])
        party_name, gov_name = f"中共{name}工作委员会", f"{name}管理委员会"
    else:
        prefix = f"{city}市" if kind == "district" else ""
        party_name, gov_name = f"中共{prefix}{name}委员会", f"{prefix}{name}人民政府"
        party_aliases = [f"{name}委", f"中共{name}委"]
        gov_aliases = [f"{name}政府"] + ([f"{name}人民政府"] if prefix else [])
    common = dict(region=name, city=city, place=name, words=words, quality_key=f"region:{name}")
    return [
        Unit(party_name, "party", aliases=tuple(party_aliases), doc_abbr=f"{abbr}委", **common),
        Unit(gov_name, "government", aliases=tuple(gov_aliases), doc_abbr=f"{abbr}政", **common),
    ]


def _township_units(region: str, town: str, city: str, city_scale: bool) -> list[Unit]:
    street = town.endswith("街道")
    tw = "街道" if street else town[-1]
    words = {"CW": f"{tw}党委" if not street else "街道党工委", "RW": tw, "GW": f"{tw}政府"}
    common = dict(region=region, city=city, place=f"{region}{town}", words=words,
                  quality_key=f"region:{region}", doc_abbr=town[0])
    if street:
        party = Unit(f"中共{region}{town}工作委员会", "township_party",
                     aliases=(f"{region}{town}党工委",) + ((f"{town}党工委",) if city_scale else ()), **common)
        gov = Unit(f"{region}{town}办事处", "township_government",
                   aliases=(f"{region}{town}政府",) + ((f"{town}办事处",) if city_scale else ()), **common)
    else:
        party = Unit(f"中共{region}{town}委员会", "township_party",
                     aliases=(f"{region}{town}党委",) + ((f"{town}党委",) if city_scale else ()), **common)
        gov = Unit(f"{region}{town}人民政府", "township_government",
                   aliases=(f"{region}{town}政府",) + ((f"{town}政府", f"{town}人民政府") if city_scale else ()),
                   **common)
    return [party, gov]


def _department_units(city: str, entries: list[tuple[str, str, str]], city_scale: bool) -> list[Unit]:
    out = []
    for core, short, abbr in entries:
        aliases = [f"市{short}", short] if city_scale else []
        if short != core:
            aliases.append(f"{city}市{short}")
        out.append(Unit(
            f"{city}市{core}", "department", region="市直" if city_scale else f"{city}市直",
            aliases=tuple(dict.fromkeys(aliases)), city=city, place=f"{city}市{core}",
            words={"CW": "党组", "RW": "局", "GW": "局"}, quality_key=f"dept:{city}市{core}",
            doc_abbr=f"{city[0]}{abbr}",
        ))
    return out


def _department_groups(city: str, units: list[Unit], city_scale: bool) -> list[Group]:
    size = 10
    prefix = "市直部门" if city_scale else f"{city}市直部门"
    return [Group(f"{prefix}第{i // size + 1}组", units[i:i + size]) for i in range(0, len(units), size)]


def build_registry(scale: str = "city", seed: int = 0) -> Registry:
    """The units of a city, province or nation: independent of the years generated."""
    if scale == "city":
        groups = []
        for name, kind in PUYANG_REGIONS:
            units = _region_units(name, kind, CITY, True)
            for region, town in PUYANG_TOWNSHIPS:
                if region == name:
                    units += _township_units(region, town, CITY, True)
            groups.append(Group(name, units))
        departments = _department_units(CITY, DEPARTMENTS[:40], True)
        groups += _department_groups(CITY, departments, True)
        return Registry(groups, [n for n, _ in PUYANG_REGIONS])
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: city, province or nation")
    spec = SCALES[scale]
    rng = random.Random(f"{seed}|registry|{scale}")
    stems = _unique_stems(rng, spec.cities * (spec.counties_per_city[1] + 1))
    groups: list[Group] = []
    regions: list[str] = []
    for _ in range(spec.cities):
        city = stems.pop()
        region_specs = []
        for _ in range(rng.randint(*spec.counties_per_city)):
            kind = rng.choices(("county", "district", "city"), (6, 3, 1))[0]
            stem = stems.pop()
            region_specs.append((stem + {"county": "县", "district": "区", "city": "市"}[kind], kind))
        zone_kinds = ["经济技术开发区", "高新技术产业开发区", "城乡一体化示范区"]
        for z in rng.sample(zone_kinds, rng.randint(*spec.zones_per_city)):
            region_specs.append((f"{city}{z}", "zone"))
        for name, kind in region_specs:
            units = _region_units(name, kind, city, False)
            towns = _township_names(rng, rng.randint(*spec.townships_per_region), kind)
            for town in towns:
                units += _township_units(name, town, city, False)
            groups.append(Group(name, units))
            regions.append(name)
        n_dept = rng.randint(*spec.departments_per_city)
        entries = DEPARTMENTS[:40] + rng.sample(DEPARTMENTS[40:], max(0, n_dept - 40))
        entries = rng.sample(entries, n_dept) if n_dept < 40 else entries
        groups += _department_groups(city, _department_units(city, entries, False), False)
    return Registry(groups, regions)


def _unique_stems(rng: random.Random, n: int) -> list[str]:
    pairs = [a + b for a in PLACE_SYLLABLES for b in PLACE_SYLLABLES if a != b]
    if n > len(pairs):
        raise ValueError("not enough place-name syllables for this scale")
    return rng.sample(pairs, n)


def _township_names(rng: random.Random, n: int, region_kind: str) -> list[str]:
    names: list[str] = []
    while len(names) < n:
        stem = rng.choice(PLACE_SYLLABLES) + rng.choice(PLACE_SYLLABLES)
        suffix = rng.choices(("镇", "乡", "街道"), (5, 3, 4 if region_kind == "district" else 1))[0]
        if stem[0] != stem[1] and not any(x.startswith(stem) for x in names):
            names.append(stem + suffix)
    return names


# ---------------------------------------------------------------------------------------------
# Meeting texts: (type, topic) as offices write them. Each kind names the rulebook meeting type it
# should be classified as ("other": none); tests check the catalog against the rulebook.
# ---------------------------------------------------------------------------------------------
LAWS = (
    "《中华人民共和国宪法》", "《中华人民共和国民法典》", "《中华人民共和国行政处罚法》",
    "《中华人民共和国行政复议法》", "《中华人民共和国行政诉讼法》", "《中华人民共和国安全生产法》",
    "《中华人民共和国国家安全法》", "《中华人民共和国保守国家秘密法》", "《中华人民共和国监察法》",
    "《中华人民共和国土地管理法》", "《中华人民共和国环境保护法》", "《中华人民共和国食品安全法》",
    "《中华人民共和国未成年人保护法》", "《中华人民共和国乡村振兴促进法》", "《中华人民共和国公职人员政务处分法》",
    "《优化营商环境条例》", "《信访工作条例》", "《重大行政决策程序暂行条例》", "《中国共产党政法工作条例》",
    "《中国共产党纪律处分条例》", "《中华人民共和国个人信息保护法》", "《中华人民共和国数据安全法》",
    "《中华人民共和国反电信网络诈骗法》", "《中华人民共和国预算法》", "《中华人民共和国行政许可法》",
    "《中华人民共和国治安管理处罚法》", "《中华人民共和国妇女权益保障法》", "《中华人民共和国政府采购法》",
)
# kind → role family → ([types], [topics]); {law} {CW} {RW} {GW} {Y} are filled in.
MEETING_TEXTS: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "committee_hearing": {
        "party": (("{CW}常委会", "常委会会议", "{CW}常委会议", "常委扩大会议"),
                  ("听取全{RW}法治建设工作情况汇报", "听取依法治{RW}办关于法治建设工作的汇报",
                   "专题听取法治建设工作汇报并研究部署下步工作", "听取{Y}年法治建设工作汇报，研究解决重大问题")),
        "township_party": (("党委会", "党委会议", "{RW}党委会议"),
                           ("听取全{RW}法治建设工作汇报", "听取司法所关于法治建设工作情况的汇报",
                            "研究法治建设重大问题，听取工作汇报")),
    },
    "central_group_study": {
        "*": (("理论学习中心组学习", "中心组学习", "中心组专题学习", "{CW}理论学习中心组集体学习"),
              ("专题学习{law}", "学习{law}", "集中学习{law}并交流研讨", "学法：{law}", "学习宪法和党内法规")),
    },
    "xi_thought_study": {
        "*": (("理论学习中心组学习", "中心组学习", "中心组专题学习"),
              ("专题学习习近平法治思想", "深入学习习近平法治思想核心要义", "学习《习近平法治思想学习纲要》",
               "学习贯彻习近平法治思想，研讨推进法治{RW}建设")),
    },
    "collective_study": {
        "*": (("集体学法", "班子集体学法", "集中学法"), ("学习{law}", "{law}解读", "学习{law}相关条款")),
        "government": (("政府常务会议", "{GW}常务会议", "集体学法"),
                       ("常务会议学法：{law}", "常务会议学法：{law}", "集体学法：{law}")),
    },
    "pre_meeting_study": {
        "*": (("会前学法",), ("学习{law}", "{law}")),
        "party": (("常委会会前学法", "会前学法"), ("学习{law}", "{law}")),
        "government": (("常务会议会前学法", "会前学法"), ("学习{law}", "{law}")),
        "department": (("党组会会前学法", "局务会会前学法", "会前学法"), ("学习{law}", "{law}", "学习{law}有关规定")),
    },
    "law_lecture": {
        "*": (("法治讲座", "专题法治讲座", "法治专题讲座", "领导干部法治讲座"),
              ("{law}专题讲座", "邀请律师解读{law}", "邀请法学教授讲授{law}", "“谁执法谁普法”专题辅导")),
    },
    "gov_rol_meeting": {
        "*": (("政府常务会议", "专题会议", "{GW}专题会议", "{GW}常务会议"),
              ("研究部署法治政府建设工作", "专题研究法治政府建设重点任务", "听取法治政府建设工作汇报", "研究推进依法行政工作")),
    },
    "leading_group_meeting": {
        "*": (("领导小组会议", "法治政府建设领导小组会议", "领导小组全体会议"),
              ("法治政府建设领导小组{Y}年度全体会议", "研究部署年度法治政府建设工作", "召开法治政府建设工作领导小组会议")),
    },
    "enforcement_training": {
        "*": (("执法人员培训", "行政执法培训", "业务培训", "法治培训"),
              ("行政执法人员法治培训", "执法规范化培训", "{law}执法实务培训", "行政执法证件换证培训")),
    },
}
# Meetings no requirement counts, as (type, topic) pairs: the rulebook should classify them as other.
OTHER_MEETINGS = {
    "party": (("{CW}常委会", "研究部署乡村振兴重点工作"), ("常委会会议", "传达学习省委全会精神"),
              ("{CW}常委会", "研究安全生产和防汛工作"), ("民主生活会", "领导班子专题民主生活会"),
              ("中心组学习", "学习贯彻全国两会精神"), ("主题党日", "开展主题党日活动"),
              ("普法宣传", "“宪法宣传周”集中宣传活动"), ("调研", "调研基层党建工作")),
    "government": (("政府常务会议", "研究老旧小区改造项目"), ("{GW}常务会议", "审议财政预算调整方案"),
                   ("专题会议", "研究招商引资重点项目推进工作"), ("政府常务会议", "研究部署防汛抗旱工作"),
                   ("普法宣传", "“4·15”全民国家安全教育日宣传活动"), ("调研", "调研重点项目建设")),
    "department": (("党组会", "研究部署年度重点工作"), ("局务会", "研究干部职工年度考核工作"),
                   ("主题党日", "开展主题党日活动"), ("普法宣传", "开展“八五”普法进社区活动"),
                   ("业务培训", "财务管理业务培训"), ("警示教育", "观看警示教育片"),
                   ("党组会", "传达学习全市经济工作会议精神")),
    "*": (("党委会", "研究部署秋粮收购工作"), ("{RW}村干部会", "安排部署人居环境整治工作"),
          ("主题党日", "开展主题党日活动"), ("普法宣传", "法律明白人培训"), ("调解工作会", "矛盾纠纷排查化解")),
}
# Meetings besides the required ones, by role: (kind, weight). Kinds a role's own requirements
# count are left out at run time, so filler never turns a missed period into a met one.
FILLER_KINDS = {
    "party": (("pre_meeting_study", 3), ("law_lecture", 2), ("other", 4)),
    "government": (("pre_meeting_study", 3), ("central_group_study", 2), ("enforcement_training", 2), ("other", 4)),
    "department": (("central_group_study", 2), ("xi_thought_study", 1), ("collective_study", 4), ("other", 4)),
    "township_party": (("collective_study", 4), ("law_lecture", 1), ("pre_meeting_study", 2), ("other", 4)),
    "township_government": (("collective_study", 4), ("law_lecture", 2), ("pre_meeting_study", 2),
                            ("enforcement_training", 1), ("other", 4)),
}
PRINCIPAL_KINDS = {"committee_hearing", "central_group_study", "xi_thought_study", "gov_rol_meeting",
                   "leading_group_meeting", "collective_study"}
ATTENDEES = {"committee_hearing": (9, 15), "central_group_study": (12, 30), "xi_thought_study": (12, 30),
             "law_lecture": (40, 200), "enforcement_training": (30, 150), "leading_group_meeting": (15, 35)}
UNPARSEABLE_DATES = ("{y}年{m}月", "{m}月上旬", "{y}-02-30", "待补充", "{y}.13.{d}", "同上", "{y}年第{q}季度")


def meeting_texts(kind: str, role: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(types, topics) for a kind and role; for "other", (type, topic) pairs."""
    if kind == "other":
        return OTHER_MEETINGS.get(role) or OTHER_MEETINGS["*"]
    by_role = MEETING_TEXTS[kind]
    return by_role.get(role) or by_role.get("*") or next(iter(by_role.values()))


# Report types in filing registers, by filing requirement id (the rulebook's keywords find them).
REPORT_TEXTS = {
    "shufa_report": ("年终述法报告", "年度述法报告", "{Y}年度述职述法报告", "党政主要负责人年终述法报告"),
    "rol_gov_annual_report": ("法治政府建设年度报告", "{Y}年度法治政府建设情况报告", "法治政府建设工作年度报告"),
    "self_inspection_report": ("督察自查报告", "自查报告（附问题清单）", "第一责任人职责督察自查报告"),
    "rectification_report": ("整改报告", "督察整改情况报告", "督察反馈问题整改报告"),
}
DOC_TOPICS_GOV = (
    "政府投资项目管理办法", "城市供水管理办法", "住房保障管理实施细则", "农村宅基地管理暂行办法", "扬尘污染防治管理办法",
    "重大行政决策程序规定", "行政执法公示办法", "公共资源交易管理办法", "城市绿化管理办法", "户外广告设置管理办法",
    "政府购买服务管理办法", "闲置土地处置办法", "烟花爆竹燃放管理规定", "农村生活垃圾治理办法", "物业管理办法",
)
DOC_TOPICS_DEPT = ("行政处罚裁量基准", "行政执法公示实施细则", "专项资金管理办法", "行政许可实施办法",
                   "信用分级分类监管办法", "行政检查事项清单管理办法")
REMARKS_LOST = ("会议记录不完整", "未提供相关资料", "资料不全", "措施不够具体", "记录不规范", "部分未落实", "已整改")
NOTES_SHEET_LINES = (
    "填表说明",
    "1. 自评分由被考核单位对照检查标准逐项填写，并附佐证材料。",
    "2. 核定分（督察得分）由市委依法治市办督察组填写。",
    "3. 请于次年1月15日前报送电子版和盖章扫描件。",
)

# ---------------------------------------------------------------------------------------------
# A small, fast .xlsx writer: shared strings, merged cells, column widths, a handful of styles.
# Cells are None or (value, style); value str | int | float | date | datetime | Formula | None.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Formula:
    expr: str
    cached: float


@dataclass
class SheetData:
    name: str
    rows: list[list[Any]] = field(default_factory=list)
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)  # r1, c1, r2, c2 (0-based)
    widths: list[float] = field(default_factory=list)
    heights: dict[int, float] = field(default_factory=dict)  # 0-based row → points


STYLE_IDS = {None: 0, "text": 1, "num": 2, "header": 3, "title": 4, "date_iso": 5, "date_cn": 6,
             "datetime": 7, "date_builtin": 8, "info": 9}
DATE_STYLES = {"date_iso": "yyyy-mm-dd", "date_cn": 'yyyy"年"m"月"d"日"', "datetime": "yyyy-mm-dd hh:mm",
               "date_builtin": "m/d/yyyy"}
_COLS = [chr(65 + i) for i in range(26)] + [f"A{chr(65 + i)}" for i in range(26)]
_EPOCH = date(1899, 12, 30)
_XML_ESC = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_NS_CORE = "http://schemas.openxmlformats.org/package/2006/metadata/core-properties"
_CT_SML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_CT_PKG = "application/vnd.openxmlformats-package"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_FONT = '<name val="宋体"/><family val="3"/><charset val="134"/></font>'
_THIN = "".join(f'<{side} style="thin"><color auto="1"/></{side}>' for side in ("left", "right", "top", "bottom"))
# cellXfs in STYLE_IDS order: (numFmtId, fontId, borderId, alignment attributes)
_XFS = (
    (0, 0, 0, ""), (0, 0, 1, 'vertical="center" wrapText="1"'), (0, 0, 1, 'horizontal="center" vertical="center"'),
    (0, 2, 1, 'horizontal="center" vertical="center" wrapText="1"'),
    (0, 1, 0, 'horizontal="center" vertical="center" wrapText="1"'),
    (176, 0, 1, ""), (177, 0, 1, ""), (178, 0, 1, ""), (14, 0, 1, ""), (0, 0, 0, 'vertical="center"'),
)


def _xf(num: int, font: int, border: int, align: str) -> str:
    applied = (' applyNumberFormat="1"' if num else "") + (' applyFont="1"' if font else "") \
        + (' applyBorder="1"' if border else "") + (' applyAlignment="1"' if align else "")
    body = f"<alignment {align}/></xf>" if align else "/>"
    return f'<xf numFmtId="{num}" fontId="{font}" fillId="0" borderId="{border}" xfId="0"{applied}' \
        + (">" + body if align else body)


_STYLES_XML = (
    _HEAD + f'<styleSheet xmlns="{_NS_MAIN}">'
    '<numFmts count="3"><numFmt numFmtId="176" formatCode="yyyy\\-mm\\-dd"/>'
    '<numFmt numFmtId="177" formatCode="yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;"/>'
    '<numFmt numFmtId="178" formatCode="yyyy\\-mm\\-dd\\ hh:mm"/></numFmts>'
    f'<fonts count="3"><font><sz val="11"/>{_FONT}<font><b/><sz val="16"/>{_FONT}<font><b/><sz val="11"/>{_FONT}</fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    f'<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border><border>{_THIN}<diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    f'<cellXfs count="{len(_XFS)}">' + "".join(_xf(*x) for x in _XFS) + "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="常规" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)


def _esc(s: str) -> str:
    return s.translate(_XML_ESC)


def _num(v: float) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _serial(v: date) -> float:
    if isinstance(v, datetime):
        return (v - datetime(1899, 12, 30)).total_seconds() / 86400
    return float((v - _EPOCH).days)


def _w3c(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sheet_xml(sheet: SheetData, sst: dict[str, int], counter: list[int], selected: bool) -> str:
    rows = sheet.rows
    ncols = max((len(r) for r in rows), default=1) or 1
    dim = f"A1:{_COLS[ncols - 1]}{len(rows)}" if rows else "A1"
    tab = 'tabSelected="1" ' if selected else ""
    out = [_HEAD, f'<worksheet xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}"><dimension ref="{dim}"/>',
           f'<sheetViews><sheetView {tab}workbookViewId="0"/></sheetViews>',
           '<sheetFormatPr defaultRowHeight="13.5"/>']
    if sheet.widths:
        out.append("<cols>" + "".join(f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
                                      for i, w in enumerate(sheet.widths, 1)) + "</cols>")
    out.append("<sheetData>")
    for i, row in enumerate(rows):
        r = i + 1
        cells = []
        for j, cell in enumerate(row):
            if cell is None:
                continue
            value, style = cell
            ref = f"{_COLS[j]}{r}"
            s = STYLE_IDS[style]
            sa = f' s="{s}"' if s else ""
            if value is None:
                if s:
                    cells.append(f'<c r="{ref}"{sa}/>')
            elif isinstance(value, str):
                idx = sst.get(value)
                if idx is None:
                    idx = sst[value] = len(sst)
                counter[0] += 1
                cells.append(f'<c r="{ref}"{sa} t="s"><v>{idx}</v></c>')
            elif isinstance(value, Formula):
                cells.append(f'<c r="{ref}"{sa}><f>{_esc(value.expr)}</f><v>{_num(value.cached)}</v></c>')
            elif isinstance(value, (int, float)):
                cells.append(f'<c r="{ref}"{sa}><v>{_num(value)}</v></c>')
            elif isinstance(value, date):
                cells.append(f'<c r="{ref}"{sa}><v>{_num(_serial(value))}</v></c>')
            else:
                raise TypeError(f"cell value {value!r}")
        ht = sheet.heights.get(i)
        ha = f' ht="{ht}" customHeight="1"' if ht else ""
        if cells or ht:
            out.append(f'<row r="{r}"{ha}>' + "".join(cells) + "</row>")
    out.append("</sheetData>")
    if sheet.merges:
        out.append(f'<mergeCells count="{len(sheet.merges)}">' + "".join(
            f'<mergeCell ref="{_COLS[c1]}{r1 + 1}:{_COLS[c2]}{r2 + 1}"/>' for r1, c1, r2, c2 in sheet.merges)
            + "</mergeCells>")
    out.append('<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>')
    return "".join(out)


def _sst_xml(sst: dict[str, int], count: int) -> str:
    parts = [_HEAD, f'<sst xmlns="{_NS_MAIN}" count="{count}" uniqueCount="{len(sst)}">']
    for s in sst:  # dicts keep insertion order = index order
        space = ' xml:space="preserve"' if s != s.strip() or "\n" in s else ""
        parts.append(f"<si><t{space}>{_esc(s)}</t></si>")
    parts.append("</sst>")
    return "".join(parts)


def _core_xml(author: str, created: datetime, modified: datetime) -> str:
    return (_HEAD + f'<cp:coreProperties xmlns:cp="{_NS_CORE}" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<dc:creator>{_esc(author)}</dc:creator><cp:lastModifiedBy>{_esc(author)}</cp:lastModifiedBy>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{_w3c(created)}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{_w3c(modified)}</dcterms:modified></cp:coreProperties>')


def xlsx_bytes(sheets: list[SheetData], modified: datetime, author: str = "Administrator",
               app: str = "Microsoft Excel") -> bytes:
    """A complete .xlsx package; the same input gives the same bytes."""
    sst: dict[str, int] = {}
    counter = [0]
    sheet_parts = [_sheet_xml(s, sst, counter, i == 0) for i, s in enumerate(sheets)]
    n = len(sheets)
    overrides = [("/xl/workbook.xml", f"{_CT_SML}.sheet.main+xml")]
    overrides += [(f"/xl/worksheets/sheet{i}.xml", f"{_CT_SML}.worksheet+xml") for i in range(1, n + 1)]
    overrides += [("/xl/styles.xml", f"{_CT_SML}.styles+xml"), ("/xl/sharedStrings.xml", f"{_CT_SML}.sharedStrings+xml"),
                  ("/docProps/core.xml", f"{_CT_PKG}.core-properties+xml"),
                  ("/docProps/app.xml", "application/vnd.openxmlformats-officedocument.extended-properties+xml")]
    ct = (_HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          f'<Default Extension="rels" ContentType="{_CT_PKG}.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          + "".join(f'<Override PartName="{part}" ContentType="{kind}"/>' for part, kind in overrides) + "</Types>")
    root_rels = (_HEAD + f'<Relationships xmlns="{_NS_PKG}">'
                 f'<Relationship Id="rId1" Type="{_NS_REL}/officeDocument" Target="xl/workbook.xml"/>'
                 f'<Relationship Id="rId2" Type="{_NS_PKG}/metadata/core-properties" Target="docProps/core.xml"/>'
                 f'<Relationship Id="rId3" Type="{_NS_REL}/extended-properties" Target="docProps/app.xml"/></Relationships>')
    workbook = (_HEAD + f'<workbook xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}"><bookViews><workbookView/></bookViews>'
                + "<sheets>" + "".join(f'<sheet name="{_esc(s.name)}" sheetId="{i}" r:id="rId{i}"/>'
                                      for i, s in enumerate(sheets, 1)) + "</sheets></workbook>")
    wb_rels = (_HEAD + f'<Relationships xmlns="{_NS_PKG}">'
               + "".join(f'<Relationship Id="rId{i}" Type="{_NS_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                         for i in range(1, n + 1))
               + f'<Relationship Id="rId{n + 1}" Type="{_NS_REL}/styles" Target="styles.xml"/>'
               f'<Relationship Id="rId{n + 2}" Type="{_NS_REL}/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
    app_xml = (_HEAD + '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
               f"<Application>{_esc(app)}</Application></Properties>")
    entries = [("[Content_Types].xml", ct), ("_rels/.rels", root_rels),
               ("docProps/core.xml", _core_xml(author, modified - timedelta(days=3, hours=2), modified)),
               ("docProps/app.xml", app_xml), ("xl/workbook.xml", workbook), ("xl/_rels/workbook.xml.rels", wb_rels),
               ("xl/styles.xml", _STYLES_XML)]
    entries += [(f"xl/worksheets/sheet{i}.xml", x) for i, x in enumerate(sheet_parts, 1)]
    entries.append(("xl/sharedStrings.xml", _sst_xml(sst, counter[0])))
    return _zip([(name, text.encode("utf-8")) for name, text in entries], modified)


def _zip(entries: list[tuple[str, bytes]], when: datetime) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0  # fixed: the default depends on the platform
            info.external_attr = 0
            zf.writestr(info, data, compresslevel=6)
    return buf.getvalue()


def openpyxl_bytes(sheets: list[SheetData], modified: datetime, author: str) -> bytes:
    """The same sheets written by openpyxl, its timestamps pinned so the bytes stay reproducible."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    wb.remove(wb.active)
    wrap = Alignment(vertical="center", wrap_text=True)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for sheet in sheets:
        ws = wb.create_sheet(sheet.name)
        for i, row in enumerate(sheet.rows, 1):
            for j, cell in enumerate(row, 1):
                if cell is None or cell[0] is None:
                    continue
                value, style = cell
                c = ws.cell(i, j, value.cached if isinstance(value, Formula) else value)
                if style in ("text", "info"):
                    c.alignment = wrap
                elif style in ("header", "title", "num"):
                    c.alignment = center
                    if style != "num":
                        c.font = Font(bold=True, size=16 if style == "title" else 11)
                elif style in DATE_STYLES:
                    c.number_format = DATE_STYLES[style]
        for r1, c1, r2, c2 in sheet.merges:
            ws.merge_cells(start_row=r1 + 1, start_column=c1 + 1, end_row=r2 + 1, end_column=c2 + 1)
        for j, w in enumerate(sheet.widths):
            ws.column_dimensions[_COLS[j]].width = w
    wb.properties.creator = author
    buf = io.BytesIO()
    wb.save(buf)
    # openpyxl stamps now() into core.xml and the zip entries: replace both.
    stamp = _w3c(modified)
    out = []
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        for info in zf.infolist():
            data = zf.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = data.decode("utf-8")
                text = re.sub(r"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)", rf"\g<1>{stamp}\g<2>", text)
                data = text.encode("utf-8")
            out.append((info.filename, data))
    return _zip(out, modified)


def xls_bytes(sheets: list[SheetData]) -> bytes:
    """Legacy BIFF8 .xls via xlwt (no timestamps inside)."""
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    border = "borders: left thin, right thin, top thin, bottom thin;"
    styles = {
        None: xlwt.XFStyle(), "text": xlwt.easyxf(f"align: wrap on, vert centre; {border}"),
        "num": xlwt.easyxf(f"align: horiz centre, vert centre; {border}"),
        "header": xlwt.easyxf(f"font: bold on; align: wrap on, horiz centre, vert centre; {border}"),
        "title": xlwt.easyxf("font: bold on, height 320; align: horiz centre, vert centre"),
        "info": xlwt.easyxf("align: vert centre"),
    }
    for key, fmt in DATE_STYLES.items():
        styles[key] = xlwt.easyxf(border, num_format_str=fmt)
    for sheet in sheets:
        ws = wb.add_sheet(sheet.name, cell_overwrite_ok=True)
        merged_tl = {(r1, c1): (r2, c2) for r1, c1, r2, c2 in sheet.merges}
        for i, row in enumerate(sheet.rows):
            for j, cell in enumerate(row):
                if cell is None:
                    continue
                value, style = cell
                if isinstance(value, Formula):
                    value = value.cached
                st = styles.get(style, styles[None])
                if (i, j) in merged_tl:
                    r2, c2 = merged_tl[(i, j)]
                    ws.write_merge(i, r2, j, c2, value, st)
                elif value is not None:
                    ws.write(i, j, value, st)
        for j, w in enumerate(sheet.widths):
            ws.col(j).width = int(w * 256)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def workbook_bytes(fmt: str, sheets: list[SheetData], modified: datetime, author: str, app: str) -> bytes:
    if fmt == "xls":
        return xls_bytes(sheets)
    if fmt == "openpyxl":
        return openpyxl_bytes(sheets, modified, author)
    return xlsx_bytes(sheets, modified, author, app)


# ---------------------------------------------------------------------------------------------
# Randomness helpers
# ---------------------------------------------------------------------------------------------


def _rng(*parts: object) -> random.Random:
    return random.Random("|".join(map(str, parts)))


def _frac(*parts: object) -> float:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def _quota(rate: float, n: int, year: int, *key: object) -> int:
    """How many of n files get a problem of this kind in this year.

    A low-discrepancy sequence: the totals over any run of consecutive years stay within one of
    rate × n × years, and each year's count depends only on that year (not on the years generated).
    """
    lam = rate * n
    phase = _frac("quota", *key)
    i = year - 2000
    return math.floor(lam * (i + 1) + phase) - math.floor(lam * i + phase)


def _pick(rate: float, candidates: list[str], year: int, seed: int, kind: str, what: str,
          exclude: set[str] = frozenset()) -> set[str]:
    pool = [c for c in candidates if c not in exclude]
    k = min(len(pool), _quota(rate, len(candidates), year, seed, what, kind))
    return set(_rng(seed, year, "pick", what, kind).sample(pool, k)) if k else set()


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def _half(x: float) -> float:
    return round(x * 2) / 2


def _weekday(d: date, backwards: bool = False) -> date:
    if d.weekday() == 5:
        return d - timedelta(days=1) if backwards else d + timedelta(days=2)
    if d.weekday() == 6:
        return d - timedelta(days=2) if backwards else d + timedelta(days=1)
    return d


def _day_in(rng: random.Random, start: date, end: date) -> date:
    d = start + timedelta(days=rng.randrange((end - start).days + 1))
    d2 = _weekday(d)
    return d2 if d2 <= end else _weekday(d, backwards=True)


def _periods(year: int, period: str) -> list[tuple[int, date, date]]:
    months = {"quarter": 3, "half_year": 6, "year": 12}[period]
    out = []
    for k, m in enumerate(range(1, 13, months), 1):
        end = date(year + (m + months > 12), (m + months - 1) % 12 + 1, 1) - timedelta(days=1)
        out.append((k, date(year, m, 1), end))
    return out


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN_CHARS) for _ in range(rng.choice((1, 2, 2))))


def _leader(seed: int, unit: Unit, year: int) -> str:
    # Leaders serve terms of about three years, staggered between units.
    offset = int(_frac(seed, "term", unit.name) * 3)
    return _person(_rng(seed, "leader", unit.name, (year - 2000 + offset) // 3))


FW_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


def _points_text(p: float) -> str:
    return str(int(p)) if float(p).is_integer() else str(p)


def _fmt_date(d: date, style: str) -> str:
    if style == "iso":
        return d.isoformat()
    if style == "slash":
        return f"{d.year}/{d.month}/{d.day}"
    if style == "slash_pad":
        return d.strftime("%Y/%m/%d")
    if style == "dot":
        return f"{d.year}.{d.month}.{d.day}"
    if style == "cn":
        return f"{d.year}年{d.month}月{d.day}日"
    if style == "iso_nopad":
        return f"{d.year}-{d.month}-{d.day}"
    raise ValueError(style)


TEXT_DATE_STYLES = (("iso", 30), ("slash", 25), ("cn", 25), ("dot", 8), ("iso_nopad", 7), ("slash_pad", 5))
CELL_DATE_STYLES = (("date_iso", 45), ("date_cn", 25), ("date_builtin", 20), ("datetime", 10))


def _choice_w(rng: random.Random, pairs) -> Any:
    items, weights = zip(*pairs)
    return rng.choices(items, weights)[0]


def _misspell(name: str, rng: random.Random, known: set[str]) -> str:
    """The name with one character wrong, as no registry name or alias reads."""
    first = 2 if name.startswith("中共") else 0
    positions = [i for i in range(first, len(name)) if name[i] in MISSPELL]
    rng.shuffle(positions)
    for i in positions:
        wrong = name[:i] + MISSPELL[name[i]] + name[i + 1:]
        if wrong not in known:
            return wrong
    return name.replace("局", "所", 1) if "局" in name else name + "办公室"


def _name_variant(unit: Unit, rng: random.Random) -> str:
    """A name the unit itself might write that the registry still resolves: an alias, or the name
    with 中共/委员会/人民政府 written another way, a stray space, full-width brackets."""
    options = list(unit.aliases)
    name = unit.name
    if name.startswith("中共"):
        options.append(name[2:])  # 清丰县委员会
        options.append("中共 " + name[2:])
    if name.endswith("人民政府"):
        options.append(name[:-4] + " 人民政府")
    if unit.role == "department":
        options.append(name.replace("市", "市 ", 1))
    return rng.choice(options) if options else name


# ---------------------------------------------------------------------------------------------
# Planning one unit's year: quality, meetings, filings, documents, scores
# ---------------------------------------------------------------------------------------------


def _quality(seed: int, unit: Unit, year: int) -> float:
    """The unit's quality level this year (0.55–0.99): a base and a trend per region or department,
    drifting over the years with noise, plus a small offset per unit."""
    base_rng = _rng(seed, "quality", unit.quality_key)
    base = base_rng.uniform(0.74, 0.95)
    trend = base_rng.gauss(0, 0.022)
    year_noise = _rng(seed, year, "quality", unit.quality_key).gauss(0, 0.022)
    own = _rng(seed, "quality-unit", unit.name).gauss(0, 0.02)
    own_year = _rng(seed, year, "quality-unit", unit.name).gauss(0, 0.012)
    return _clamp(base + trend * (year - 2023) + year_noise + own + own_year, 0.55, 0.99)


@dataclass
class Meeting:
    day: date
    kind: str
    type_text: str
    topic: str
    host: str
    principal: bool
    attendees: int
    hours: float | None


def _fill(text: str, unit: Unit, year: int, law: str) -> str:
    if "{" not in text:
        return text
    w = unit.words
    return text.format(CW=w["CW"], RW=w["RW"], GW=w["GW"], Y=year, law=law)


def _meeting(rng: random.Random, kind: str, unit: Unit, year: int, day: date, leader: str, deputy: str,
             hours: float | None = None) -> Meeting:
    law = rng.choice(LAWS)
    if kind == "other":
        type_text, topic = rng.choice(meeting_texts(kind, unit.role))
    else:
        types, topics = meeting_texts(kind, unit.role)
        type_text, topic = rng.choice(types), rng.choice(topics)
    principal = rng.random() < (0.9 if kind in PRINCIPAL_KINDS else 0.4)
    lo, hi = ATTENDEES.get(kind, (8, 45))
    if kind == "law_lecture" and hours is None and rng.random() < 0.5:
        hours = rng.choice((2, 2, 3))
    return Meeting(day, kind, _fill(type_text, unit, year, law), _fill(topic, unit, year, law),
                   leader if principal else deputy, principal, rng.randint(lo, hi), hours)


def _plan_meetings(rb: Rulebook, unit: Unit, year: int, q: float, rng: random.Random, leader: str) -> list[Meeting]:
    deputy = _person(rng)
    p_met = _clamp(1 - (1 - q) * 1.3, 0.35, 0.99)  # chance one period's requirement is met
    out: list[Meeting] = []
    counted: set[str] = set()
    for req in rb.frequency_requirements.values():
        if unit.role not in req.roles:
            continue
        counted.update(req.meeting_types)
        kind = req.meeting_types[0]
        if kind not in MEETING_TEXTS:
            continue  # a meeting type this generator has no wording for (custom rulebook)
        for _, start, end in _periods(year, req.period):
            met = rng.random() < p_met
            if req.measure == "hours":
                target = req.min * (rng.uniform(1.0, 1.6) if met else rng.uniform(0.35, 0.95))
                total = 0.0
                while True:
                    h = rng.choice((2, 3, 4, 4, 6, 8))
                    if not met and total + h >= req.min:
                        break
                    out.append(_meeting(rng, kind, unit, year, _day_in(rng, start, end), leader, deputy, h))
                    total += h
                    if total >= target:
                        break
                continue
            need = math.ceil(req.min)
            if met:
                n = need + (int(rng.random() < 0.25) if need == 1 else rng.choice((0, 0, 1, 1, 2)))
            else:
                n = rng.randint(0, need - 1)
            out += [_meeting(rng, kind, unit, year, _day_in(rng, start, end), leader, deputy) for _ in range(n)]
    fillers = [(k, w) for k, w in FILLER_KINDS[unit.role] if k == "other" or k not in counted]
    target = round(ROWS_PER_UNIT[unit.role] * rng.uniform(0.75, 1.25))
    jan1, dec31 = date(year, 1, 1), date(year, 12, 31)
    while len(out) < target:
        kind = _choice_w(rng, fillers)
        hours = rng.choice((2, 3, 4)) if kind == "enforcement_training" else None
        out.append(_meeting(rng, kind, unit, year, _day_in(rng, jan1, dec31), leader, deputy, hours))
    out.sort(key=lambda m: m.day)
    return out


def _plan_filings(rb: Rulebook, unit: Unit, year: int, q: float,
                  rng: random.Random) -> dict[str, tuple[str, date | None]]:
    out = {}
    for req in rb.filing_requirements.values():
        if unit.role not in req.roles:
            continue
        due = req.due_date(year)
        r = rng.random()
        p_missing, p_late = (1 - q) * 0.2, (1 - q) * 0.6
        if r < p_missing:
            out[req.id] = ("missing", None)
        elif r < p_missing + p_late:
            out[req.id] = ("late", _weekday(due + timedelta(days=rng.randint(1, 45))))
        else:
            out[req.id] = ("on_time", _weekday(due - timedelta(days=rng.choice((0, 0, 1, 2, 3, 5, 8, 12, 15, 20, 25))),
                                              backwards=True))
    return out


@dataclass
class NormativeDoc:
    title: str
    number: str
    issued: date
    filed: date | None
    compliant: bool


def _plan_docs(unit: Unit, year: int, q: float, rng: random.Random) -> list[NormativeDoc]:
    if unit.role == "government":
        n = rng.randint(2, 7)
        topics, place = DOC_TOPICS_GOV, unit.place
    elif unit.role == "department":
        n = rng.choice((0, 1, 1, 2, 2, 3, 4))
        topics, place = DOC_TOPICS_DEPT, unit.name.replace("局", "").replace("委员会", "")
    else:
        return []
    days = sorted(_day_in(rng, date(year, 1, 1), date(year, 12, 20)) for _ in range(n))
    docs = []
    for i, issued in enumerate(days, 1):
        r = rng.random()
        if r < (1 - q) * 0.25:
            filed = None
        elif r < (1 - q) * 0.75:
            filed = _weekday(issued + timedelta(days=rng.randint(31, 75)))
        else:
            filed = _weekday(issued + timedelta(days=rng.randint(3, 27)))
            if (filed - issued).days > 30:
                filed = _weekday(issued + timedelta(days=26), backwards=True)
        compliant = filed is None or rng.random() > (1 - q) * 0.25
        title = f"{unit.name}关于印发《{place}{rng.choice(topics)}》的通知"
        docs.append(NormativeDoc(title, f"{unit.doc_abbr}规〔{year}〕{i}号", issued, filed, compliant))
    return docs


def _requirement_counts(rb: Rulebook, meetings: list[Meeting], year: int, classify) -> dict[str, dict[int, float]]:
    """What the records show per requirement and period (rows the pipeline can date, once each)."""
    out: dict[str, dict[int, float]] = {}
    seen = set()
    for m in meetings:
        key = (m.day, m.type_text, m.topic)
        if m.day.year != year or key in seen:
            continue
        seen.add(key)
        types = classify(m.type_text, m.topic)
        for req in rb.frequency_requirements.values():
            if not types.intersection(req.meeting_types):
                continue
            months = {"quarter": 3, "half_year": 6, "year": 12}[req.period]
            k = (m.day.month - 1) // months + 1
            bucket = out.setdefault(req.id, {})
            bucket[k] = bucket.get(k, 0) + ((m.hours or 0) if req.measure == "hours" else 1)
    return out


def _evidence(rb: Rulebook, role: str, counts, filings, docs, year: int) -> dict[int, tuple[float, float]]:
    """task_no → (points the records earn, points the records decide), per the rulebook's links."""
    out = {}
    for link in rb.evidence_links:
        if link.role != role:
            continue
        earned = link.points
        if link.rule in ("deduct_per_missing", "threshold"):
            req = rb.frequency_requirements[link.requirement]
            got = counts.get(req.id, {})
            if link.rule == "deduct_per_missing":
                short = sum(max(0.0, req.min - got.get(k, 0)) for k, _, _ in _periods(year, req.period))
                earned = max(0.0, link.points - link.deduct * short)
            else:
                earned = link.points if sum(got.values()) >= link.min else 0.0
        elif link.rule == "filed":
            earned = link.points if filings.get(link.filing, ("missing", None))[0] != "missing" else 0.0
        elif link.rule == "normative_rates" and docs:
            issued = len(docs)
            filed = [d for d in docs if d.filed]
            timely = [d for d in filed if (d.filed - d.issued).days <= rb.normative_deadline_days]
            rates = (len(filed) / issued, len(timely) / issued,
                     (sum(d.compliant for d in filed) / len(filed)) if filed else 0.0)
            earned = next((p for min_rate, p in link.tiers if min(rates) >= min_rate), 0.0)
        prev = out.get(link.task_no, (0.0, 0.0))
        out[link.task_no] = (prev[0] + earned, prev[1] + link.points)
    return out


@dataclass
class TaskScore:
    task: Task
    self_points: float
    verified_points: float
    remark: str


def _plan_scores(template: Template, q: float, rng: random.Random, evidence) -> list[TaskScore]:
    out = []
    p_loss = _clamp((1 - q) * 2.5, 0.02, 0.9)
    for task in sorted(template.tasks, key=lambda t: (t.duty_no, t.task_no)):
        earned, decided = evidence.get(task.task_no, (0.0, 0.0))
        free = task.points - decided
        lost = 0.0
        if free > 0 and rng.random() < p_loss:
            lost = min(free, rng.choice((0.5, 1, 1, 1, 2, 2, 3)))
        verified = _half(task.points - lost - (decided - earned))
        # Offices claim more than the inspectors grant, mostly where something was lost.
        if lost or earned < decided:
            r = rng.random()
            claim_free = free if r < 0.35 else free - lost if r < 0.8 else min(free, free - lost + 0.5)
            claim_evidence = decided if rng.random() < 0.4 else earned  # a claim the records contradict
            self_points = _half(claim_free + claim_evidence)
        else:
            self_points = task.points if rng.random() > 0.03 else max(0.0, task.points - rng.choice((0.5, 1)))
        remark = rng.choice(REMARKS_LOST) if verified < task.points and rng.random() < 0.5 else ""
        out.append(TaskScore(task, self_points, max(0.0, verified), remark))
    return out


# ---------------------------------------------------------------------------------------------
# Layout of the files
# ---------------------------------------------------------------------------------------------


def _submission_time(rng: random.Random, year: int, month: int = 1, day_lo: int = 5, day_hi: int = 25) -> datetime:
    d = _weekday(date(year + 1, month, rng.randint(day_lo, day_hi)))
    return datetime.combine(d, time(rng.randint(8, 17), rng.randint(0, 59), rng.randint(0, 59)))


def _score_sheet(unit: Unit, template: Template, rb: Rulebook, year: int, scores: list[TaskScore],
                 flags: set[str], verified: bool, rng: random.Random, log: list[tuple[str, str]],
                 known: set[str]) -> list[SheetData]:
    """The workbook's sheets, laid out like Puyang's attachment 1 (SPEC §4.1)."""
    fw = "fullwidth_digits" in flags
    # Self-assessed sheets either drop the 核定分 column or leave it empty.
    total_cols = 8 if verified or rng.random() < 0.4 else 7
    ver_col = 6 if total_cols == 8 else None
    rows: list[list[Any]] = []
    merges: list[tuple[int, int, int, int]] = []
    heights: dict[int, float] = {}
    title = template.title.replace("濮阳市", f"{unit.city or CITY}市")
    if not title.startswith(unit.city or CITY):
        title = f"{unit.city or CITY}市{title}"
    if "打分表" not in title:
        title += "及督察情况打分表"
    rows.append([(title, "title")])
    merges.append((0, 0, 0, total_cols - 1))
    heights[0] = 40
    if rng.random() < 0.3:
        rows.append([])
    colon = "：" if rng.random() < 0.85 else ":"
    role_line = rb.role_names.get(unit.role, template.name)
    if rng.random() < 0.1:
        role_line = role_line.replace("（", "(").replace("）", ")")
    if "unit_unknown" in flags:
        unit_text = _misspell(unit.place if rng.random() < 0.5 else unit.name, rng, known)
        log.append(("unit_unknown", unit_text))
    elif "unit_alias" in flags:
        unit_text = _name_variant(unit, rng)
    else:
        unit_text = unit.place if unit.role != "department" and rng.random() < 0.6 else unit.name
    file_year = year - 1 if "year_mismatch" in flags else year
    year_text = rng.choice((f"年度{colon}{file_year}", f"年度{colon}{file_year}年", f"考核年度{colon}{file_year}年度"))
    merge_info = rng.random() < 0.5
    for text in (f"责任人{colon}{role_line}", f"被考核单位{colon}{unit_text}", year_text):
        rows.append([(text, "info")])
        if merge_info:
            merges.append((len(rows) - 1, 0, len(rows) - 1, total_cols - 1))
    self_header = rng.choice(("自评分", "自评得分") if verified else ("得分", "自评分", "自评得分"))
    header = ["主要职责", "序号", "工作任务", "落实单位", "检查标准", self_header]
    if ver_col:
        header.append(rng.choice(("核定分", "督察得分")))
    header.append("备注")
    rows.append([(h, "header") for h in header])
    heights[len(rows) - 1] = 30
    first_task_row = len(rows)

    tasks = list(scores)
    if "task_missing" in flags and len(tasks) > 2:
        dropped = tasks.pop(rng.randrange(1, len(tasks)))
        log.append(("task_missing", str(dropped.task.task_no)))
    if "task_unknown" in flags:
        extra_no = max(t.task.task_no for t in scores) + 1
        last = tasks[-1].task
        extra = Task(last.role, extra_no, last.duty_no, last.duty, "结合本地实际开展法治建设创新工作，形成经验做法（加分项）",
                     "", "有创新举措并被上级推广得2分。", 2.0)
        tasks.append(TaskScore(extra, 2.0, 2.0 if verified else 0.0, "加分项"))
        log.append(("task_unknown", str(extra_no)))
    score_mode = "num"
    if "score_text" in flags:
        score_mode = rng.choice(("unit", "str", "mixed"))
    elif rng.random() < 0.08:
        score_mode = "str"  # numbers stored as text, WPS-style
    blank_tasks: set[int] = set()
    if "score_blank" in flags:
        blank_tasks = {t.task.task_no for t in rng.sample(tasks, min(len(tasks), rng.choice((1, 1, 2))))}
        log.append(("score_blank", ",".join(map(str, sorted(blank_tasks)))))
    invalid_task = None
    if "score_invalid" in flags:
        invalid_task = rng.choice(tasks).task
        bad = rng.choice(("优", "良", "√", -1, -2, invalid_task.points + 1, invalid_task.points + 2, "合格"))
        log.append(("score_invalid", f"{invalid_task.task_no}:{bad}"))
    newline_checks = rng.random() < 0.3
    paren = rng.choice((("（", "分）"), ("(", "分)"), ("（", " 分）")))
    duty_fmt = rng.choice(("{n}.{t}", "{n}．{t}", "{n}、{t}"))
    blank_after: set[int] = set()
    if "blank_rows" in flags:
        duties = sorted({t.task.duty_no for t in tasks})
        blank_after = set(rng.sample(duties, min(len(duties), rng.randint(1, 3))))

    def score_cell(value: float | None, task: Task, which: str) -> Any:
        if value is None:
            return (None, "num")
        if invalid_task is not None and task.task_no == invalid_task.task_no and which == "self":
            return (bad, "num")
        mode = score_mode if score_mode != "mixed" else rng.choice(("num", "unit", "str"))
        if mode == "num":
            return (int(value) if float(value).is_integer() else value, "num")
        text = _points_text(value) + ("分" if mode == "unit" else "")
        return (text.translate(FW_DIGITS) if fw else text, "num")

    self_sum = ver_sum = 0.0
    all_numeric = score_mode == "num"
    i = 0
    while i < len(tasks):
        duty_no = tasks[i].task.duty_no
        group = list(_take_while(tasks[i:], duty_no))
        start = len(rows)
        for k, ts in enumerate(group):
            t = ts.task
            points = _points_text(t.points)
            task_text = f"{t.text}{paren[0]}{points.translate(FW_DIGITS) if fw else points}{paren[1]}"
            check = t.check_standard.replace("检查方式", "\n检查方式") if newline_checks else t.check_standard
            no_value: Any = t.task_no
            if fw and rng.random() < 0.5:
                no_value = str(t.task_no).translate(FW_DIGITS)
            elif score_mode == "str":
                no_value = str(t.task_no)
            duty_cell = (duty_fmt.format(n=t.duty_no, t=t.duty), "text") if k == 0 else (None, "text")
            self_v = None if t.task_no in blank_tasks else ts.self_points
            ver_v = ts.verified_points if verified else None
            if verified and t.task_no in blank_tasks and rng.random() < 0.3:
                self_v, ver_v = ts.self_points, None
            row = [duty_cell, (no_value, "num"), (task_text, "text"), (t.responsible or None, "text"),
                   (check or None, "text"), score_cell(self_v, t, "self")]
            if ver_col:
                row.append(score_cell(ver_v, t, "verified"))
            row.append((ts.remark or None, "text"))
            rows.append(row)
            heights[len(rows) - 1] = 15 * min(8, 1 + len(t.check_standard) // 60)
            self_sum += self_v or 0
            ver_sum += ver_v or 0
            if invalid_task is not None and t.task_no == invalid_task.task_no:
                all_numeric = False
                self_sum -= self_v or 0
                self_sum += bad if isinstance(bad, (int, float)) else 0
        if len(group) > 1:
            merges.append((start, 0, len(rows) - 1, 0))
        if duty_no in blank_after:
            rows.append([(None, "text")] * total_cols)
        i += len(group)
    last_task_row = len(rows) - 1
    if "total_missing" not in flags:
        label = rng.choice(("合计", "合计", "总分", "合  计", "总计"))
        delta = 0.0
        if "total_mismatch" in flags:
            delta = rng.choice((-5, -3, -2, -1, 1, 2, 3, 4))
            log.append(("total_mismatch", f"{delta:+}"))
        use_formula = all_numeric and not delta and rng.random() < 0.3

        def total_cell(col: int, value: float) -> Any:
            value = _half(value)
            if use_formula:
                return (Formula(f"SUM({_COLS[col]}{first_task_row + 1}:{_COLS[col]}{last_task_row + 1})", value), "num")
            return (int(value) if float(value).is_integer() else value, "num")

        row = [(label, "header"), (None, "text"), (None, "text"), (None, "text"), (None, "text"),
               total_cell(5, self_sum + delta)]
        if ver_col:
            row.append(total_cell(6, ver_sum + delta) if verified else (None, "num"))
        row.append((None, "text"))
        rows.append(row)
        merges.append((len(rows) - 1, 0, len(rows) - 1, 4))
    if rng.random() < 0.15:  # a sign-off line under the table
        signed = _submission_time(rng, year).date()
        sign_off = f"填表人：{_person(rng)}　　审核人：{_person(rng)}　　填报日期：{signed.year}年{signed.month}月{signed.day}日"
        rows.append([(sign_off, "info")])
        merges.append((len(rows) - 1, 0, len(rows) - 1, total_cols - 1))
    widths = [28, 6, 46, 20, 48, 9] + ([9] if ver_col else []) + [14]
    name = rng.choice(("打分表", "Sheet1", f"{year}年度", "附件1", ROLE_FILE_LABELS[unit.role][:2]))
    sheets = [SheetData(name, rows, merges, widths, heights)]
    if "notes_sheet" in flags:
        notes = SheetData("说明", [[(line, "info")] for line in NOTES_SHEET_LINES], widths=[70])
        sheets.insert(0 if rng.random() < 0.2 else 1, notes)
    if "empty_sheets" in flags:
        sheets += [SheetData("Sheet2"), SheetData("Sheet3")][: rng.randint(1, 2)]
    return sheets


def _take_while(tasks: list[TaskScore], duty_no: int):
    for t in tasks:
        if t.task.duty_no != duty_no:
            return
        yield t


LEDGER_COLUMNS = (
    ("unit", ("单位", "单位名称")), ("date", ("日期", "会议日期", "时间")), ("type", ("会议类型", "类型", "活动形式")),
    ("topic", ("主题", "内容", "学习内容")), ("host", ("主持人",)), ("principal", ("是否主要负责人主持",)),
    ("attendees", ("参加人数",)), ("hours", ("学时",)),
)


@dataclass
class Table:
    """A register or ledger before it becomes .csv/.xlsx/.xls: header, rows (plain values), dates kept as date."""

    title: str | None
    header: list[str]
    rows: list[list[Any]]


def _ledger_table(unit: Unit, year: int, meetings: list[Meeting], flags: set[str], rng: random.Random,
                  log: list[tuple[str, str]], gb18030: bool, known: set[str]) -> Table:
    cols = [(key, rng.choice(names)) for key, names in LEDGER_COLUMNS]
    if unit.role in ("party", "township_party") and not any(m.hours for m in meetings) and rng.random() < 0.5:
        cols = cols[:-1]
    with_no = rng.random() < 0.3
    header = (["序号"] if with_no else []) + [name for _, name in cols]
    if "unit_unknown" in flags:
        label = _misspell(unit.name, rng, known)
        log.append(("unit_unknown", label))
    else:
        r = rng.random()
        label = unit.name if r < 0.7 else _name_variant(unit, rng)
    mix_labels = rng.random() < 0.1
    rows: list[list[Any]] = []
    for m in meetings:
        host = m.host
        if gb18030 and rng.random() < 0.02:
            host = "𠮷" + host[1:]  # a name only GB18030 (not GBK) can encode
        row = {"unit": _name_variant(unit, rng) if mix_labels and rng.random() < 0.3 else label,
               "date": m.day, "type": m.type_text, "topic": m.topic, "host": host,
               "principal": "是" if m.principal else "否", "attendees": m.attendees,
               "hours": (_points_text(m.hours) + "学时" if rng.random() < 0.01 else m.hours) if m.hours else None}
        values = [row[key] for key, _ in cols]
        dup = rng.random() < ROW_RATES["duplicate_row"]
        r = rng.random()
        if r < ROW_RATES["date_unparseable"]:
            values[1] = rng.choice(UNPARSEABLE_DATES).format(y=year, m=m.day.month, d=m.day.day,
                                                              q=(m.day.month - 1) // 3 + 1)
            log.append(("date_unparseable", values[1]))
            m.day = date(1900, 1, 1)  # the records can no longer date it
        elif r < ROW_RATES["date_unparseable"] + ROW_RATES["date_other_year"]:
            day = m.day.replace(year=year - 1) if not (m.day.month == 2 and m.day.day == 29) else date(year - 1, 2, 28)
            values[1] = day
            m.day = day
            log.append(("date_other_year", day.isoformat()))
        rows.append(values)
        if dup:
            rows.append(list(values))
            log.append(("duplicate_row", m.day.isoformat()))
    if "blank_rows" in flags and rows:
        for _ in range(rng.randint(1, 2)):
            rows.insert(rng.randrange(len(rows) + 1), [None] * len(cols))
    if with_no:
        n = 0
        for row in rows:
            if any(v is not None for v in row):
                n += 1
                row.insert(0, n)
            else:
                row.insert(0, None)
    title = f"{label}{year}年度会议学法台账" if rng.random() < 0.5 else f"{year}年{label}学法及会议记录"
    return Table(title, header, rows)


def _filing_table(group: Group, year: int, plans: dict[str, dict], rb: Rulebook, rng: random.Random,
                  log: list[tuple[str, str]]) -> Table:
    with_due = rng.random() < 0.4
    with_no = rng.random() < 0.3
    header = (["序号"] if with_no else []) + [rng.choice(("单位", "单位名称", "报送单位")), rng.choice(("报告类型", "报告名称")),
                                              "年度", rng.choice(("报送日期", "报送时间"))]
    header += (["应报日期"] if with_due else []) + ["备注"]
    year_style = rng.choice((str(year), f"{year}年", f"{year}年度", year))
    rows = []
    for unit in group.units:
        plan = plans[unit.name]
        label = unit.name if rng.random() < 0.75 else _name_variant(unit, rng)
        for req_id, (status, filed) in plan["filings"].items():
            req = rb.filing_requirements[req_id]
            texts = REPORT_TEXTS.get(req_id, (req.name,))
            report = rng.choice(texts).format(Y=year)
            if status == "missing":
                log.append(("filing_missing", f"{unit.name}:{req_id}"))
                if rng.random() < 0.6:
                    continue
                remark = "未报送"
            elif status == "late":
                log.append(("filing_late", f"{unit.name}:{req_id}"))
                remark = rng.choice(("逾期报送", "补报", ""))
            else:
                remark = rng.choice(("", "", "", "按时报送"))
            row = [label, report, year_style, filed] + ([req.due_date(year)] if with_due else []) + [remark or None]
            rows.append(row)
    if with_no:
        for n, row in enumerate(rows, 1):
            row.insert(0, n)
    return Table(f"{group.label}{year}年度报告报送登记表", header, rows)


def _normative_table(group: Group, year: int, plans: dict[str, dict], rng: random.Random,
                     log: list[tuple[str, str]], deadline: int) -> Table:
    with_no = rng.random() < 0.4
    header = (["序号"] if with_no else []) + [rng.choice(("单位", "制定机关", "单位名称")), "文件名称", "文号",
                                              rng.choice(("印发日期", "发文日期")), rng.choice(("报备日期", "备案日期")),
                                              "是否规范"]
    rows = []
    for unit in group.units:
        for doc in plans[unit.name]["docs"]:
            label = unit.name if rng.random() < 0.8 else _name_variant(unit, rng)
            if doc.filed is None:
                log.append(("normative_not_filed", doc.number))
            elif (doc.filed - doc.issued).days > deadline:
                log.append(("normative_late", doc.number))
            if not doc.compliant:
                log.append(("normative_noncompliant", doc.number))
            rows.append([label, doc.title, doc.number, doc.issued, doc.filed, "是" if doc.compliant else "否"])
    if with_no:
        for n, row in enumerate(rows, 1):
            row.insert(0, n)
    return Table(f"{group.label}{year}年规范性文件备案登记表", header, rows)


def _text_value(v: Any, date_style: str) -> str:
    if v is None:
        return ""
    if isinstance(v, date):
        return _fmt_date(v, date_style)
    if isinstance(v, float):
        return _points_text(v)
    return str(v)


def table_csv(table: Table, encoding: str, rng: random.Random, serial_dates: bool = False,
              with_title: bool = False) -> bytes:
    style = _choice_w(rng, TEXT_DATE_STYLES)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    if with_title and table.title:
        w.writerow([table.title] + [""] * (len(table.header) - 1))
    w.writerow(table.header)
    for row in table.rows:
        if serial_dates:
            row = [int(_serial(v)) if isinstance(v, date) else v for v in row]
        w.writerow([_text_value(v, style) for v in row])
    return buf.getvalue().encode(encoding)


def table_sheet(table: Table, rng: random.Random, serial_dates: bool = False, with_title: bool = False,
                name: str = "Sheet1") -> SheetData:
    """A register as a worksheet: real date cells mostly, sometimes text dates or bare serials."""
    mode = "serial" if serial_dates else rng.choices(("cell", "text"), (75, 25))[0]
    cell_style = _choice_w(rng, CELL_DATE_STYLES)
    text_style = _choice_w(rng, TEXT_DATE_STYLES)
    rows: list[list[Any]] = []
    merges = []
    if with_title and table.title:
        rows.append([(table.title, "title")])
        merges.append((0, 0, 0, len(table.header) - 1))
    rows.append([(h, "header") for h in table.header])
    for row in table.rows:
        cells = []
        for v in row:
            if isinstance(v, date):
                if mode == "cell":
                    if cell_style == "datetime":
                        v = datetime.combine(v, time(rng.choice((9, 9, 10, 15)), rng.choice((0, 30))))
                    cells.append((v, cell_style))
                elif mode == "serial":
                    cells.append((int(_serial(v)), None))
                else:
                    cells.append((_fmt_date(v, text_style), "text"))
            else:
                cells.append((v, "text" if isinstance(v, str) else "num" if v is not None else "text"))
        rows.append(cells)
    widths = [max(8.0, min(60.0, 2.2 * max((len(str(r[j])) for r in table.rows if j < len(r) and r[j] is not None),
                                             default=4))) for j in range(len(table.header))]
    return SheetData(name, rows, merges, widths)


# ---------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------


CHINA_TZ = timezone(timedelta(hours=8))  # file times are an office's local time


@dataclass
class _Ctx:
    rb: Rulebook
    seed: int
    writer: "_Writer"
    known: set[str]  # every registry name, alias and place: a misspelling must match none
    classify_cache: dict = field(default_factory=dict)

    def classify(self, type_text: str, topic: str) -> set[str]:
        key = (type_text, topic)
        hit = self.classify_cache.get(key)
        if hit is None:
            hit = self.classify_cache[key] = set(self.rb.classify_meeting(type_text, topic))
        return hit


@dataclass
class _Writer:
    out: Path
    summary: dict
    anomalies: Counter = field(default_factory=Counter)
    anomaly_files: list[dict] = field(default_factory=list)

    def write(self, rel: str, data: bytes, when: datetime, kind: str, ext: str) -> None:
        path = self.out / rel
        path.write_bytes(data)
        ts = when.replace(tzinfo=CHINA_TZ).timestamp()
        os.utime(path, (ts, ts))
        self.summary["files"][kind] += 1
        self.summary["files_by_format"][ext] += 1

    def note(self, rel: str, entries: Iterable[tuple[str, str]]) -> None:
        for code, detail in entries:
            self.anomalies[code] += 1
            self.anomaly_files.append({"file": rel, "code": code, "detail": detail})


def _file_label(unit: Unit, rng: random.Random) -> str:
    return unit.name if rng.random() < 0.5 or not unit.aliases else unit.aliases[0]


DEFAULT_YEARS = range(2021, 2026)


def generate(out: Path, *, scale: str = "city", years: Iterable[int] | None = DEFAULT_YEARS, seed: int = 0,
             rulebook: Rulebook | str | Path | None = None) -> dict:
    """Write a synthetic data/raw tree under `out` and return a summary.

    Layout: out/units.csv and out/<year>/{score_sheets,meetings,filings,normative_docs}/<file>.
    Files left in those year folders by an earlier run are removed first (the tree is the
    generator's); nothing else under `out` is touched.

    Summary: files by kind and format, units (by type), regions, rows by kind, anomalies by code and
    anomaly_files (file, code, detail) listing every problem and variant that was put in on purpose
    (see ISSUE_KINDS for the ones the pipeline should report), so tests of the pipeline can check
    that each was found.
    """
    rb = rulebook if isinstance(rulebook, Rulebook) else load_rulebook(rulebook or "default")
    years = sorted({int(y) for y in (DEFAULT_YEARS if years is None else years)})
    out = Path(out)
    registry = build_registry(scale, seed)
    units = registry.units
    summary: dict[str, Any] = {
        "out": str(out), "scale": scale, "seed": seed, "years": years,
        "units": len(units), "regions": len(registry.regions),
        "units_by_type": dict(Counter(ROLE_UNIT_TYPES[u.role] for u in units)),
        "files": Counter(), "files_by_format": Counter(), "rows": Counter(),
    }
    writer = _Writer(out, summary)
    known = {n for u in units for n in (u.name, u.place, *u.aliases)}
    ctx = _Ctx(rb, seed, writer, known)
    out.mkdir(parents=True, exist_ok=True)
    _write_units(out, units, seed)
    summary["files"]["units"] += 1
    summary["files_by_format"]["csv"] += 1

    for year in years:
        for kind in KINDS:
            folder = out / str(year) / kind
            if folder.is_dir():
                for old in folder.iterdir():
                    if old.is_file():
                        old.unlink()
            folder.mkdir(parents=True, exist_ok=True)
        sheet_units = [u.name for u in units if u.role in rb.templates]
        sheet_flags = _year_flags(SHEET_RATES, sheet_units, year, seed, "sheet",
                                  exclusive=("legacy_xls", "openpyxl_writer"))
        ledger_flags = _year_flags({k: v for k, v in LEDGER_RATES.items() if k != "corrupt_file"},
                                   [u.name for u in units], year, seed, "ledger", exclusive=("legacy_xls", "xlsx"))
        xlsx_ledgers = sorted(n for n, f in ledger_flags.items() if "xlsx" in f)
        for name in _pick(LEDGER_RATES["corrupt_file"] / LEDGER_RATES["xlsx"], xlsx_ledgers, year, seed,
                          "corrupt_file", "ledger"):
            ledger_flags[name].add("corrupt_file")
        for group in registry.groups:
            plans = {}
            for unit in group.units:
                plans[unit.name] = _unit_year(ctx, unit, year, sheet_flags.get(unit.name, set()),
                                              ledger_flags.get(unit.name, set()))
            _write_registers(ctx, group, year, plans)
    summary["files"] = dict(summary["files"])
    summary["files_by_format"] = dict(summary["files_by_format"])
    summary["rows"] = dict(summary["rows"])
    summary["anomalies"] = dict(sorted(writer.anomalies.items()))
    summary["anomaly_files"] = writer.anomaly_files
    return summary


def _year_flags(rates: dict[str, float], candidates: list[str], year: int, seed: int, what: str,
                exclusive: tuple[str, ...] = ()) -> dict[str, set[str]]:
    flags: dict[str, set[str]] = {c: set() for c in candidates}
    taken: set[str] = set()
    for kind, rate in rates.items():
        chosen = _pick(rate, candidates, year, seed, kind, what, exclude=taken if kind in exclusive else set())
        if kind in exclusive:
            taken |= chosen
        for c in chosen:
            flags[c].add(kind)
    return flags


def _write_units(out: Path, units: list[Unit], seed: int) -> None:
    rng = _rng(seed, "units.csv")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["单位名称", "单位类型", "所属县区", "别名"])
    for u in units:
        sep = _choice_w(rng, ((";", 85), ("；", 7), ("、", 5), ("|", 3)))
        w.writerow([u.name, ROLE_UNIT_TYPES[u.role], u.region, sep.join(u.aliases)])
    (out / "units.csv").write_bytes(buf.getvalue().encode("utf-8-sig"))  # as Excel saves "CSV UTF-8"
    ts = datetime(2021, 1, 4, 9, 0, tzinfo=CHINA_TZ).timestamp()
    os.utime(out / "units.csv", (ts, ts))


def _unit_year(ctx: _Ctx, unit: Unit, year: int, sflags: set[str], lflags: set[str]) -> dict:
    rb, seed, writer = ctx.rb, ctx.seed, ctx.writer
    q = _quality(seed, unit, year)
    leader = _leader(seed, unit, year)
    meetings = _plan_meetings(rb, unit, year, q, _rng(seed, year, unit.name, "meetings"), leader)
    filings = _plan_filings(rb, unit, year, q, _rng(seed, year, unit.name, "filings"))
    docs = _plan_docs(unit, year, q, _rng(seed, year, unit.name, "docs"))

    # Ledger first: its row-level mess (undatable rows) changes what the records show.
    rng = _rng(seed, year, unit.name, "ledger")
    fmt = "xls" if "legacy_xls" in lflags else "xlsx" if "xlsx" in lflags else "csv"
    encoding = _choice_w(rng, CSV_ENCODINGS)
    log: list[tuple[str, str]] = []
    table = _ledger_table(unit, year, meetings, lflags, rng, log, fmt == "csv" and encoding == "gb18030", ctx.known)
    when = _submission_time(rng, year, 1, 3, 20)
    label = _file_label(unit, rng)
    stem = f"{label}_{year}年会议学法台账" if rng.random() < 0.6 else f"{year}年{label}学法会议记录"
    serial = "serial_dates" in lflags
    if fmt == "csv":
        data = table_csv(table, encoding, rng, serial, with_title=rng.random() < 0.05)
    else:
        sheet = table_sheet(table, rng, serial, with_title=rng.random() < 0.35,
                            name=rng.choice(("Sheet1", "台账", f"{year}年")))
        data = workbook_bytes(fmt, [sheet], when, _person(rng), "Microsoft Excel")
    fmt_codes = [("legacy_xls", "")] if fmt == "xls" else []
    fmt_codes += [("serial_dates", "")] if serial else []
    fmt_codes += [("blank_rows", "")] if "blank_rows" in lflags else []
    if fmt == "csv":
        fmt_codes.append((f"encoding_{encoding}", ""))
    if "corrupt_file" in lflags:
        data = data[: len(data) * 3 // 5]
        fmt_codes.append(("corrupt_file", "truncated"))
    rel = f"{year}/meetings/{stem}.{fmt}"
    writer.write(rel, data, when, "meetings", fmt)  # fmt is the extension here
    writer.note(rel, log + fmt_codes)
    writer.summary["rows"]["meetings"] += sum(1 for r in table.rows if any(v is not None for v in r))

    template = rb.templates.get(unit.role)
    if template is not None:
        counts = _requirement_counts(rb, meetings, year, ctx.classify)
        evidence = _evidence(rb, unit.role, counts, filings, docs, year)
        scores = _plan_scores(template, q, _rng(seed, year, unit.name, "scores"), evidence)
        _write_score_sheet(ctx, unit, template, year, scores, sflags)
    return {"filings": filings, "docs": docs}


def _write_score_sheet(ctx: _Ctx, unit: Unit, template: Template, year: int, scores: list[TaskScore],
                       flags: set[str]) -> None:
    rb, seed, writer = ctx.rb, ctx.seed, ctx.writer
    rng = _rng(seed, year, unit.name, "sheet")
    scope = "department" if unit.role == "department" else "township" if unit.role.startswith("township") else "region"
    # Inspections visit a region's party committee and government together.
    inspected_key = unit.quality_key if scope == "region" else unit.name
    verified = _rng(seed, year, "inspected", inspected_key).random() < VERIFIED_SHARE[scope]
    fmt = "xls" if "legacy_xls" in flags else "openpyxl" if "openpyxl_writer" in flags else "xlsx"
    ext = "xls" if fmt == "xls" else "xlsx"
    label = _file_label(unit, rng)
    stem = (f"{year}年度_{label}_{ROLE_FILE_LABELS[unit.role]}打分表" if rng.random() < 0.7
            else f"{label}{year}年法治建设第一责任人履职打分表")
    when = _submission_time(rng, year)
    author = rng.choice(("Administrator", "admin", "User", "微软用户", "lenovo", "HP", _person(rng)))
    app = "Microsoft Excel" if rng.random() < 0.7 else "WPS 表格"
    content_flags = flags - {"resubmission", "corrupt_file"}
    variety = [(k, str(year - 1) if k == "year_mismatch" else "")
               for k in ("legacy_xls", "openpyxl_writer", "notes_sheet", "empty_sheets", "blank_rows",
                         "fullwidth_digits", "score_text", "unit_alias", "total_missing", "year_mismatch") if k in flags]

    def build(task_scores: list[TaskScore], when: datetime) -> tuple[bytes, list[tuple[str, str]]]:
        # The same layout draws for every version of the file: a correction keeps its form.
        log: list[tuple[str, str]] = []
        layout_rng = _rng(seed, year, unit.name, "layout")
        sheets = _score_sheet(unit, template, rb, year, task_scores, content_flags, verified, layout_rng, log,
                              ctx.known)
        return workbook_bytes(fmt, sheets, when, author, app), log + variety

    rel = f"{year}/score_sheets/{stem}.{ext}"
    if "corrupt_file" in flags:
        data, _ = build(scores, when)
        writer.write(rel, data[: len(data) * 11 // 20], when, "score_sheets", ext)
        writer.note(rel, [("corrupt_file", "truncated")])
        resend = "resubmission" in flags or rng.random() < 0.5  # half the offices notice and send it again
    elif "resubmission" in flags:
        # The first version had slips the office then corrected: a few self-scores typed wrong.
        slipped = [TaskScore(s.task, max(0.0, s.self_points - rng.choice((0.5, 1, 2))), s.verified_points, s.remark)
                   if rng.random() < 0.15 else s for s in scores]
        data, log = build(slipped, when)
        writer.write(rel, data, when, "score_sheets", ext)
        writer.note(rel, log)
        writer.summary["rows"]["score_tasks"] += len(scores)
        resend = True
    else:
        data, log = build(scores, when)
        writer.write(rel, data, when, "score_sheets", ext)
        writer.note(rel, log)
        writer.summary["rows"]["score_tasks"] += len(scores)
        return
    if resend:
        suffix = rng.choice(("_更正", "(修订)", "（更正）", "_修改版", "_重新报送"))
        later = when + timedelta(days=rng.randint(2, 20), hours=rng.randint(0, 5))
        rel = f"{year}/score_sheets/{stem}{suffix}.{ext}"
        data, log = build(scores, later)
        writer.write(rel, data, later, "score_sheets", ext)
        writer.note(rel, [("resubmission", suffix)] + log)
        writer.summary["rows"]["score_tasks"] += len(scores)


def _write_registers(ctx: _Ctx, group: Group, year: int, plans: dict[str, dict]) -> None:
    rb, seed, writer = ctx.rb, ctx.seed, ctx.writer
    for kind, build in (("filings", lambda r, log: _filing_table(group, year, plans, rb, r, log)),
                        ("normative_docs", lambda r, log: _normative_table(group, year, plans, r, log,
                                                                         rb.normative_deadline_days))):
        rng = _rng(seed, year, group.label, kind)
        log: list[tuple[str, str]] = []
        table = build(rng, log)
        if not table.rows:
            continue
        fmt = "xlsx" if rng.random() < 0.35 else "csv"
        # Registers are compiled after the last report is due.
        when = _submission_time(rng, year, 4, 1, 20)
        stem = (f"{group.label}_{year}年度报告报送登记" if kind == "filings"
                else f"{group.label}_{year}年规范性文件备案登记")
        if fmt == "csv":
            encoding = _choice_w(rng, CSV_ENCODINGS)
            data = table_csv(table, encoding, rng, with_title=rng.random() < 0.05)
            log.append((f"encoding_{encoding}", ""))
        else:
            sheet = table_sheet(table, rng, with_title=rng.random() < 0.4, name=rng.choice(("Sheet1", "登记表")))
            data = xlsx_bytes([sheet], when, _person(rng))
        rel = f"{year}/{kind}/{stem}.{fmt}"
        writer.write(rel, data, when, kind, fmt)
        writer.note(rel, log)
        writer.summary["rows"][kind] += len(table.rows)


KIND_NAMES = {"units": "单位名册", "score_sheets": "打分表", "meetings": "会议学法台账", "filings": "报送登记",
              "normative_docs": "规范性文件登记"}
ROW_NAMES = {"meetings": "会议", "score_tasks": "打分任务", "filings": "报送", "normative_docs": "规范性文件"}


def format_summary(summary: dict) -> str:
    """A few Chinese lines for the command line (the summary's anomaly_files list is for tests)."""
    years = summary["years"]
    span = f"{years[0]}–{years[-1]}" if len(years) > 1 else str(years[0]) if years else "-"
    by_type = "、".join(f"{k} {v}" for k, v in summary["units_by_type"].items())
    files = "，".join(f"{KIND_NAMES.get(k, k)} {v:,}" for k, v in summary["files"].items())
    formats = "，".join(f"{k} {v:,}" for k, v in sorted(summary["files_by_format"].items()))
    rows = "；".join(f"{ROW_NAMES.get(k, k)} {v:,}" for k, v in summary["rows"].items())
    planted = "，".join(f"{k} {v}" for k, v in summary["anomalies"].items() if k in ISSUE_KINDS)
    return "\n".join([
        f"已生成到 {summary['out']}（{summary['scale']} 规模，种子 {summary['seed']}，{span} 年）",
        f"县区 {summary['regions']:,} 个，单位 {summary['units']:,} 个（{by_type}）",
        f"文件：{files}（{formats}）",
        f"数据行：{rows}",
        f"有意加入的问题（应在“数据质量”中看到）：{planted}",
    ])
