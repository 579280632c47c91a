"""Small pure text helpers shared by every parser.

Files arrive typed by hand in Excel/WPS on Chinese Windows: full-width digits and brackets, wrapped
cells with newlines, numbers written as text ("4.5分"), and CSVs saved as UTF-8, UTF-8 with BOM or
GBK. These helpers normalise that once, cheaply, so parsers can stay simple.
"""
from __future__ import annotations

import math
import re
from datetime import date, datetime, time

from pipelines.lib.records import FileRejected

# Full-width ASCII block U+FF01..U+FF5E maps 1:1 onto U+0021..U+007E; U+3000 is the ideographic
# space. Only this block is folded: Chinese punctuation outside it (、。“”《》【】) keeps its meaning.
_HALFWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_HALFWIDTH[0x3000] = 0x20


def to_halfwidth(s: str) -> str:
    """Fold full-width letters, digits and ASCII punctuation (（）：，．) and the ideographic space."""
    if s.isascii():  # the common case costs one C call
        return s
    return s.translate(_HALFWIDTH)


def clean_cell(v: object) -> str:
    """Any cell value as display text: None → '', trimmed, inner whitespace (newlines from wrapped
    cells, ideographic/non-breaking spaces) collapsed to one space; 3.0 → '3'."""
    if v is None:
        return ""
    if type(v) is str:
        # str.split() without arguments splits on all Unicode whitespace, \u3000 and \xa0 included
        return " ".join(v.split())
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
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

UNKNOWN_ENCODING_MESSAGE = (
    "文件编码无法识别（既不是UTF-8，也不是GBK/GB18030），无法读取。"
    "请在Excel或WPS中“另存为”CSV UTF-8（逗号分隔）或Excel工作簿（.xlsx）后重新报送。"
)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode a hand-sent text file: BOM → strict UTF-8 → strict GB18030 → FileRejected.

    UTF-8 is tried before GB18030 because UTF-8 bytes also decode as (nonsense) GB18030. GB18030 is
    a superset of GB2312 and GBK and also covers characters GBK lacks (𠮷, 镕). Never decodes with
    replacement characters: a wrong guess must fail loudly, not load mojibake.
    """
    text = encoding = None
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom):].decode(enc.replace("-sig", ""))
                encoding = enc
            except UnicodeDecodeError:
                raise FileRejected("unknown_encoding", UNKNOWN_ENCODING_MESSAGE) from None
            break
    else:
        for enc in ("utf-8", "gb18030"):
            try:
                text = data.decode(enc)
                encoding = enc
                break
            except UnicodeDecodeError:
                continue
    if text is None or "\x00" in text:
        # NUL never occurs in a real text table: this is a binary file or UTF-16 without a BOM.
        raise FileRejected("unknown_encoding", UNKNOWN_ENCODING_MESSAGE)
    return text.replace("\ufeff", ""), encoding
