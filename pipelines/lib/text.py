"""Small pure text helpers shared by every parser.

Files arrive typed by hand in Excel/WPS on Chinese Windows: full-width digits and brackets, wrapped
cells with newlines, numbers written as text ("4.5分"), and CSVs saved as UTF-8, UTF-8 with BOM or
GBK. These helpers normalise that once, cheaply, so parsers can stay simple.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time
from functools import lru_cache

from pipelines.lib.records import FileRejected

# Full-width ASCII block U+FF01..U+FF5E maps 1:1 onto U+0021..U+007E; U+3000 is the ideographic
# space. Only this block is folded: Chinese punctuation outside it (、。“”《》【】) keeps its meaning.
_HALFWIDTH = {chr(cp): chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F)}
_HALFWIDTH["\u3000"] = " "
_FULLWIDTH = re.compile("[\uff01-\uff5e\u3000]")


def _fold(m: re.Match[str]) -> str:
    return _HALFWIDTH[m.group()]


# Texts already folded, by text: the same task, duty and column names come back in every file of a
# kind, and folding a text with full-width characters calls back into Python once per character.
_FOLDED: dict[str, str] = {}
_FOLDED_MAX = 50_000  # then start again: a bound on memory whatever the files hold


def to_halfwidth(s: str) -> str:
    """Fold full-width letters, digits and ASCII punctuation (（）：，．) and the ideographic space."""
    if s.isascii():  # the common case costs one C call
        return s
    folded = _FOLDED.get(s)
    if folded is None:
        # Chinese text mostly has no such character, or a few: a regex scan is several times cheaper
        # than str.translate, which looks up every character of a non-ASCII string in a dict.
        folded = _FULLWIDTH.sub(_fold, s)
        if len(_FOLDED) >= _FOLDED_MAX:
            _FOLDED.clear()
        _FOLDED[s] = folded
    return folded


def folded_cell(v: object) -> str:
    """to_halfwidth(clean_cell(v)); a text cell seen before costs one lookup."""
    if type(v) is str:
        return _folded_text(v)
    if type(v) is float:  # its text is ASCII
        return clean_cell(v)
    return to_halfwidth(clean_cell(v))


# by the cell's text: a kind's task, duty and column names come back in every file
@lru_cache(maxsize=_FOLDED_MAX)
def _folded_text(v: str) -> str:
    return to_halfwidth(" ".join(v.split()))


def clean_cell(v: object) -> str:
    """Any cell value as display text: None → '', trimmed, inner whitespace (newlines from wrapped
    cells, ideographic/non-breaking spaces) collapsed to one space; 3.0 → '3'."""
    if v is None:
        return ""
    if type(v) is str:
        # str.split() without arguments splits on all Unicode whitespace, \u3000 and \xa0 included
        return " ".join(v.split())
    if isinstance(v, float):  # the commonest after text; a bool is no float
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, datetime):
        if v.time() == time(0):
            return v.date().isoformat()
        return v.isoformat(sep=" ")
    if isinstance(v, (date, time)):
        return v.isoformat()
    return " ".join(str(v).split())


# A plain decimal, optionally with thousands separators and a trailing unit word people type.
# float() alone is too lenient ("nan", "1_0", "1e400" all parse), hence the explicit pattern.
_NUMBER_RE = re.compile(
    r"([+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+)\s*(?:分|学时|小时|课时|人|名|次|个|h|H)?"
)
_MAX_NUMBER_TEXT = 40  # longer "numbers" are garbage; don't spend regex time on them


def parse_number(v: object) -> float | None:
    """4.5, '4.5', '４．５', '4.5分', ' 6 ', '1,200人' → float; '', 'abc', '合格', nan, inf → None."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if not isinstance(v, str):
        return None
    s = v.strip()
    if s.isdecimal() and len(s) < 16:  # fast path: "15" (float() reads full-width digits too)
        return float(s)
    if not s or len(s) > _MAX_NUMBER_TEXT:
        return None
    s = to_halfwidth(s).strip()
    m = _NUMBER_RE.fullmatch(s)
    if m is None:
        return None
    f = float(m.group(1).replace(",", ""))
    return f if math.isfinite(f) else None


_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16-le"),  # Excel's "Unicode text" export
    (b"\xfe\xff", "utf-16-be"),
)
_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")
_CONTROL_BYTES = [b for b in range(32) if b not in b"\t\n\r\f"]

_SAVE_AS = "请在 Excel 或 WPS 中“另存为”CSV UTF-8（逗号分隔）或 Excel 工作簿（.xlsx）后重新报送。"
UNKNOWN_ENCODING_MESSAGE = f"文件编码无法识别（既不是 UTF-8，也不是 GBK/GB18030），无法读取。{_SAVE_AS}"


def unknown_encoding(what: str | None = None) -> FileRejected:
    """The rejection of a text file in an encoding that is not read; `what` names the encoding it
    looks like (in Chinese), when that can be told."""
    if what is None:
        return FileRejected("unknown_encoding", UNKNOWN_ENCODING_MESSAGE)
    before = " " if what[:1].isascii() else ""
    after = " " if what[-1:].isascii() else ""
    return FileRejected(
        "unknown_encoding",
        f"文件编码无法识别：内容看起来是{before}{what}{after}编码，不是系统能读取的 UTF-8 或 GBK/GB18030，无法读取。"
        f"{_SAVE_AS}",
    )


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode a hand-sent text file: BOM → strict UTF-8 → strict GB18030 → FileRejected.

    UTF-8 is tried before GB18030 because UTF-8 bytes also decode as (nonsense) GB18030. GB18030 is
    a superset of GB2312 and GBK and also covers characters GBK lacks (𠮷, 镕). Never decodes with
    replacement characters: a wrong guess must fail loudly, not load mojibake.

    The encoding is decided on the bytes; a stray NUL byte (one in a cell, a padded field) does not
    change it and is left in the text for the caller to report on its row. Text that is UTF-16 or
    UTF-32 without a BOM (NUL bytes in a regular pattern) is refused.
    """
    if data.startswith(_UTF32_BOMS):
        raise unknown_encoding("UTF-32")
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(enc.replace("-sig", ""))
            except UnicodeDecodeError:
                raise unknown_encoding() from None
            return text.replace("\ufeff", ""), enc
    if b"\x00" in data:
        head = data[:4096]
        wide = _wide_encoding(head)
        if wide is not None:
            raise unknown_encoding(wide)
        # a stray NUL is tolerated, a binary file is not
        controls = sum(head.count(bytes([b])) for b in _CONTROL_BYTES)
        if controls > max(2, len(head) // 20):
            raise unknown_encoding()
    for enc in ("utf-8", "gb18030"):
        try:
            return data.decode(enc).replace("\ufeff", ""), enc
        except UnicodeDecodeError:
            continue
    raise unknown_encoding(_likely_encoding(_sample(data)))


def _wide_encoding(sample: bytes) -> str | None:
    """UTF-16/UTF-32 without a BOM, told by where the NUL bytes of its ASCII characters fall."""

    def share(part: bytes) -> float:
        return part.count(0) / max(1, len(part))

    sample = sample[: len(sample) // 4 * 4]
    if len(sample) < 8:
        return None
    if (
        min(share(sample[2::4]), share(sample[3::4])) > 0.9
        or min(share(sample[0::4]), share(sample[1::4])) > 0.9
    ):
        return "不带字节顺序标记（BOM）的 UTF-32"
    even, odd = share(sample[0::2]), share(sample[1::2])
    if max(even, odd) >= 0.2 and min(even, odd) <= 0.02:
        return "不带字节顺序标记（BOM）的 UTF-16"
    return None


def _sample(data: bytes, size: int = 65536) -> bytes:
    """The first bytes up to a line end: "\n" is never part of a multi-byte character in any of the
    encodings considered, so the sample decodes as the whole file would."""
    if len(data) <= size:
        return data
    cut = data.rfind(b"\n", 0, size)
    return data[: cut + 1] if cut > 0 else data[:size]


def other_encoding(data: bytes, encoding: str) -> str | None:
    """For text that decoded without error but in which no header was found: the encoding it more
    likely is (in Chinese, for the message), or None when it looks like what it decoded as.

    A strict GB18030 decode succeeding is no proof: Big5, Shift-JIS, EUC-KR and most Latin-1 text
    also decode, into unusual characters. Chinese in GBK is almost all level-1 hanzi of GB2312 and
    common punctuation, so a large share of anything else means another encoding. Korean (EUC-KR)
    lands in level 1 as well, but as words of a few syllables between spaces, which Chinese never
    writes. Runs only after a header was not found: the cost is off the common path.
    """
    sample = _sample(data)
    if encoding.startswith("utf-8"):
        if b"\x1b$" in sample or b"\x1b(" in sample:  # ISO-2022 escape sequences, 7-bit
            return "日文或韩文（ISO-2022）"
        return None
    if encoding != "gb18030":
        return None
    common, unusual = _gb_profile(sample)
    # a few rare characters are names (王𠮷, 朱镕基): many, and a large share of them, are not
    if unusual >= 8 and unusual * 100 >= (common + unusual) * 15:
        return _likely_encoding(sample) or "其他（非简体中文）"
    if common + unusual >= 8 and _looks_korean(sample):
        return "韩文（EUC-KR）"
    return None


def _gb_profile(data: bytes) -> tuple[int, int]:
    """(common, unusual) multi-byte characters of GB18030 bytes: common are GB2312 level-1 hanzi
    (lead 0xB0-0xD7), the punctuation row 0xA1 and full-width ASCII 0xA3."""
    common = unusual = 0
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b < 0x80:
            i += 1
            continue
        trail = data[i + 1] if i + 1 < n else 0
        if 0x30 <= trail <= 0x39:  # four-byte sequence
            unusual += 1
            i += 4
            continue
        if trail >= 0xA1 and (0xB0 <= b <= 0xD7 or b in (0xA1, 0xA3)):
            common += 1
        else:
            unusual += 1
        i += 2
    return common, unusual


_HANZI_SPACE_HANZI = re.compile(r"[\u4e00-\u9fff] [\u4e00-\u9fff]")


def _looks_korean(sample: bytes) -> bool:
    try:
        korean = sample.decode("euc_kr")
        chinese = sample.decode("gb18030")
    except UnicodeDecodeError:
        return False
    hangul = sum(1 for ch in korean if "\uac00" <= ch <= "\ud7a3")
    hanzi = sum(1 for ch in chinese if "\u4e00" <= ch <= "\u9fff")
    return hangul >= 8 and hangul * 2 >= hanzi and len(_HANZI_SPACE_HANZI.findall(chinese)) * 10 >= hanzi


def _likely_encoding(sample: bytes) -> str | None:
    """A name for the encoding of bytes that are neither UTF-8 nor GBK text, if one fits."""
    high = [i for i, b in enumerate(sample) if b >= 0x80]
    if not high:
        return None
    end = len(sample)
    isolated = sum(
        1 for i in high if (i == 0 or sample[i - 1] < 0x80) and (i + 1 >= end or sample[i + 1] < 0x80)
    )
    if isolated * 10 >= len(high) * 7:  # accented letters one at a time: a Western code page
        return "西文（Latin-1/Windows-1252）"
    for codec, name in (
        ("big5", "繁体中文（Big5）"),
        ("shift_jis", "日文（Shift-JIS）"),
        ("cp932", "日文（Shift-JIS）"),
        ("euc_kr", "韩文（EUC-KR）"),
        ("euc_jp", "日文（EUC-JP）"),
    ):
        try:
            sample.decode(codec)
        except UnicodeDecodeError:
            continue
        return name
    return None
