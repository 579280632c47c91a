"""The method (方法说明): the rulebook in words, as the dashboard's method page and the README show it.

Pure: rendered from rulebooks on disk (the default, and small ones that extend it), never from a warehouse.
"""

from __future__ import annotations

import re
from pathlib import Path

from markdown_it import MarkdownIt

from pipelines.lib.method import SECTION, markdown_text, render
from pipelines.lib.rulebook import load_rulebook

_MD = MarkdownIt("commonmark").enable(["strikethrough", "table"])


def _rulebook(tmp_path: Path, text: str):
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "rulebook.yaml").write_text(text, encoding="utf-8")
    return load_rulebook(folder)


def _section(text: str, heading: str) -> str:
    """The text of one ### section."""
    start = text.index(f"### {heading}\n")
    end = text.find("\n### ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_readme_method_is_written_from_the_default_rulebook():
    """README.md's 方法说明 is exactly what the default rulebook renders (regenerate it with
    `.venv/bin/python -m pipelines.lib.method`)."""
    assert SECTION.read() == render(load_rulebook("default"))


def test_the_default_rulebook_in_words():
    rules = load_rulebook("default")
    text = render(rules)
    head = _section(text, "所用规则库")
    assert f"编号：{rules.id}；版本：{rules.version}；指纹：`{rules.fingerprint}`" in head
    assert markdown_text(rules.name) in head
    # Every role's score sheet: its duties and tasks with points, the assumed weights marked.
    for role, template in rules.templates.items():
        sheet = text[text.index(f"#### {rules.roles[role].name}\n") :].split("\n#### ")[0]
        assert f"共{len(template.tasks)}项，满分100分" in sheet
        assert ("各项分值为假设" in sheet) == template.weights_are_assumption
        rows = [line for line in sheet.splitlines() if re.match(r"\| (职责\d+：.*| ) \| \d+ \|", line)]
        assert len(rows) == len(template.tasks), role
    party = text[text.index("#### 县（区）党委主要负责人\n") :]
    assert "| 职责1：" in party and "（计29分） | 1 | 县（区）常委会每半年至少听取一次" in party
    # What the records decide: which task, how many of its points, the rule in words, the source.
    evidence = _section(text, "打分与台账记录的对照")
    assert (
        "| 县（区）党委 | 第1项 县（区）常委会每半年至少听取一次法治建… | 2／6分 | "
        "对照“党委常委会每半年至少听取一次法治建设工作汇报”：各期间合计每少1次扣1分，扣完为止 | "
        "004 党委第1项“听取工作汇报2次及以上得2分，少听取1次扣1分” |"
    ) in evidence
    assert "均达到100%得2分；均达到80%得1分；否则0分" in evidence
    assert "报送了“法治政府建设年度报告”得1分，否则0分" in evidence
    # Requirements and deadlines in words, with their sources; the assumed one marked.
    assert "| 每半年至少1次 |" in _section(text, "会议与学法的频次要求")
    assert "| 每年不少于60学时 |" in _section(text, "会议与学法的频次要求")
    filings = _section(text, "报告报送要求")
    assert "| 次年1月31日（假设） | 000 四(一)年终述法；001 述法方式 |" in filings
    assert "| 次年3月31日 |" in filings and "| 当年8月10日 |" in filings
    assert "印发之日起30日内报备" in filings
    # Ranking, missing states, stability, weak spots, improvement, warnings.
    ranking = _section(text, "排名办法")
    assert "区县综合得分为县（区）党委、县（区）政府主要负责人得分的平均值" in ranking
    assert "（如1、2、2、4）" in ranking and "任一缺报的，不参与排名" in ranking
    missing = _section(text, "缺报、待审与不适用")
    assert "打分表的报送截止日期为次年1月31日（假设）" in missing
    assert "不参与排名，也从不列为末位" in missing and "在排名通报中列出" in missing
    assert "“8/9 县区参与排名”" in missing and "本规则库没有规定不适用的事项。" in missing
    stability = _section(text, "名次的稳定性")
    assert "共模拟1000次（随机种子20201" in stability and "5%至95%分位数" in stability
    assert "至少95%的模拟中得分低于上一名" in stability and "“基本稳定”" in stability
    assert "市直部门 0.8～1.2；乡镇（街道）党委 0.8～1.2" in stability
    assert "本节的设定是可以修改的假设" in stability
    assert "低10个百分点及以上，并且低于本单位上年的得分率" in _section(text, "短板")
    warnings = _section(text, "年内预警与反馈通知")
    assert "每缺1次会议30天（假设）" in warnings and "给单位10天（假设）重新报送" in warnings
    assumptions = _section(text, "哪些是假设")
    assert "- 市直部门打分表的各项分值（原始清单没有给出分值）" in assumptions
    assert "- 报告“年终述法（列入年度述职报告）”的截止日期" in assumptions
    assert "- 打分表的报送截止日期" in assumptions and "党委打分表" not in assumptions.replace(
        "乡镇（街道）党委", ""
    )


def test_every_table_is_well_formed():
    text = render(load_rulebook("default"))
    tables = [t for t in _MD.parse(text) if t.type == "table_open"]
    assert len(tables) >= 10
    for block in re.split(r"\n\n", text):
        lines = block.splitlines()
        if lines and lines[0].startswith("| "):
            cells = {len(re.findall(r"(?<!\\)\|", line)) for line in lines}
            assert len(cells) == 1, block


NA_RULEBOOK = """
extends: default
id: test_na
name: 不适用测试口径
version: 2
not_applicable:
  - {role: township_government, task_no: 10, units: [甲镇人民政府, 乙街道办事处], reason: 未承担综合执法职能,
     source: "乡镇综合执法改革方案"}
  - {role: department, task_no: 8, reason: 无行政执法职能的部门, source: "003 三(八)"}
frequency_requirements:
  law_lecture: {assumption: true}
stability:
  weight_ranges: []
  self_vs_verified: false
  contradicted_points: false
"""


def test_a_rulebook_with_tasks_that_do_not_apply(tmp_path):
    rules = _rulebook(tmp_path, NA_RULEBOOK)
    text = render(rules)
    assert "编号：test\\_na；版本：2" in text and rules.fingerprint != load_rulebook().fingerprint
    missing = _section(text, "缺报、待审与不适用")
    assert "本规则库没有规定不适用的事项" not in missing
    assert "| 乡镇（街道）政府 | 第10项 落实行政执法体制改革各项任务" in missing
    assert "| 甲镇人民政府、乙街道办事处 | 未承担综合执法职能 | 乡镇综合执法改革方案 |" in missing
    assert (
        "| 市直部门 | 第8项 " in missing
        and "| 本角色全部单位 | 无行政执法职能的部门 | 003 三(八) |" in missing
    )
    assert "该项不计入这些单位的满分（分母），单位按得分率（得分÷适用满分）与同类单位比较" in missing
    # No declared uncertainty: said so, not an empty list.
    assert "没有声明任何不确定性" in _section(text, "名次的稳定性")
    # An assumption declared on one requirement shows beside it and in the list of assumptions.
    assert "每年至少举办2期领导班子法治专题讲座（假设）" in _section(text, "会议与学法的频次要求")
    assert "- 频次要求“每年至少举办2期领导班子法治专题讲座”" in _section(text, "哪些是假设")


HOSTILE = [
    "**bold**",
    "[link](http://evil.example)",
    "`tick`",
    "<b>x</b>",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "a | b",
    "~~del~~",
    "$x$",
    "&amp;",
    "_em_",
]


def test_rulebook_text_is_data_never_markup(tmp_path):
    hostile = " ".join(HOSTILE)
    quoted = hostile.replace('"', '\\"')
    rules = _rulebook(
        tmp_path,
        f"""
extends: default
id: hostile
name: "{quoted}"
not_applicable:
  - {{role: department, task_no: 8, reason: "{quoted}", source: "{quoted}"}}
filing_requirements:
  shufa_report: {{name: "{quoted}"}}
""",
    )
    html = _MD.render(render(rules))
    plain_html = _MD.render(render(load_rulebook("default")))
    # No more markup than the method's own (its bold words, the fingerprint and `assumption: true` as code).
    for tag in ("<strong>", "<em>", "<code>", "<a ", "<b>", "<script", "<img", "<del>", "<s>"):
        assert html.count(tag) == plain_html.count(tag), tag
    # Shown as written: the literal text reads back from the HTML, wherever it went.
    text = re.sub(r"<[^>]+>", "", html)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    assert text.count(hostile) >= 4  # name, reason, source, and the report's name (several times)
