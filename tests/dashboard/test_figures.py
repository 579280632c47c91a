"""Figure builders and display formats, as pure functions (AppTest cannot look inside a Plotly chart)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from dashboards import figures
from dashboards.formats import fmt_rank_change, fmt_rate, fmt_score, fmt_score_change
from dashboards.i18n import fmt_rank

NAN = float("nan")


def _regions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": ["乙县", "甲县", "丙县", "丁县", "戊县"],
            "score": [95.0, 100.0, 90.0, 90.0, NAN],
            "rank": [2, 1, 3, 3, NAN],
            "is_bottom": [False, False, True, True, False],
            "rank_change": [-1, 1, 0, NAN, NAN],
            "score_change": [2.5, 10.0, -3.0, NAN, NAN],
        }
    )


def test_ranking_bar_orders_by_rank_and_colours_first_bottom_unranked():
    fig = figures.ranking_bar(_regions(), label="region", value="score", title="排名")
    bar = fig.data[0]
    assert list(bar.y) == ["甲县", "乙县", "丙县", "丁县", "戊县"]
    assert list(bar.marker.color) == [
        figures.LEAD,
        figures.NEUTRAL,
        figures.BOTTOM,
        figures.BOTTOM,
        figures.UNRANKED,
    ]
    assert list(bar.text) == ["100.0", "95.0", "90.0", "90.0", ""]
    assert fig.layout.yaxis.autorange == "reversed"  # first place on top
    assert fig.layout.title.text == "排名"


def test_change_bar_shows_places_and_points_side_by_side():
    fig = figures.change_bar(
        _regions(), label="region", title="变化", rank_change_label="名次变化", score_change_label="得分变化"
    )
    ranks, scores = fig.data
    assert list(ranks.y) == ["甲县", "乙县", "丙县", "丁县", "戊县"]
    assert list(ranks.text) == ["↑1", "↓1", "→0", "—", "—"]
    assert list(scores.text) == ["+10.0", "+2.5", "-3.0", "—", "—"]
    assert list(ranks.marker.color)[:3] == [figures.UP, figures.DOWN, figures.UNRANKED]


def test_heatmap_grid_orders_and_percent_text():
    cells = pd.DataFrame(
        {
            "region": ["甲县", "甲县", "乙县", "乙县"],
            "duty": ["1. 领导", "2. 决策"] * 2,
            "rate": [1.0, 0.5, 0.8, 0.25],
        }
    )
    fig = figures.heatmap(
        cells,
        x="region",
        y="duty",
        z="rate",
        title="热力图",
        z_label="得分率",
        x_order=["乙县", "甲县"],
        y_order=["1. 领导", "2. 决策"],
    )
    hm = fig.data[0]
    assert list(hm.x) == ["乙县", "甲县"] and list(hm.y) == ["1. 领导", "2. 决策"]
    assert [list(r) for r in hm.z] == [[0.8, 1.0], [0.25, 0.5]]
    assert [list(r) for r in hm.text] == [["80%", "100%"], ["25%", "50%"]]
    assert hm.zmin == 0.25 and hm.zmax == 1.0


def test_met_matrix_marks_gaps_and_shows_actual_over_required():
    frame = pd.DataFrame(
        {
            "unit": ["甲", "甲", "乙", "乙"],
            "period": ["2024H2", "2024H1", "2024H1", "2024H2"],
            "met": [True, False, True, True],
            "cell": ["1/1", "0/1", "2/1", "1/1"],
        }
    )
    fig = figures.met_matrix(
        frame,
        row="unit",
        col="period",
        met="met",
        text="cell",
        title="矩阵",
        met_label="达标",
        not_met_label="未达标",
        col_order=["2024H1", "2024H2"],
    )
    hm = fig.data[0]
    assert list(hm.x) == ["2024H1", "2024H2"] and list(hm.y) == ["乙", "甲"]
    assert [list(r) for r in hm.z] == [[1.0, 1.0], [0.0, 1.0]]
    assert [list(r) for r in hm.text] == [["2/1", "1/1"], ["0/1", "1/1"]]


def test_rates_bar_one_trace_per_rate_with_percent_labels():
    frame = pd.DataFrame({"report": ["述法", "年报"], "filing_rate": [1.0, 0.5], "on_time_rate": [0.75, NAN]})
    fig = figures.rates_bar(
        frame, label="report", rates={"filing_rate": "报送率", "on_time_rate": "按时率"}, title="报送"
    )
    assert [tr.name for tr in fig.data] == ["报送率", "按时率"]
    assert list(fig.data[0].text) == ["100.0%", "50.0%"] and list(fig.data[1].text) == ["75.0%", ""]
    assert fig.layout.yaxis.tickformat == ".0%"


def test_history_puts_first_place_on_top():
    frame = pd.DataFrame({"year": [2024, 2023], "score": [90.0, 85.0], "rank": [4, 3]})
    fig = figures.history(frame, title="历年", score_label="得分", rank_label="名次")
    score, rank = fig.data
    assert list(score.x) == [2023, 2024] and list(score.text) == ["85.0", "90.0"]
    assert list(rank.y) == [3, 4]
    assert fig.layout.yaxis2.autorange == "reversed"


def test_count_bar_largest_on_top_coloured_by_severity():
    frame = pd.DataFrame(
        {
            "code": ["bad_date", "score_blank", "unknown_unit"],
            "n": [5, 9, 2],
            "severity": ["error", "warning", "error"],
        }
    )
    fig = figures.count_bar(
        frame,
        label="code",
        value="n",
        title="问题",
        color="severity",
        colors={"error": "red", "warning": "orange"},
    )
    bar = fig.data[0]
    assert list(bar.y) == ["unknown_unit", "bad_date", "score_blank"]  # plotly draws bottom-up
    assert list(bar.marker.color) == ["red", "red", "orange"]


@pytest.mark.parametrize(
    "value,expected", [(95.25, "95.3"), (92.75, "92.8"), (100, "100.0"), (None, ""), (NAN, "")]
)
def test_scores_have_one_decimal_rounded_half_up(value, expected):
    assert fmt_score(value) == expected


def test_rates_are_percentages():
    assert fmt_rate(0.8765) == "87.7%" and fmt_rate(1) == "100.0%" and fmt_rate(None) == ""


def test_rank_formats():
    assert fmt_rank(2, True) == "2（并列）" and fmt_rank(1, False) == "1" and fmt_rank(NAN, False) == "不排名"
    assert fmt_rank_change(3) == "↑3" and fmt_rank_change(-1) == "↓1" and fmt_rank_change(0) == "→0"
    assert fmt_rank_change(None) == "—" and fmt_score_change(math.nan) == "—"
    assert (
        fmt_score_change(1.25) == "+1.3"
        and fmt_score_change(-0.04) == "0.0"
        and fmt_score_change(-2) == "-2.0"
    )


HOSTILE = [
    "<b>x</b>",
    "[link](http://evil.example)",
    "$x$",
    "a & b",
    "<a href='http://evil.example'>y</a>",
    "\u202e反转",
    "**bold**",
]


def _drawn(fig) -> str:
    """Every string the figure hands to Plotly (labels, ticks, hover text, titles)."""
    return str(fig.to_plotly_json())


def test_data_strings_reach_plotly_escaped():
    """Plotly draws <b>, <a href>, <br> and entities in labels, and LaTeX between $: data must not."""
    frame = pd.DataFrame(
        {
            "region": HOSTILE,
            "score": [90.0 + i for i in range(len(HOSTILE))],
            "rank": range(len(HOSTILE), 0, -1),
            "is_bottom": [False] * len(HOSTILE),
            "rank_change": [1] * len(HOSTILE),
            "score_change": [0.5] * len(HOSTILE),
        }
    )
    figs = [
        figures.ranking_bar(frame, label="region", value="score", title="$x$ <b>排名</b>"),
        figures.change_bar(
            frame, label="region", title="变化", rank_change_label="名次", score_change_label="得分"
        ),
        figures.heatmap(
            frame.assign(duty="1. " + frame["region"], rate=0.5),
            x="region",
            y="duty",
            z="rate",
            title="热力图",
            z_label="得分率",
        ),
        figures.met_matrix(
            frame.assign(period="2024H1", met=True, cell="1/1"),
            row="region",
            col="period",
            met="met",
            text="cell",
            title="矩阵 · <i>要求</i>",
            met_label="达标",
            not_met_label="未达标",
        ),
        figures.rates_bar(frame.assign(rate=0.5), label="region", rates={"rate": "报送率"}, title="报送"),
        figures.count_bar(frame.assign(n=1), label="region", value="n", title="问题"),
    ]
    for fig in figs:
        drawn = _drawn(fig)
        for raw in ("<b>x</b>", "<a href", "$x$", "a & b", "<i>"):
            assert raw not in drawn, (fig.layout.title.text, raw)
        assert "&lt;b&gt;x&lt;/b&gt;" in drawn and "&#36;x&#36;" in drawn and "a &amp; b" in drawn
    bar = figs[0].data[0]
    assert (
        figures.text("<b>x</b>") in bar.y
        and figs[0].layout.title.text == "&#36;x&#36; &lt;b&gt;排名&lt;/b&gt;"
    )
    # An RTL override stays inside its label; a missing label reads —.
    assert figures.text("\u202e反转") == "\u2068\u202e反转\u2069" and figures.text(None) == "—"


@pytest.mark.parametrize("value", [*HOSTILE, "plain", "&amp;", "&#36;", ""])
def test_a_clicked_label_leads_back_to_its_data(value):
    assert figures.data_of(figures.text(value)) == value
