"""方法说明: the rulebook in force in words, as Markdown in Chinese for a city leader or an analyst — its
roles and score sheets, what the records decide, the requirements and their deadlines, how units and
regions are ranked, what a missing sheet means, how stable a rank is, weak spots, improvement paths, the
in-year warnings, which values are assumptions, and how the rulebook each year was first published under is
kept and compared (pipelines/lib/rulebook_history.py). Every rule names its source where the rulebook has one.

`render(rules)` is the text; the dashboard's 方法说明 page shows it for the rulebook the published figures
were computed with (passing its own escaping of data for Streamlit), the README for the default rulebook.
`python -m pipelines.lib.method` rewrites the README's part between the method markers;
tests/models/test_method.py checks that README.md is what this writes.

Text from the rulebook is data, never markup: every piece of it goes through `escape`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable

from pipelines.lib.readme import Section
from pipelines.lib.rulebook import EvidenceLink, Rulebook, Template, load_rulebook

SECTION = Section(
    "<!-- method: generated from the default rulebook by pipelines/lib/method.py -->", "<!-- method: end -->"
)

Escape = Callable[[object], str]

DUTY_HOLDER = "主要负责人"
PERIOD_WORDS = {"quarter": "每季度", "half_year": "每半年", "year": "每年"}
MEASURE_WORDS = {"count": "次", "hours": "学时"}
LEVEL_WORDS = {"region": "县（区）", "department": "市直部门", "township": "乡镇（街道）"}
YEAR_WORDS = {-1: "上年", 0: "当年", 1: "次年"}
RECTIFICATION_SOURCE_WORDS = {
    "self_check": "自查",
    "inspection_feedback": "督察反馈",
    "shufa_review": "述法评议",
    "other": "其他",
}
EFFORT_WORDS = {
    "filing": "补报一份应报未报的报告",
    "record": "为已开展的工作补交记录",
    "meeting": "补开一次会议或学法",
    "task": "记录无法决定的事项上的失分",
}
# What a section marked `assumption: true` holds, in words.
SECTION_WORDS = {
    "submission": "打分表的报送截止日期",
    "stability": "名次稳定性模拟的设定（模拟次数、随机种子、名次区间、不确定性及其范围）",
    "weak_spots": "短板的差距阈值",
    "improvement": "提升路径的难易顺序",
    "early_warning": "预警的提前量（每缺1次会议所需的天数、学时的折算、即将到期的天数）",
    "notices": "反馈通知的重新报送期限",
    "ranking": "排名办法",
    "normative_documents": "规范性文件的报备期限",
    "rectification": "整改规则",
    "inspection_calendar": "督察日程",
}

# Characters that make Markdown or HTML of text (CommonMark and GitHub's extensions: emphasis, code,
# links, tables, headings, strikethrough, maths, entities, HTML, emoji shortcodes): escaped with a
# backslash, which CommonMark allows before any ASCII punctuation.
_MARKUP = re.compile(r"([\\`*_\[\]<>|#~$&!:{}])")


def markdown_text(value: object) -> str:
    """Text from the rulebook as Markdown that shows it as written, on one line."""
    return _MARKUP.sub(r"\\\1", " ".join(str(value).split()))


# -- small words -----------------------------------------------------------------------------------


def _num(value: float) -> str:
    return f"{value:g}"


def _percent(share: float) -> str:
    return f"{share * 100:g}%"


def _date(year_offset: int, month: int, day: int) -> str:
    year = YEAR_WORDS.get(year_offset, f"{year_offset}年后")
    return f"{year}{month}月{day}日"


def _short(text: str, length: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"


def _role(rules: Rulebook, role: str) -> str:
    """The role's name less 主要负责人 (县（区）党委), or its id when the rulebook does not know it."""
    name = rules.role_names.get(role, role)
    return name.removesuffix(DUTY_HOLDER) or name


def _roles(rules: Rulebook, roles: Iterable[str], esc: Escape) -> str:
    return "、".join(esc(_role(rules, r)) for r in roles)


def _assumed(rules: Rulebook, path: str) -> str:
    note = rules.provenance.get(path)
    return "（假设）" if note and note.assumption else ""


def _source(rules: Rulebook, path: str, esc: Escape) -> str:
    note = rules.provenance.get(path)
    return esc(note.source.rstrip("。")) if note and note.source else ""


def _source_line(rules: Rulebook, path: str, esc: Escape) -> str:
    """依据：… for a section, and a word that its settings are assumptions when they are."""
    source = _source(rules, path, esc)
    note = rules.provenance.get(path)
    assumed = "本节的设定是可以修改的假设。" if note and note.assumption else ""
    return (f"依据：{source}。" if source else "") + assumed


def _table(head: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = list(head)
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _paragraphs(*parts: str) -> str:
    return "\n\n".join(p for p in parts if p)


# -- sections --------------------------------------------------------------------------------------


def _heading(rules: Rulebook, esc: Escape) -> str:
    return _paragraphs(
        "### 所用规则库",
        "\n".join(
            [
                f"- 名称：{esc(rules.name)}",
                f"- 编号：{esc(rules.id)}；版本：{rules.version}；指纹：`{rules.fingerprint}`"
                "（任何一条规则改动，指纹都随之改变）",
                "- 标“（假设）”的数值或规则不见于原始文件，是可以在规则库中修改的假设（规则文件中写作 "
                "`assumption: true`）；“依据”写明规则出自哪份文件的哪一处。",
            ]
        ),
    )


def _role_table(rules: Rulebook, esc: Escape) -> str:
    rows = []
    for role in rules.roles.values():
        template = rules.templates.get(role.id)
        rows.append(
            [
                esc(role.name),
                esc(role.unit_type),
                esc(LEVEL_WORDS.get(role.level, role.level)),
                esc(template.title or template.name) if template else "（无打分表）",
                str(len(template.tasks)) if template else "",
                _num(template.max_total) if template else "",
            ]
        )
    return _paragraphs(
        "### 角色",
        "每份打分表考核一个角色，即一类单位的主要负责人；单位在本角色内全市排名。",
        _table(["角色", "单位类型", "层级", "打分表", "事项数", "满分"], rows),
    )


def _template_intro(rules: Rulebook, template: Template, esc: Escape) -> str:
    intro = f"{esc(template.title or template.name)}，共{len(template.tasks)}项，满分{_num(template.max_total)}分。"
    source = _source(rules, f"templates.{template.role}", esc)
    if source:
        intro += f"依据：{source}。"
    if template.weights_are_assumption:
        intro += "各项分值为假设：原始清单没有给出分值。"
    return intro


def _task_rows(template: Template, esc: Escape) -> list[list[str]]:
    totals: dict[int, float] = {}
    for task in template.tasks:
        totals[task.duty_no] = totals.get(task.duty_no, 0.0) + task.points
    rows, shown = [], set()
    for task in template.tasks:
        duty = ""
        if task.duty_no not in shown:
            shown.add(task.duty_no)
            duty = f"职责{task.duty_no}：{esc(_short(task.duty, 30))}（计{_num(totals[task.duty_no])}分）"
        rows.append([duty, str(task.task_no), esc(_short(task.text, 40)), _num(task.points)])
    return rows


def _score_sheets(rules: Rulebook, esc: Escape) -> str:
    parts = [
        "### 打分表：主要职责与考核事项",
        "每个角色的打分表按主要职责分组列出考核事项及其分值（事项文字过长的只列开头）。",
    ]
    for role in rules.roles.values():
        template = rules.templates.get(role.id)
        if template is None:
            continue
        parts += [
            f"#### {esc(role.name)}",
            _template_intro(rules, template, esc),
            _table(["主要职责", "序号", "考核事项", "分值"], _task_rows(template, esc)),
        ]
    return _paragraphs(*parts)


def _keywords(words: Iterable[str], esc: Escape) -> str:
    return "／".join(f"正则 {esc(w[3:])}" if w.startswith("re:") else esc(w) for w in words)


def _meeting_types(rules: Rulebook, esc: Escape) -> str:
    rows = []
    for meeting in rules.meeting_types.values():
        rule = "＋".join(f"（{_keywords(group, esc)}）" for group in meeting.all_of)
        if meeting.none_of:
            rule += f"，不含：{_keywords(meeting.none_of, esc)}"
        rows.append(
            [
                esc(meeting.name),
                rule,
                "是" if meeting.study else "否",
                _source(rules, f"meeting_types.{meeting.id}", esc),
            ]
        )
    return _paragraphs(
        "### 会议类型的识别",
        "台账中每条会议记录按“会议类型”和“主题”两栏的文字一并识别：每个括号内的词至少出现一个，"
        "且不出现“不含”的词。一条记录可以同时属于几种类型。",
        _table(["会议类型", "识别规则", "计入学法", "依据"], rows),
    )


def _frequency(rules: Rulebook, esc: Escape) -> str:
    rows = []
    for req in rules.frequency_requirements.values():
        unit = MEASURE_WORDS.get(req.measure, req.measure)
        least = "不少于" if req.measure == "hours" else "至少"
        rows.append(
            [
                esc(req.name) + _assumed(rules, f"frequency_requirements.{req.id}"),
                _roles(rules, req.roles, esc),
                "、".join(esc(rules.meeting_types[m].name) for m in req.meeting_types),
                f"{PERIOD_WORDS.get(req.period, req.period)}{least}{_num(req.min)}{unit}",
                esc(req.source),
            ]
        )
    return _paragraphs(
        "### 会议与学法的频次要求",
        "每个单位在本角色每项要求的每个期间都有一条记录，没有任何会议记录的期间也在内（实有0次，未达标）。",
        _table(["要求", "适用角色", "计入的会议类型", "期间与最低要求", "依据"], rows),
    )


def _filings(rules: Rulebook, esc: Escape) -> str:
    rows = [
        [
            esc(f.name),
            _roles(rules, f.roles, esc),
            _date(f.due_year_offset, f.due_month, f.due_day) + _assumed(rules, f"filing_requirements.{f.id}"),
            esc(f.source),
        ]
        for f in rules.filing_requirements.values()
    ]
    days = rules.normative_deadline_days
    return _paragraphs(
        "### 报告报送要求",
        "截止日期当天报送的算按期报送；报送登记表某行写有“应报日期”的，以该日期为准。应报未报的报告记为未报送。",
        _table(["报告", "报送角色", "截止日期", "依据"], rows),
        f"规范性文件须在印发之日起{days}日内报备。报备率＝已报备÷已印发；及时率＝{days}日内报备÷已印发；"
        "规范率＝合规÷已报备。" + _source_line(rules, "normative_documents", esc),
    )


def _link_rule(rules: Rulebook, link: EvidenceLink, esc: Escape) -> str:
    points = _num(link.points)
    if link.rule in ("deduct_per_missing", "threshold") and link.requirement:
        req = rules.frequency_requirements[link.requirement]
        unit = MEASURE_WORDS.get(req.measure, req.measure)
        if link.rule == "deduct_per_missing":
            return f"对照“{esc(req.name)}”：各期间合计每少1{unit}扣{_num(link.deduct)}分，扣完为止"
        return f"对照“{esc(req.name)}”：全年达到{_num(link.min)}{unit}得{points}分，否则0分"
    if link.rule == "filed" and link.filing:
        return f"报送了“{esc(rules.filing_requirements[link.filing].name)}”得{points}分，否则0分"
    if link.rule == "normative_rates":
        tiers = "；".join(f"均达到{_percent(rate)}得{_num(p)}分" for rate, p in link.tiers)
        return f"规范性文件报备率、及时率、规范率{tiers}；否则0分"
    return esc(link.rule)


def _evidence(rules: Rulebook, esc: Escape) -> str:
    rows = []
    for n, link in enumerate(rules.evidence_links):
        task = next(t for t in rules.templates[link.role].tasks if t.task_no == link.task_no)
        rows.append(
            [
                esc(_role(rules, link.role)),
                f"第{link.task_no}项 {esc(_short(task.text, 20))}",
                f"{_num(link.points)}／{_num(task.points)}分",
                _link_rule(rules, link, esc),
                esc(link.source) + _assumed(rules, f"evidence_links.{n}"),
            ]
        )
    return _paragraphs(
        "### 打分与台账记录的对照",
        "下列考核事项的一部分分值由台账记录决定（“记录决定的分值”为其中几分／该项满分）。记录不改变打分表上的得分："
        "自评分高于记录所能支持的，标为“自评与记录不符”，列入短板和反馈通知。",
        _table(["角色", "考核事项", "记录决定的分值", "规则", "依据"], rows)
        if rows
        else "本规则库没有规定由记录决定的分值。",
    )


def _ranking(rules: Rulebook, esc: Escape) -> str:
    return _paragraphs(
        "### 排名办法",
        esc(rules.ranking.describe(rules.role_names)),
        "单位在本角色内全市排名，按得分率（得分÷适用满分）比较；末位按同样的并列规则标出，单独排第一的或并列第一的"
        "从不列为末位。",
        _source_line(rules, "ranking", esc),
    )


def _not_applicable_table(rules: Rulebook, esc: Escape) -> str:
    if not rules.not_applicable:
        return "本规则库没有规定不适用的事项。"
    rows = []
    for na in rules.not_applicable:
        task = next(t for t in rules.templates[na.role].tasks if t.task_no == na.task_no)
        rows.append(
            [
                esc(_role(rules, na.role)),
                f"第{na.task_no}项 {esc(_short(task.text, 20))}",
                "、".join(esc(u) for u in na.units) if na.units else "本角色全部单位",
                esc(na.reason),
                esc(na.source),
            ]
        )
    return _paragraphs(
        "本规则库规定的不适用事项：",
        _table(["角色", "考核事项", "单位", "原因", "依据"], rows),
    )


def _missing(rules: Rulebook, esc: Escape) -> str:
    due = _date(*rules.score_sheet_due) + _assumed(rules, "submission")
    policy = rules.ranking
    coverage = "每个排名都写明参与排名的对象数，如“8/9 县区参与排名”。"
    if policy.require_all_region_roles:
        coverage = (
            f"县区得分所需的{_roles(rules, policy.region_roles, esc)}任一为待审或缺报的，该县区不参与排名。"
            + coverage
        )
    items = [
        "- **不适用**：考核事项对某些单位不适用时，该项不计入这些单位的满分（分母），单位按得分率（得分÷适用满分）"
        "与同类单位比较。打分表上写“不适用”（或“不涉及”“无此项”）的事项同样处理，并提示法治办核实。",
        f"- **待审**：打分表的报送截止日期为{due}。截止日期前尚未报送打分表的单位为待审：照常列出，不参与排名，"
        "也从不列为末位。",
        "- **缺报**：截止日期过后仍未报送的为缺报：不参与排名，在排名通报中列出。",
        f"- **覆盖面**：{coverage}",
    ]
    return _paragraphs(
        "### 缺报、待审与不适用",
        "缺少的材料一律写明状态，从不悄悄按0分计：",
        "\n".join(items),
        f"截止日期依据：{_source(rules, 'submission', esc)}。" if _source(rules, "submission", esc) else "",
        _not_applicable_table(rules, esc),
    )


def _uncertainties(rules: Rulebook, esc: Escape) -> list[str]:
    stab = rules.stability
    items = []
    if stab.self_vs_verified:
        items.append("- 自评分与核定分：同一事项两者都有且不相同时，每次随机取其中之一。")
    if stab.contradicted_points:
        items.append("- 与记录不符的分值：记录不支持自评分值的事项，每次随机取所报分值或记录支持的分值。")
    if stab.weight_ranges:
        ranges = "；".join(
            f"{esc(_role(rules, role))} {_num(lo)}～{_num(hi)}"
            for role, (lo, hi) in stab.weight_ranges.items()
        )
        items.append(
            "- 职责组权重：下列角色的每个主要职责组，其分值每次乘以在范围内随机取的一个因子"
            f"（同一次模拟中各单位相同）：{ranges}。"
        )
    return items or ["- 本规则库没有声明任何不确定性：每次模拟的名次都与实际名次相同。"]


def _stability(rules: Rulebook, esc: Escape) -> str:
    stab = rules.stability
    low, high = (_percent(q) for q in stab.band)
    return _paragraphs(
        "### 名次的稳定性",
        f"名次会随打分中不确定的因素变动。用带固定随机种子的模拟衡量：共模拟{stab.draws}次（随机种子{stab.seed}，"
        "同样的数据和规则每次得到同样的结果），每次在下列不确定性的范围内重新取值，重算得分和名次：",
        "\n".join(_uncertainties(rules, esc)),
        f"每次模拟中，单位在本角色内排名，县区按{_roles(rules, rules.ranking.region_roles, esc)}模拟得分的平均值"
        "排名，并列规则与正式排名相同。"
        f"每个排名对象取模拟名次的中位数，并以模拟名次的{low}至{high}分位数为名次区间。名次区间相互重叠的对象属于"
        "同一梯队，重叠可以传递（甲与乙重叠、乙与丙重叠，则甲、乙、丙同属一个梯队）。上年名次落在本年名次区间之内的，"
        f"名次变化视为“基本稳定”。末位只有在至少{_percent(stab.distinct_probability)}的模拟中得分低于上一名时，"
        "才认为与上一名确有差别。",
        _source_line(rules, "stability", esc),
    )


def _weak_spots(rules: Rulebook, esc: Escape) -> str:
    return _paragraphs(
        "### 短板",
        f"单位在某一主要职责组上的得分率，比同类单位（同一角色）的中位数低{_num(rules.peer_margin * 100)}个百分点"
        "及以上，并且低于本单位上年的得分率，即列为短板。",
        _source_line(rules, "weak_spots", esc),
    )


def _improvement(rules: Rulebook, esc: Escape) -> str:
    rows = [
        [esc(EFFORT_WORDS.get(kind, kind)), str(effort)]
        for kind, effort in sorted(rules.effort.items(), key=lambda item: item[1])
    ]
    return _paragraphs(
        "### 提升路径",
        "每个单位的失分项按所需的努力由易到难排列（数值越小越容易）：",
        _table(["做什么", "努力程度"], rows),
        _source_line(rules, "improvement", esc),
    )


def _early_warning(rules: Rulebook, esc: Escape) -> str:
    warn = rules.early_warning
    warned, noticed = _assumed(rules, "early_warning"), _assumed(rules, "notices")
    items = [
        f"- 频次要求：尚未结束的期间，剩余天数少于每缺1次会议{warn.days_per_missing}天{warned}的，为“有风险”；"
        f"期间结束仍未达到的，为“未达标”。按学时计的要求，每缺{_num(warn.session_hours)}学时{warned}按缺1次会议计。",
        f"- 报告报送：应报未报的报告，截止日期前{warn.filing_due_soon_days}天{warned}内为“即将到期”，"
        "过了截止日期为“已逾期”。",
        f"- 反馈通知：给单位{rules.resubmit_days}天{noticed}重新报送，自计算日期起算。",
    ]
    sources = [
        f"{label}依据：{source}。"
        for label, source in (
            ("预警", _source(rules, "early_warning", esc)),
            ("反馈通知", _source(rules, "notices", esc)),
        )
        if source
    ]
    return _paragraphs("### 年内预警与反馈通知", "按计算日期的记录：", "\n".join(items), "".join(sources))


def _calendar(rules: Rulebook, esc: Escape) -> str:
    rows = [
        [esc(p.name), f"{p.start[0]}月{p.start[1]}日至{p.end[0]}月{p.end[1]}日", esc(p.source)]
        for p in rules.inspection_calendar
    ]
    rect = rules.rectification
    words = RECTIFICATION_SOURCE_WORDS
    rule = f"来源为“{words[rect.feedback_source]}”的每个问题都须填写整改措施。"
    if rect.problem_list_filing:
        filing = esc(rules.filing_requirements[rect.problem_list_filing].name)
        rule = (
            f"报送了“{filing}”的单位，须在整改台账中列出来源为“{words[rect.problem_list_source]}”的问题；"
            + rule
        )
    return _paragraphs(
        "### 督察日程与整改",
        _table(["阶段", "日期（当年）", "依据"], rows) if rows else "本规则库没有督察日程。",
        rule + _source_line(rules, "rectification", esc),
    )


def _assumption_words(rules: Rulebook, path: str, esc: Escape) -> str:
    section, _, key = path.partition(".")
    if not key:
        return SECTION_WORDS.get(section, esc(section))
    if section == "filing_requirements" and key in rules.filing_requirements:
        return f"报告“{esc(rules.filing_requirements[key].name)}”的截止日期"
    if section == "frequency_requirements" and key in rules.frequency_requirements:
        return f"频次要求“{esc(rules.frequency_requirements[key].name)}”"
    if section == "meeting_types" and key in rules.meeting_types:
        return f"会议类型“{esc(rules.meeting_types[key].name)}”的识别"
    if section == "evidence_links" and key.isdigit() and int(key) < len(rules.evidence_links):
        link = rules.evidence_links[int(key)]
        return f"{esc(_role(rules, link.role))}第{link.task_no}项由记录决定的分值"
    return esc(path)


def _assumptions(rules: Rulebook, esc: Escape) -> str:
    items = [
        f"- {esc(_role(rules, t.role))}打分表的各项分值（原始清单没有给出分值）"
        for t in rules.templates.values()
        if t.weights_are_assumption
    ]
    items += [
        f"- {_assumption_words(rules, path, esc)}"
        for path, note in rules.provenance.items()
        if note.assumption and path
    ]
    return _paragraphs(
        "### 哪些是假设",
        "下列数值或规则不见于原始文件，是规则库中可以修改的假设；其余规则都出自原始文件，依据见以上各节。",
        "\n".join(items) if items else "- 本规则库没有标为假设的数值。",
    )


def _history(rules: Rulebook, esc: Escape) -> str:
    return _paragraphs(
        "### 规则改动与年度比较",
        "每次运行都按当时生效的规则库重算全部年度，所以同一次发布中的各年度总是按同一套规则计算。但一个年度的数字"
        "第一次发布、据此向各县区印发通报时所用的规则库，可能与现在的不同：规则库改动以后，以前的年度也按新规则重算。"
        "因此每次发布都记下两件事，并从上一次发布的数据仓库中接续下来（第一次发布时从头开始；发布中途中断的，"
        "已发布的记录不变）：",
        "\n".join(
            [
                "- 每个年度第一次发布时所用的规则库和本次计算所用的规则库，各写明编号、版本和指纹"
                "（`marts.rulebook_years`）；",
                "- 这些规则库的每一项规则，写成文字（`marts.rulebook_snapshots`）：打分表各事项的分值、由台账记录"
                "决定的分值及其规则、会议与学法的频次要求、报告的报送期限、排名办法，以及角色、打分表报送截止日期、"
                "预警、名次稳定性、短板、提升路径、督察日程等其他设定。",
            ]
        ),
        "看板“方法说明”页的“各年度所用规则”一节逐年列出两者，并在两种情况下提示，同时列出改动了的各项规则"
        "（新增、删去的，以及原来和现在的写法）：",
        "\n".join(
            [
                "- 某一年度第一次发布时所用的规则与本次计算所用的不同：该年度已印发的通报是按原来的规则计算的，"
                "与页面上的数字可能不同；",
                "- 相邻两个年度第一次发布时所用的规则不同：两份通报中的数字按不同的规则计算，用本年度的通报与上年度的"
                "通报比较时要注意。",
            ]
        ),
        "指纹不同而所列各项规则都相同的，改动在没有列出的内容中（如会议类型的识别词、规则的依据）。",
    )


SECTIONS = (
    _heading,
    _role_table,
    _score_sheets,
    _meeting_types,
    _frequency,
    _filings,
    _evidence,
    _ranking,
    _missing,
    _stability,
    _weak_spots,
    _improvement,
    _early_warning,
    _calendar,
    _assumptions,
    _history,
)


def render(rules: Rulebook, escape: Escape = markdown_text) -> str:
    """The method of `rules` as Markdown (sections from ###). `escape` turns any text from the rulebook
    into Markdown that shows it as written."""
    return "\n\n".join(section(rules, escape) for section in SECTIONS) + "\n"


if __name__ == "__main__":
    SECTION.write(render(load_rulebook("default")))
    sys.exit(0)
