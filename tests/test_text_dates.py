"""Unit tests for the shared text and date helpers."""
from __future__ import annotations

from datetime import date, datetime, time

import pytest

from pipelines.lib.dates import parse_date
from pipelines.lib.records import FileRejected
from pipelines.lib.text import clean_cell, decode_text, parse_number, to_halfwidth


# --- to_halfwidth -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, expected",
    [
        ("（３分）", "(3分)"),
        ("ＡＢＣ１２３", "ABC123"),
        ("责任人：县（区）党委", "责任人:县(区)党委"),
        ("４．５，６", "4.5,6"),
        ("清丰县\u3000人民政府", "清丰县 人民政府"),
        ("；｜", ";|"),
        # Chinese punctuation outside the full-width ASCII block is kept
        ("学习、“宪法”《民法典》。【注】", "学习、“宪法”《民法典》。【注】"),
        ("plain ascii", "plain ascii"),
        ("", ""),
    ],
)
def test_to_halfwidth(raw, expected):
    assert to_halfwidth(raw) == expected


# --- clean_cell -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, expected",
    [
        (None, ""),
        ("  清丰县  ", "清丰县"),
        ("学习\n习近平法治思想\r\n专题", "学习 习近平法治思想 专题"),
        ("a\u3000\u3000b\xa0c\t d", "a b c d"),
        (3.0, "3"),
        (4.5, "4.5"),
        (7, "7"),
        (True, "TRUE"),
        (datetime(2024, 3, 5), "2024-03-05"),
        (datetime(2024, 3, 5, 14, 30), "2024-03-05 14:30:00"),
        (date(2024, 3, 5), "2024-03-05"),
        (time(14, 30), "14:30:00"),
        ("   ", ""),
    ],
)
def test_clean_cell(raw, expected):
    assert clean_cell(raw) == expected


# --- parse_number -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, expected",
    [
        (4.5, 4.5),
        (6, 6.0),
        ("4.5", 4.5),
        ("４．５", 4.5),
        ("4.5分", 4.5),
        ("４．５分", 4.5),
        (" 6 ", 6.0),
        ("６", 6.0),
        ("-1", -1.0),
        (".5", 0.5),
        ("1,200人", 1200.0),
        ("2学时", 2.0),
        ("3 小时", 3.0),
        ("", None),
        ("   ", None),
        ("abc", None),
        ("合格", None),
        ("nan", None),
        ("inf", None),
        ("1_000", None),
        ("1e3", None),
        ("1,2", None),
        ("9" * 400, None),  # too long to be a number
        ("9" * 39, 1e39 - 1),
        (None, None),
        (True, None),
        (float("nan"), None),
        (float("inf"), None),
    ],
)
def test_parse_number(raw, expected):
    got = parse_number(raw)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


# --- decode_text ------------------------------------------------------------------------------

SAMPLE = "单位,日期,主题\n清丰县,2024-03-05,学习宪法\n"
RARE = "单位,主持人\n清丰县,王𠮷镕\n"  # 𠮷 and 镕 are in GB18030 but not in GBK


@pytest.mark.parametrize(
    "data, text, encoding",
    [
        (SAMPLE.encode("utf-8"), SAMPLE, "utf-8"),
        (b"\xef\xbb\xbf" + SAMPLE.encode("utf-8"), SAMPLE, "utf-8-sig"),
        (b"\xff\xfe" + SAMPLE.encode("utf-16-le"), SAMPLE, "utf-16-le"),
        (b"\xfe\xff" + SAMPLE.encode("utf-16-be"), SAMPLE, "utf-16-be"),
        (SAMPLE.encode("gbk"), SAMPLE, "gb18030"),
        (SAMPLE.encode("gb2312"), SAMPLE, "gb18030"),
        (RARE.encode("gb18030"), RARE, "gb18030"),
        (RARE.encode("utf-8"), RARE, "utf-8"),
        (b"", "", "utf-8"),
    ],
)
def test_decode_text(data, text, encoding):
    assert decode_text(data) == (text, encoding)


def test_rare_characters_really_are_outside_gbk():
    with pytest.raises(UnicodeEncodeError):
        RARE.encode("gbk")


def test_decode_text_strips_stray_bom():
    assert decode_text("\ufeff单位\n\ufeff".encode("utf-8"))[0] == "单位\n"


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\x80\xff\x80 not text",  # invalid in UTF-8 and in GB18030
        bytes(range(128, 256)),
        SAMPLE.encode("utf-16-le"),  # UTF-16 without a BOM: NUL bytes
        b"PK\x03\x04\x14\x00\x00\x00",  # a zip header
        b"\xff\xfe\x00\xd8",  # BOM, then a lone surrogate
    ],
)
def test_decode_text_rejects_undecodable(data):
    with pytest.raises(FileRejected) as exc:
        decode_text(data)
    assert exc.value.code == "unknown_encoding"
    assert "编码" in exc.value.message


def test_decode_text_never_replaces():
    # a GBK file with one corrupt byte must not load as text with U+FFFD in it
    data = SAMPLE.encode("gbk") + b"\xff"
    with pytest.raises(FileRejected):
        decode_text(data)


# --- parse_date -------------------------------------------------------------------------------

D = date(2024, 3, 5)


@pytest.mark.parametrize(
    "raw",
    [
        "2024-03-05",
        "2024-3-5",
        "2024/3/5",
        "2024/03/05",
        "2024.3.5",
        "2024.03.05",
        "2024年3月5日",
        "2024年03月05日",
        "2024 年 3 月 5 日",
        "2024年3月5号",
        "2024-03-05 00:00:00",
        "2024-03-05T00:00:00",
        "2024/3/5 14:30",
        "2024年3月5日下午",
        "2024年3月5日 14:30",
        "  2024-03-05  ",
        "２０２４－０３－０５",
        "２０２４年３月５日",
        "２０２４．３．５",
        "20240305",
        "45356",
        45356,
        45356.0,
        45356.75,  # a datetime serial: the fraction is the time of day
        20240305,
        datetime(2024, 3, 5, 9, 30),
        D,
    ],
)
def test_parse_date_accepts(raw):
    assert parse_date(raw) == D


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "  ",
        "abc",
        "2024-13-45",
        "2024-02-30",
        "2023-02-29",
        "0224-03-05",
        "2024-03",
        "3/5/2024",  # ambiguous day/month order: not guessed
        "2024-03-05 abc",
        "2024-03-05x",
        "x" * 1000,
        True,
        5,  # too small to be a serial anyone means
        -45356,
        1e308,
        float("nan"),
        float("inf"),
        99999999,
        datetime(1, 1, 1),
    ],
)
def test_parse_date_rejects(raw):
    assert parse_date(raw) is None


def test_parse_date_serial_system():
    assert parse_date(32874) == date(1990, 1, 1)
    assert parse_date(44927) == date(2023, 1, 1)
    assert parse_date(45658.999) == date(2025, 1, 1)
    assert parse_date("2024-02-29") == date(2024, 2, 29)


def test_parse_date_is_memoized_and_fast():
    import time as _time

    values = [f"2024-{m:02d}-{d:02d}" for m in range(1, 13) for d in range(1, 29)] * 300
    start = _time.perf_counter()
    out = [parse_date(v) for v in values]
    elapsed = _time.perf_counter() - start
    assert all(out)
    # ~10 M/s measured here (cached strings); the bound only catches losing the cache or the fast path
    assert len(values) / elapsed > 100_000, f"{len(values) / elapsed:.0f} dates/s"
