"""Unit tests for the shared text and date helpers."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from pipelines.lib import text as text_helpers
from pipelines.lib.dates import parse_date
from pipelines.lib.records import FileRejected
from pipelines.lib.text import (
    clean_cell,
    decode_text,
    folded_cell,
    other_encoding,
    parse_number,
    to_halfwidth,
)

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


def test_to_halfwidth_folds_exactly_the_full_width_ascii_block_and_the_ideographic_space():
    # every character from U+2FF0 to U+FFFF, alone and among Chinese text
    for cp in range(0x2FF0, 0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        if 0xFF01 <= cp <= 0xFF5E:
            expected = chr(cp - 0xFEE0)
        elif cp == 0x3000:
            expected = " "
        else:
            expected = ch
        assert to_halfwidth(ch) == expected, hex(cp)
        assert to_halfwidth(f"县{ch}区{ch}") == f"县{expected}区{expected}", hex(cp)
        assert to_halfwidth(f"县{ch}区{ch}") == f"县{expected}区{expected}", hex(cp)  # folded before


def test_to_halfwidth_remembers_a_bounded_number_of_texts():
    # a year of ledgers holds millions of distinct texts: what is remembered of them stays bounded
    texts = [f"第{n}号（通知）" for n in range(text_helpers._FOLDED_MAX + 500)]
    assert [to_halfwidth(t) for t in texts] == [f"第{n}号(通知)" for n in range(len(texts))]
    assert len(text_helpers._FOLDED) <= text_helpers._FOLDED_MAX
    assert [to_halfwidth(t) for t in texts[:3]] == ["第0号(通知)", "第1号(通知)", "第2号(通知)"]


@pytest.mark.parametrize(
    "raw", [None, "  第１项\n（５分）  ", "\u3000ＡＢ\u3000", 3.0, 4.5, True, datetime(2024, 3, 5), ""]
)
def test_folded_cell_is_clean_cell_then_to_halfwidth(raw):
    assert folded_cell(raw) == to_halfwidth(clean_cell(raw))
    assert folded_cell(raw) == to_halfwidth(clean_cell(raw))  # remembered the first time


def test_folded_cell_remembers_a_bounded_number_of_texts():
    texts = [f" 第{n}号\n（通知） " for n in range(text_helpers._FOLDED_MAX + 500)]
    assert [folded_cell(t) for t in texts] == [f"第{n}号 (通知)" for n in range(len(texts))]
    assert text_helpers._folded_text.cache_info().currsize <= text_helpers._FOLDED_MAX
    assert [folded_cell(t) for t in texts[:2]] == ["第0号 (通知)", "第1号 (通知)"]


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
        SAMPLE.encode("utf-16-be"),
        b"\xff\xfe\x00\x00" + SAMPLE.encode("utf-32-le"),  # UTF-32 with its BOM
        SAMPLE.encode("utf-32-le"),
        b"PK\x03\x04\x14\x00\x00\x00",  # a zip header
        b"\xff\xfe\x00\xd8",  # BOM, then a lone surrogate
    ],
)
def test_decode_text_rejects_undecodable(data):
    with pytest.raises(FileRejected) as exc:
        decode_text(data)
    assert exc.value.code == "unknown_encoding"
    assert "编码" in exc.value.message


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_a_stray_nul_does_not_change_the_encoding(encoding):
    # one NUL in a cell is a data problem of its row (reported by the ledger parser), not proof
    # that the whole file is in another encoding
    text = "单位,日期\n清丰县\x00,2024-03-05\n"
    assert decode_text(text.encode(encoding)) == (text, "utf-8" if encoding == "utf-8" else "gb18030")


TRADITIONAL = "單位,日期,會議類型,主題\n清豐縣司法局,2024-03-05,常委會,學習憲法與法治政府建設\n"
JAPANESE = "部署,日付,会議の種類,議題\n法務局,2024-03-05,定例会議,憲法の学習と法治行政の推進について\n"
KOREAN = "부서,날짜,회의 종류,주제\n법무부,2024-03-05,정기 회의,헌법 학습 및 법치 행정 추진\n"


@pytest.mark.parametrize(
    "data, named",
    [
        (TRADITIONAL.encode("big5"), "Big5"),
        (JAPANESE.encode("shift_jis"), "Shift-JIS"),
        (KOREAN.encode("euc_kr"), "EUC-KR"),
    ],
)
def test_text_in_another_encoding_that_decodes_as_gb18030_is_told(data, named):
    # the strict GB18030 decode succeeds (into unusual characters): only the content tells
    text, encoding = decode_text(data)
    assert encoding == "gb18030" and text != data.decode("big5", errors="replace")
    assert named in other_encoding(data, encoding)


@pytest.mark.parametrize(
    "data, encoding",
    [
        (SAMPLE.encode("gbk"), "gb18030"),
        (RARE.encode("gb18030"), "gb18030"),
        ((SAMPLE * 50).encode("gbk"), "gb18030"),
        ("说明：本表由衢州市柯城区司法局填报，王喆、张堃审核。\n甲,乙,丙\n".encode("gbk"), "gb18030"),
        (SAMPLE.encode("utf-8"), "utf-8"),
        ("Réunion,Date\nParis,2024\n".encode(), "utf-8"),
    ],
)
def test_chinese_and_utf8_text_is_not_suspected(data, encoding):
    assert other_encoding(data, encoding) is None


def test_undecodable_text_names_what_it_looks_like():
    with pytest.raises(FileRejected) as exc:
        decode_text("Société,Année\nÉvénement,Réunion à Genève\n".encode("cp1252"))
    assert exc.value.code == "unknown_encoding" and "Latin-1" in exc.value.message
    with pytest.raises(FileRejected) as exc:
        decode_text(SAMPLE.encode("utf-16-le"))
    assert "UTF-16" in exc.value.message


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
