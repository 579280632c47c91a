"""Safe, fast reading of the workbooks units send in (.xlsx/.xlsm and legacy BIFF8 .xls).

python-calamine does the parsing (about ten times faster than openpyxl). It trusts what it reads,
so every file is first sniffed and bounded here, from its bytes, before calamine sees it:

- what the file really is (HTML, text, PDF, ODS, .xlsb, Excel 2.x-4.0 ... are refused, each named);
- encryption (an OLE2 container with an ``EncryptedPackage`` stream, or a BIFF ``FILEPASS`` record,
  told apart when it is Excel's built-in key), checked before anything else about the container;
- the file size, and for zip packages the declared uncompressed sizes (decompression bombs); a part
  is inflated to at most its declared size (more is refused) and must match its CRC;
- DTD/ENTITY declarations in any XML part (entity bombs, XXE);
- every worksheet's real extent, from the XML or BIFF records of the cells that can hold a value.
  calamine builds a dense grid from the top-left to the bottom-right value, so a 2 KB file with
  values at A1 and XFD1048576 makes it allocate ~550 GB and *abort the process* (calamine#693); a
  huge shared-string ``uniqueCount`` does the same (calamine#684). Both are refused here. Styled
  empty cells and ``<dimension>`` do not size the grid, so they do not count.

Two kinds of package that Excel and LibreOffice open but calamine refuses are repaired first (on a
copy, which then goes through every check again): XML parts in UTF-16 (Office Mobile) and Excel 4
macro sheets (taken out; the worksheets are read).

How the checks are kept cheap: each part is inflated once, straight from the file's bytes, and
calamine then reads a stored copy of the package holding the parts exactly as they were checked (so
it inflates nothing again, and no zip reader's view of the package can differ from the checks');
plain packages have their directory read here, others through zipfile; XML is scanned with bytes
searches, never parsed; a part seen before in this process (workbooks from one template share most
of their parts) is known by its bytes and not checked twice; a sheet whose cells all lie in a box
that fits the limits is settled by one search.

These checks make honest-but-broken and typical hostile files fail with one clear FileRejected whose
message is Chinese and says what the file is and what to do; the reader's own account stays in
FileRejected.detail. They are not a sandbox: parse untrusted files through
``pipelines.lib.isolation.map_isolated``, which also contains whatever slips past them.
"""

from __future__ import annotations

import array
import functools
import hashlib
import io
import logging
import os
import posixpath
import re
import struct
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple
from xml.sax.saxutils import unescape as _xml_unescape

import python_calamine
from zlib_ng import zlib_ng  # zlib's interface; inflates a score sheet's parts in two thirds of zlib's time

from pipelines.lib.records import FileRejected

__all__ = [
    "MAX_CELLS",
    "MAX_COLS",
    "MAX_FILE_BYTES",
    "MAX_ROWS",
    "MAX_UNZIPPED_BYTES",
    "Sheet",
    "read_workbook",
]

# Limits. A score sheet is ~35 rows x 10 columns and ~20 KB; a whole-region meeting ledger a few
# thousand rows. These leave two orders of magnitude of headroom and keep one parse well under
# 1 GB (calamine holds 32 bytes a cell, Python ~30 more).
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024  # all parts of one package, as declared in the zip
MAX_ROWS = 100_000
MAX_COLS = 1_000
MAX_CELLS = 5_000_000  # rows x columns counted from A1: what calamine actually allocates
_MAX_ZIP_MEMBERS = 10_000


@dataclass
class Sheet:
    """One worksheet as a rectangular grid from cell A1.

    ``rows[i][j]`` is the cell the office suite shows at row ``i + 1``, column ``j + 1``.
    Values: None (empty), str, float, bool, datetime.datetime / date / time / timedelta.
    Merged ranges carry the top-left value in every cell. Trailing empty rows and columns are
    dropped. A formula saved without a cached value reads as None (it cannot be told from empty).
    """

    name: str
    rows: list[list[object]]
    hidden: bool = False


class _Limits(NamedTuple):
    max_unzipped_bytes: int
    max_rows: int
    max_cols: int
    max_cells: int


# ---------------------------------------------------------------------------------------------
# Messages (what a clerk forwards to the submitting unit: Chinese only, what the file really is and
# what to do; the reader's own words go to FileRejected.detail and the debug log, never here)

_RESAVE = "请用 Excel 或 WPS 打开后“另存为”Excel 工作簿（.xlsx）再重新报送。"
_MSG_ENCRYPTED = (
    "文件设置了打开密码（已加密），系统无法读取。请用 Excel 或 WPS 输入密码打开，取消密码后"
    "“另存为”Excel 工作簿（.xlsx），再重新报送。"
)
# Excel encrypts a legacy .xls with its built-in key when the workbook structure is protected: it
# opens without asking for a password, so "remove the password" would puzzle the unit.
_MSG_DEFAULT_KEY = (
    "文件是用 Excel 默认的“保护工作簿”方式加密保存的（没有设置打开密码，Excel 可以直接打开），"
    "但系统无法读取这种加密的文件。请用 Excel 打开，在“审阅 → 保护工作簿”中撤消保护，"
    "再“另存为”Excel 工作簿（.xlsx）后重新报送。"
)
_MSG_UNREADABLE = (
    "文件已损坏或内部结构不完整，系统无法读取（常见于下载、复制中断，或由非标准软件生成）。"
    "请用 Excel 或 WPS 打开，确认内容完整后“另存为”新的 Excel 工作簿（.xlsx）再重新报送；"
    "如果打不开，请向制表人索取原文件。"
)
_log = logging.getLogger(__name__)


def _not_a_workbook(what: str) -> FileRejected:
    return FileRejected(
        "not_a_workbook", f"文件实际上是{what}，不是 Excel 工作簿（只是扩展名像表格文件）。{_RESAVE}"
    )


def _other_program(what: str, advice: str = _RESAVE) -> FileRejected:
    space = " " if what[:1].isascii() else ""  # 文件是 Excel …, 文件是苹果 …
    return FileRejected("unsupported_format", f"文件是{space}{what}，系统不读取这种格式。{advice}")


def _old_excel(version: str, detail: str | None = None) -> FileRejected:
    return FileRejected(
        "old_excel_format",
        f"文件是旧版 Excel 格式（{version}），系统无法读取。请用 Excel 或 WPS 打开后“另存为”"
        "Excel 工作簿（.xlsx）再重新报送。",
        detail,
    )


def _encrypted(detail: str | None = None, message: str = _MSG_ENCRYPTED) -> FileRejected:
    return FileRejected("encrypted", message, detail)


def _unreadable(detail: str, message: str = _MSG_UNREADABLE) -> FileRejected:
    _log.debug("unreadable workbook: %s", detail)
    return FileRejected("unreadable_workbook", message, detail)


def _too_large_sheet(name: str, rows: int, cols: int, lim: _Limits) -> FileRejected:
    return FileRejected(
        "sheet_too_large",
        f"工作表「{name}」的使用区域过大（{rows:,} 行 × {cols:,} 列），超出上限"
        f"（{lim.max_rows:,} 行、{lim.max_cols:,} 列、共 {lim.max_cells:,} 个单元格）。"
        "如果表格下方或右侧有大量空白行列或格式，请删除后重新保存再报送。",
    )


def _bomb(detail: str) -> FileRejected:
    return FileRejected(
        "decompression_bomb",
        f"文件解压后的内容异常庞大（{detail}），可能已损坏或含有大量空白格式，出于安全原因不予读取。"
        "请删除多余的行列和工作表后另存为新文件，再重新报送。",
    )


# ---------------------------------------------------------------------------------------------
# Public entry point


# What a read asks of the OS past a file's size, at most: os.read allocates the whole request first, so
# that asking for "the rest, up to the limit" at the end of every file allocated the limit (20 MB a
# workbook; 256 MB a CSV, which a parse worker's bounded address space refused).
READ_BLOCK = 1 << 20


def read_file(path: str | os.PathLike[str], limit: int, head: int = 8) -> tuple[int, bytes]:
    """(the file's size as opened, its bytes): all of them up to one more than `limit` — a read that
    comes back short, or a file grown since it was measured, is read on — or only its first `head`
    when it measured larger than `limit`. One opening, by the descriptor: the bytes that say what a
    file is are the bytes parsed (no re-read race). OSError propagates."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            return size, os.read(fd, head)
        data = os.read(fd, size + 1)
        while len(data) <= limit and (more := os.read(fd, min(READ_BLOCK, limit + 1 - len(data)))):
            data += more
        return size, data
    finally:
        os.close(fd)


def read_workbook(
    path: str | os.PathLike[str],
    *,
    read: tuple[int, bytes] | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    max_unzipped_bytes: int = MAX_UNZIPPED_BYTES,
    max_rows: int = MAX_ROWS,
    max_cols: int = MAX_COLS,
    max_cells: int = MAX_CELLS,
) -> list[Sheet]:
    """Read every worksheet of an .xlsx/.xlsm/.xls file, or raise FileRejected (one per file).

    Codes: empty_file, file_too_large, not_a_workbook, unsupported_format, old_excel_format,
    encrypted, decompression_bomb, xml_entities, sheet_too_large, unreadable_workbook.
    Chart sheets and dialog sheets are skipped, Excel 4 macro sheets too (calamine cannot list a
    workbook that has one, so they are taken out of the package first). OSError propagates.
    `read`: the file as a caller read it already (`read_file` with a limit of at least `max_bytes`:
    the size as opened, and the bytes), which is then not opened again.
    """
    lim = _Limits(max_unzipped_bytes, max_rows, max_cols, max_cells)
    size, data = read or read_file(path, max_bytes, head=0)
    if size > max_bytes:
        raise _file_too_large(size, max_bytes)
    if not size or not data:
        raise FileRejected("empty_file", "文件为空（0 字节），可能是上传或复制时出错，请重新报送。")
    if len(data) > max_bytes:
        raise _file_too_large(len(data), max_bytes)

    if data.startswith(b"PK\x03\x04"):
        data = _check_zip_package(data, lim)  # the same bytes, or a repaired copy of the package
        biff = None
    elif data.startswith(_OLE_MAGIC):
        biff = _check_ole_workbook(data, lim)
    else:
        raise classify_foreign(data)
    return _parse_with_calamine(data, lim, biff)


def _file_too_large(size: int, limit: int) -> FileRejected:
    return FileRejected(
        "file_too_large",
        f"文件大小 {size / 1048576:.1f} MB，超过 {limit / 1048576:.0f} MB 的上限。"
        "请删除无关的工作表、图片后另存，或拆分为多个文件后重新报送。",
    )


# ---------------------------------------------------------------------------------------------
# Files that are not workbooks at all

# BOF record types of the BIFF versions Excel 2.x to 4.0 wrote as a bare stream (no OLE2 container)
_OLD_BIFF_BOF = {0x0009: "Excel 2.x，1987 年", 0x0209: "Excel 3.0，1990 年", 0x0409: "Excel 4.0，1992 年"}


def sniff_binary(head: bytes) -> FileRejected | None:
    """What a file is from its first bytes when they are a known non-text format, else None."""
    if head.startswith(b"%PDF"):
        return _not_a_workbook("PDF 文档")
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM")):
        return _not_a_workbook("图片")
    if head.startswith((b"Rar!", b"7z\xbc\xaf", b"\x1f\x8b")):
        return _not_a_workbook("压缩包（RAR/7z/gz）")
    if head.startswith(b"{\\rtf"):
        return _not_a_workbook("RTF 文档（写字板或 Word 保存的格式）")
    if len(head) >= 8:
        rtype, rlen, version = struct.unpack_from("<HHH", head, 0)
        if rtype in _OLD_BIFF_BOF and 2 <= rlen <= 16:
            return _old_excel(_OLD_BIFF_BOF[rtype])
        if rtype == _BOF and rlen in (8, 16) and version in (0x0500, 0x0600):
            # a bare BIFF5/8 stream: what some exporters write, Excel opens it, calamine cannot
            return _old_excel(
                "Excel 5.0/95，1993–1995 年" if version == 0x0500 else "未封装的 Excel 97 工作簿流"
            )
        if head.startswith(b"\x00\x00\x02\x00") and head[4:6] in (b"\x04\x04", b"\x05\x04", b"\x06\x04"):
            return _other_program("Lotus 1-2-3 表格（.wk1）")
        if head.startswith(b"\x00\x00\x1a\x00") and head[4:6] in (b"\x00\x10", b"\x01\x10", b"\x02\x10"):
            return _other_program("Lotus 1-2-3 表格（.wk3/.wk4）")
    return None


def classify_foreign(data: bytes) -> FileRejected:
    """Why a file that is neither a zip package nor an OLE2 compound file is not a workbook."""
    head = data[:4096]
    known = sniff_binary(head)
    if known is not None:
        return known
    text = _decode_text(head)
    if text is None:
        return FileRejected(
            "not_a_workbook",
            f"文件内容无法识别，不是有效的 Excel 工作簿（可能已损坏，或是其他软件的文件改了扩展名）。{_RESAVE}",
        )
    low = text.lstrip("\ufeff \t\r\n").lower()
    if "urn:schemas-microsoft-com:office:spreadsheet" in low:
        return _not_a_workbook("“XML 表格 2003”格式")
    if low.startswith("mime-version") or "multipart/related" in low[:2000]:
        return _not_a_workbook("“单个文件网页”（MHT）")
    if re.search(r"<\s*(!doctype\s+html|html|head|body|table|meta)\b", low):
        return _not_a_workbook("网页（HTML），常见于从业务系统直接“导出 Excel”的文件")
    return _not_a_workbook("文本文件（如 CSV/TXT）")


def _decode_text(head: bytes) -> str | None:
    """The head decoded as text if it plausibly is text, else None (binary or random bytes)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="replace")
    for encoding in ("utf-8", "gb18030"):
        try:
            text = head.decode(encoding)
        except UnicodeDecodeError as exc:
            # a multi-byte character cut at the end of the sample is still text
            if exc.start < len(head) - 4:
                continue
            text = head[: exc.start].decode(encoding)
        controls = sum(1 for ch in text if ch < " " and ch not in "\t\r\n\f")
        if controls <= len(text) // 100:
            return text
    return None


# ---------------------------------------------------------------------------------------------
# Zip packages (.xlsx/.xlsm)

_XML_PART = re.compile(r"\.(xml|rels|vml)$", re.I)
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.I)
_PREFIX = rb"(?:[A-Za-z_][\w.-]*:)?"
_ROOT = re.compile(rb"<" + _PREFIX + rb"([A-Za-z_][\w.-]*)[\s/>]")
_COMMENT = re.compile(rb"<!--.*?-->", re.S)
_CELL_TAG = re.compile(rb"<" + _PREFIX + rb"c[\s/>]")
# a cell with its reference, and "/" when the tag closes itself (a styled empty cell: no value)
_CELL_REF = re.compile(
    rb"<" + _PREFIX + rb"c\s[^>]*?(?<![\w:.-])r\s*=\s*[\"']\$?([A-Za-z]+)\$?([0-9]+)[\"'][^>]*?(/?)>"
)
_ROW_OR_CELL = re.compile(rb"<" + _PREFIX + rb"(row|c)(?=[\s/>])([^>]*)>")
_R_ATTR = re.compile(rb"(?<![\w:.-])r\s*=\s*[\"']([^\"']*)[\"']")
_UNIQUE_COUNT = re.compile(rb"(?<![\w:.-])uniqueCount\s*=\s*[\"']\s*([0-9]+)")
_A1 = re.compile(r"\$?([A-Za-z]+)\$?([0-9]+)")  # no length cap: an absurd reference must count as huge
# what every common writer emits: cheap patterns that start with a literal (the regex engine
# skips ahead to it); the general ones above are used when a chunk has anything else
# every unprefixed cell tag, with its reference when it starts with a plain r="A1" (else b"", b"")
_CELL_PLAIN = re.compile(rb'<c(?: r="([A-Z]{1,3})([0-9]{1,7})"|[\s/>])')
_PREFIXED_CELL = re.compile(rb":c[\s/>]")
_RELATIONSHIP = re.compile(rb"<" + _PREFIX + rb"Relationship\s([^>]*)>")
_SHEET_TAG = re.compile(rb"<" + _PREFIX + rb"sheet\s([^>]*)>")
_ATTR = re.compile(r"([\w:.-]+)\s*=\s*[\"']([^\"']*)[\"']")
_QUOTES = {"&quot;": '"', "&apos;": "'"}
_SHEET_ROOTS = {b"worksheet", b"dialogsheet", b"macrosheet"}
_MACRO_SHEET_TYPES = ("/xlMacrosheet", "/xlIntlMacrosheet")
_CHUNK = 1 << 20
_ROOT_WINDOW = 65536
_INFLATE_INPUT = 1 << 16
_LOCAL_HEADER = struct.Struct("<4s2xH18xHH")  # signature, flags, name and extra field lengths
# the package calamine reads: local header, central directory entry, end of central directory
_STORED_LOCAL = struct.Struct("<4s5H3L2H")
_STORED_CENTRAL = struct.Struct("<4s6H3L5H2L")
_STORED_END = _END_RECORD = struct.Struct("<4s4H2LH")
# a central directory entry: signature, version needed, flags, method, CRC, sizes, name, extra and
# comment lengths, local header offset
_CENTRAL_ENTRY = struct.Struct("<4s2xHHH4xLLLHHH8xL")
_STORED_COPY_BYTES = 16 * 1024 * 1024  # inflated parts stored for calamine; beyond, it gets the package
_MAX_TAG_CARRY = 1 << 20  # a legal cell's text is <= 32,767 chars: a tag is never this long
_REBUILDS = 2  # repairs of one package: UTF-16 parts, then macro sheets


class _Utf16Part(Exception):
    """An XML part is in UTF-16 (Office Mobile writes them): the package is rewritten in UTF-8."""


@dataclass
class _MacroSheets:
    rel_ids: set[str]
    book: str
    rels: list[str]  # relationship parts of the workbook that name them


class _Entry(NamedTuple):
    """One member of the zip's central directory: what the checks use of zipfile.ZipInfo."""

    filename: str
    orig_filename: str
    flag_bits: int
    compress_type: int
    CRC: int
    compress_size: int
    file_size: int
    header_offset: int
    raw_name: bytes  # the name's bytes in the directory (UTF-8 when flag 0x800 is set, else CP437)
    zinfo: zipfile.ZipInfo | None = None

    @classmethod
    def of(cls, info: zipfile.ZipInfo) -> _Entry:
        encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
        return cls(
            info.filename,
            info.orig_filename,
            info.flag_bits,
            info.compress_type,
            info.CRC,
            info.compress_size,
            info.file_size,
            info.header_offset,
            info.orig_filename.encode(encoding),
            info,
        )

    def is_dir(self) -> bool:
        return self.filename.endswith("/")


# Parts remembered across packages. Workbooks made from one template by one program share most of
# their parts byte for byte (relationships, content types, styles, theme, often the workbook part),
# so a batch inflates and checks each of those once. A part is known by its stored bytes and
# everything its checks read besides (method, CRC, declared size, and for the scan its role and
# the limits); only parts that passed are remembered, so a bad part is refused every time. A part is
# remembered the second time it is seen (sheets and shared strings, different in every workbook,
# leave only a hash behind).
_PartKey = tuple[bytes, int, int, int]  # stored bytes, method, CRC, declared size
_MEMO_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_MEMO_PART_BYTES = 64 * 1024
_MEMO_PARTS = 128  # at most 16 MB; emptied when full
_MEMO_SEEN = 4096
_memo_seen: set[int] = set()  # hashes of the parts seen once
_memo_parts: dict[_PartKey, bytes] = {}  # part -> its inflated bytes (size and CRC checked)
_memo_clean: set[tuple[_PartKey, bool, _Limits]] = set()  # (part, scanned as a sheet, limits): passed


def _memo_part(key: _PartKey, raw: bytes) -> None:
    seen = hash(key)
    if seen not in _memo_seen:
        if len(_memo_seen) >= _MEMO_SEEN:
            _memo_seen.clear()
        _memo_seen.add(seen)
        return
    if len(_memo_parts) >= _MEMO_PARTS:
        _memo_parts.clear()
        _memo_clean.clear()
    _memo_parts[key] = raw


_new_entry = tuple.__new__  # builds an _Entry from a tuple of its fields, without the Python-level __new__


def _plain_directory(data: bytes) -> list[_Entry] | None:
    """The central directory of a plain package, read as zipfile reads it; None for anything else.

    Plain is what Excel, WPS, LibreOffice and openpyxl write: the end record last, no archive
    comment, no zip64, nothing before the first part, entries without extra fields or an unusual
    compression. Every other package goes through zipfile, which reads (or refuses) all of them.
    """
    end = len(data) - _END_RECORD.size
    if end < 0:
        return None
    signature, disk, cd_disk, disk_count, count, cd_size, cd_offset, comment = _END_RECORD.unpack_from(
        data, end
    )
    if (
        signature != b"PK\x05\x06"
        or comment
        or disk
        or cd_disk
        or disk_count != count
        or cd_offset + cd_size != end  # nothing prepended, nothing between directory and end record
        or data[end - 20 : end - 16] == b"PK\x06\x07"  # a zip64 locator
    ):
        return None
    entries: list[_Entry] = []
    pos = cd_offset
    unpack = _CENTRAL_ENTRY.unpack_from
    while pos < end:
        if pos + _CENTRAL_ENTRY.size > end:
            return None
        (sig, version, flags, method, crc, csize, usize, name_len, extra_len, comment_len, offset) = unpack(
            data, pos
        )
        name_start = pos + _CENTRAL_ENTRY.size
        pos = name_start + name_len + extra_len + comment_len
        if (
            sig != b"PK\x01\x02"
            or version > 63  # zipfile refuses newer versions
            or extra_len
            or method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
            or 0xFFFFFFFF in (csize, usize, offset)
            or pos > end
        ):
            return None
        raw_name = data[name_start : name_start + name_len]
        try:
            name = raw_name.decode("ascii" if raw_name.isascii() else "utf-8" if flags & 0x800 else "cp437")
        except UnicodeDecodeError:
            return None
        if "\x00" in name:
            return None
        entries.append(
            _new_entry(_Entry, (name, name, flags, method, crc, csize, usize, offset, raw_name, None))
        )
    return entries if len(entries) == count else None


def _check_zip_package(data: bytes, lim: _Limits, rebuilds: int = _REBUILDS) -> bytes:
    """Bound a zip package before any reader decompresses it; returns the bytes calamine gets.

    That is a stored copy of the package holding the parts as the checks read them (see
    _Package.stored_copy), or the bytes given when that copy would be too large. A package Excel
    opens but calamine cannot (UTF-16 XML parts, Excel 4 macro sheets) is rewritten first, and
    every check runs again on the rewritten copy.
    """
    entries = _plain_directory(data)
    zf = None
    if entries is None:
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
            entries = [_Entry.of(info) for info in zf.infolist()]
        except MemoryError:
            raise
        except Exception as exc:
            raise _unreadable(f"zip: {exc}") from None
    if len(entries) > _MAX_ZIP_MEMBERS:
        raise _bomb(f"压缩包内有 {len(entries):,} 个部件")
    package = _Package(data, entries, zf)
    names = package.names
    if "mimetype" in names:
        other = _open_document(package, names)
        if other is not None:
            raise other
    if "Index.zip" in names or (
        "Index/" in "\n".join(names) and any(n.startswith("Index/") and n.endswith(".iwa") for n in names)
    ):
        raise _other_program(
            "苹果 Numbers 表格", "请在 Numbers 中选择“导出到 → Excel”，生成 .xlsx 文件后重新报送。"
        )

    total = 0
    for entry in entries:
        if entry.flag_bits & 0x1:
            raise _encrypted(f"zip member {entry.filename} encrypted")
        if entry.file_size > lim.max_unzipped_bytes:
            raise _bomb(
                f"其中一个部件声明解压后 {entry.file_size / 1048576:,.0f} MB，"
                f"上限 {lim.max_unzipped_bytes / 1048576:.0f} MB"
            )
        total += entry.file_size
    if total > lim.max_unzipped_bytes:
        raise _bomb(f"解压后共 {total / 1048576:,.0f} MB，上限 {lim.max_unzipped_bytes / 1048576:.0f} MB")

    try:
        book = _main_part(package, names)
        sheet_parts, other_targets, macros = _workbook_targets(package, names, book)
        # every XML part, and whatever the workbook points at even under another name (images,
        # vbaProject.bin, embedded objects are not parsed by the reader and are left alone)
        for entry in entries:
            name = entry.filename
            if name.endswith("/"):  # a directory
                continue
            if _is_xml_part(name) or name in sheet_parts or name in other_targets or name == book:
                _scan_xml_part(package, entry, sheet_parts.get(name), lim)
    except _Utf16Part:
        if not rebuilds:
            raise _unreadable("UTF-16 part left after rewriting the package") from None
        return _check_zip_package(_rewritten(package, None), lim, rebuilds - 1)
    if macros is not None:
        if not rebuilds:
            raise _unreadable("macro sheets left after rewriting the package")
        return _check_zip_package(_rewritten(package, macros), lim, rebuilds - 1)
    stored = package.stored_copy()
    return data if stored is None else stored


def _open_document(package: _Package, names: frozenset[str]) -> FileRejected | None:
    """An OpenDocument package (.ods from WPS, LibreOffice ...): what kind, and encrypted or not;
    None when the "mimetype" part says it is something else (an EPUB, ...)."""

    def small(name: str) -> bytes:
        try:
            entry = package.entry(name)
            return package.read(entry) if entry is not None and entry.file_size <= _CHUNK else b""
        except Exception:
            return b""

    kind = small("mimetype").strip()
    if kind.startswith(b"application/vnd.oasis.opendocument.text"):
        return _not_a_workbook("OpenDocument 文本文档（.odt）")
    if kind.startswith(b"application/vnd.oasis.opendocument.presentation"):
        return _not_a_workbook("OpenDocument 演示文稿（.odp）")
    if not kind.startswith(b"application/vnd.oasis.opendocument.spreadsheet") and "content.xml" not in names:
        return None
    if b"encryption-data" in small("META-INF/manifest.xml"):
        return _encrypted(
            "encrypted OpenDocument",
            (
                "文件是设置了密码（已加密）的 OpenDocument 表格（.ods），系统无法读取。"
                "请用 WPS 或 LibreOffice 输入密码打开，取消密码后“另存为”Excel 工作簿（.xlsx），再重新报送。"
            ),
        )
    return _other_program(
        "OpenDocument 表格（.ods，WPS、LibreOffice 等软件的格式）",
        "请用 WPS、Excel 或 LibreOffice 打开后“另存为”Excel 工作簿（.xlsx）再重新报送。",
    )


_XML_DECL_ENCODING = re.compile(r"^(\s*<\?xml[^>]*?\bencoding\s*=\s*[\"'])[^\"']*([\"'])")


_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _utf16_encoding(head: bytes) -> str | None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if head.startswith(b"<\x00"):
        return "utf-16-le"
    if head.startswith(b"\x00<"):
        return "utf-16-be"
    return None


def _rewritten(package: _Package, macros: _MacroSheets | None) -> bytes:
    """A copy of the package with UTF-16 parts in UTF-8, and without the macro sheets if given.

    Only runs for the rare package that needs it; every part was bounded by its declared size.
    """
    out = io.BytesIO()
    written: set[str] = set()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as new:
        for entry in package.entries:
            name = entry.filename
            if entry.is_dir() or name in written:
                continue
            written.add(name)
            try:
                raw = b"".join(package.chunks(entry))
            except Exception as exc:
                raise _unreadable(f"{name}: {exc}") from None
            encoding = _utf16_encoding(raw[:4])
            if encoding is not None:
                try:
                    text = raw.decode(encoding)
                except UnicodeDecodeError:
                    pass  # left as it is: the checks of the copy refuse it if it is XML
                else:
                    raw = _XML_DECL_ENCODING.sub(r"\g<1>UTF-8\g<2>", text, count=1).encode("utf-8")
            if macros is not None:
                if name == macros.book:
                    raw = _without_tags(raw, b"sheet", macros.rel_ids, by_rid=True)
                elif name in macros.rels:
                    raw = _without_tags(raw, b"Relationship", macros.rel_ids, by_rid=False)
            new.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), raw)
    return out.getvalue()


def _without_tags(xml: bytes, tag: bytes, ids: set[str], *, by_rid: bool) -> bytes:
    """The XML without the empty <tag .../> elements whose (r:)id is in ids."""
    pattern = re.compile(rb"<(" + _PREFIX + tag + rb")\s([^>]*?)(?:/>|>\s*</\1\s*>)")

    def keep(m: re.Match) -> bytes:
        attrs = _attrs(m.group(2))
        rid = (
            next((v for k, v in attrs.items() if k.endswith(":id") or k == "id"), None)
            if by_rid
            else attrs.get("Id")
        )
        return b"" if rid in ids else m.group(0)

    return pattern.sub(keep, xml)


class _Package:
    """The zip's parts, inflated straight from the package's bytes.

    A part inflates to at most its declared size (the budget checked above): one that would give
    more is refused, as calamine refuses it, and its CRC must match. Parts up to _CHUNK bytes are
    inflated once and shared by the checks (and then stored for calamine); larger ones are
    streamed in pieces of _CHUNK bytes.
    """

    def __init__(self, data: bytes, entries: list[_Entry], zf: zipfile.ZipFile | None):
        self.data, self.entries, self.zf = data, entries, zf
        self.by_name = {entry.filename: entry for entry in entries}  # the last one wins, as in zipfile
        self.names = frozenset(self.by_name)
        self._small: dict[int, bytes] = {}  # by entry: names and offsets may repeat in a hostile zip
        self._small_bytes = 0
        self.memo_keys: dict[int, _PartKey] = {}  # by entry: its key in the memo of parts

    def entry(self, name: str) -> _Entry | None:
        return self.by_name.get(name)

    def _compressed(self, entry: _Entry) -> memoryview:
        """The part's stored bytes, after the local header checks zipfile makes when it opens one."""
        data, offset = self.data, entry.header_offset
        if offset < 0 or offset + _LOCAL_HEADER.size > len(data):
            raise zipfile.BadZipFile("truncated file header")
        signature, flags, name_len, extra_len = _LOCAL_HEADER.unpack_from(data, offset)
        if signature != b"PK\x03\x04":
            raise zipfile.BadZipFile("bad magic number for file header")
        if entry.flag_bits & 0x60:
            raise zipfile.BadZipFile("compressed patched data or strong encryption")
        start = offset + _LOCAL_HEADER.size
        raw_name = data[start : start + name_len]
        if raw_name != entry.raw_name or (flags ^ entry.flag_bits) & 0x800:  # else the same name
            local_name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
            if local_name != entry.orig_filename:
                raise zipfile.BadZipFile(f"file name in directory and header differ ({local_name!r})")
        start += name_len + extra_len
        if start + entry.compress_size > len(data):
            raise zipfile.BadZipFile("part data truncated")
        return memoryview(data)[start : start + entry.compress_size]

    def read(self, entry: _Entry) -> bytes:
        """A whole part of at most _CHUNK declared bytes."""
        key = id(entry)
        raw = self._small.get(key)
        if raw is not None:
            return raw
        known = compressed = None
        if entry.compress_type in _MEMO_METHODS and entry.file_size <= _MEMO_PART_BYTES:
            compressed = self._compressed(entry)
            known = (compressed.tobytes(), entry.compress_type, entry.CRC, entry.file_size)
            raw = _memo_parts.get(known)
        if raw is None:
            raw = self._inflate(entry, compressed)
            if known is not None:
                _memo_part(known, raw)
        self._small[key] = raw
        self._small_bytes += len(raw)
        if known is not None:
            self.memo_keys[key] = known
        return raw

    def _inflate(self, entry: _Entry, compressed: memoryview | None = None) -> bytes:
        if entry.compress_type == zipfile.ZIP_DEFLATED:
            inflater = zlib_ng.decompressobj(-15)
            raw = inflater.decompress(
                self._compressed(entry) if compressed is None else compressed, entry.file_size + 1
            )
        elif entry.compress_type == zipfile.ZIP_STORED:
            raw = bytes(self._stored(entry) if compressed is None else self._stored_size(entry, compressed))
        elif self.zf is not None and entry.zinfo is not None:  # bzip2, lzma ...: zipfile reads or refuses
            raw = self.zf.read(entry.zinfo)
        else:
            raise zipfile.BadZipFile(f"compression method {entry.compress_type}")
        if len(raw) > entry.file_size:
            raise zipfile.BadZipFile(f"{entry.filename} inflates past its declared size")
        if zlib_ng.crc32(raw) != entry.CRC:
            raise zipfile.BadZipFile(f"bad CRC-32 for {entry.filename}")
        return raw

    def _stored(self, entry: _Entry) -> memoryview:
        return self._stored_size(entry, self._compressed(entry))

    @staticmethod
    def _stored_size(entry: _Entry, raw: memoryview) -> memoryview:
        if len(raw) != entry.file_size:  # calamine reads the stored size, the checks the declared one
            raise zipfile.BadZipFile(f"{entry.filename}: stored {len(raw)} bytes, declared {entry.file_size}")
        return raw

    def small(self, name: str) -> bytes:
        """A part's bytes if it exists and is small (relationships, workbook), else b''."""
        entry = self.by_name.get(name)
        if entry is None or entry.file_size > _CHUNK:
            return b""  # only used to find and name parts; the full scan still checks it
        try:
            raw = self.read(entry)
        except Exception as exc:
            raise _unreadable(f"zip: {name}: {exc}") from None
        if raw[:2] in _BOMS or (b"\x00" in raw[:2] and _utf16_encoding(raw[:4]) is not None):
            raise _Utf16Part(name)
        if b"!" in raw and _DTD.search(raw):
            raise _xml_entities(name)
        return raw

    def chunks(self, entry: _Entry) -> Iterator[bytes]:
        """The part in pieces of _CHUNK bytes (the last one shorter)."""
        if entry.file_size <= _CHUNK:
            yield self.read(entry)
            return
        if entry.compress_type == zipfile.ZIP_STORED:
            raw, crc = self._stored(entry), 0
            for start in range(0, len(raw), _CHUNK):
                piece = bytes(raw[start : start + _CHUNK])
                crc = zlib_ng.crc32(piece, crc)
                yield piece
        elif entry.compress_type == zipfile.ZIP_DEFLATED:
            crc = 0
            for piece in self._inflated(entry):
                crc = zlib_ng.crc32(piece, crc)
                yield piece
        elif self.zf is not None and entry.zinfo is not None:
            with self.zf.open(entry.zinfo) as fh:  # zipfile checks the size and CRC
                while piece := fh.read(_CHUNK):
                    yield piece
            return
        else:
            raise zipfile.BadZipFile(f"compression method {entry.compress_type}")
        if crc != entry.CRC:
            raise zipfile.BadZipFile(f"bad CRC-32 for {entry.filename}")

    def _inflated(self, entry: _Entry) -> Iterator[bytes]:
        """A deflated part, inflated into pieces of _CHUNK bytes, never past its declared size.

        The input goes in 64 KB at a time, so output is at most _CHUNK bytes ahead of the scan
        whatever the stream holds (a bomb, or many empty blocks giving tiny outputs).
        """
        raw = self._compressed(entry)
        inflater = zlib_ng.decompressobj(-15)
        limit, total, pos = entry.file_size, 0, 0
        pieces: list[bytes] = []
        have = 0
        while not inflater.eof:
            if inflater.unconsumed_tail:
                data: bytes | memoryview = inflater.unconsumed_tail
            elif pos < len(raw):
                data = raw[pos : pos + _INFLATE_INPUT]
                pos += len(data)
            else:
                data = b""  # what the inflater still holds after the last input
            out = inflater.decompress(data, min(_CHUNK - have, limit - total + 1))
            if not out:
                if not data or len(inflater.unconsumed_tail) == len(data):
                    break  # the stream ends early (or goes no further): the CRC decides
                continue
            total += len(out)
            if total > limit:
                raise zipfile.BadZipFile(f"{entry.filename} inflates past its declared size")
            pieces.append(out)
            have += len(out)
            if have == _CHUNK:
                yield b"".join(pieces)
                pieces, have = [], 0
        if pieces:
            yield b"".join(pieces)

    def stored_copy(self) -> bytes | None:
        """The package rebuilt for calamine: each part the checks inflated stored as they read it,
        the others (large parts, images ...) copied as they came. calamine then reads exactly the
        bytes that were checked, under the names they were checked as, and inflates nothing twice.
        None when the inflated parts are too large to keep a second copy of.
        """
        if self._small_bytes > _STORED_COPY_BYTES:
            return None
        small = self._small
        entries = [e for e in self.by_name.values() if e.filename[-1:] != "/"]  # no directories
        pieces: list[bytes | memoryview] = []
        directory: list[bytes] = []
        offset = 0
        for entry in entries:
            raw: bytes | memoryview | None = small.get(id(entry))
            if raw is not None:
                method, size = zipfile.ZIP_STORED, len(raw)
            else:
                try:
                    raw = self._compressed(entry)
                except zipfile.BadZipFile:
                    return None  # a part nothing reads, broken: calamine gets the package as it came
                method, size = entry.compress_type, entry.file_size
            name = entry.filename.encode("utf-8")
            fields = (0x800, method, 0, 0x21, entry.CRC, len(raw), size, len(name))
            pieces += (_STORED_LOCAL.pack(b"PK\x03\x04", 20, *fields, 0), name, raw)
            directory += (_STORED_CENTRAL.pack(b"PK\x01\x02", 20, 20, *fields, 0, 0, 0, 0, 0, offset), name)
            offset += _STORED_LOCAL.size + len(name) + len(raw)
        central = b"".join(directory)
        end = _STORED_END.pack(b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), offset, 0)
        return b"".join([*pieces, central, end])


def _main_part(package: _Package, names: frozenset[str]) -> str:
    """The workbook part, found the way readers find it: through _rels/.rels."""
    rels = package.small("_rels/.rels")
    main = _office_document(rels) if len(rels) > _MEMO_PART_BYTES else _memo_office_document(rels)
    if main and main.startswith("word/"):
        raise _not_a_workbook("Word 文档（.docx）")
    if main and main.startswith("ppt/"):
        raise _not_a_workbook("PowerPoint 演示文稿（.pptx）")
    if main and main in names:
        if main.endswith(".bin"):
            raise _other_program(
                "Excel 二进制工作簿（.xlsb）", "请用 Excel 打开后“另存为”Excel 工作簿（.xlsx）再重新报送。"
            )
        return main
    if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
        raise _unreadable("_rels/.rels missing or not pointing at the workbook")
    if any(n.startswith("word/") for n in names):
        raise _not_a_workbook("Word 文档（.docx）")
    raise _not_a_workbook("ZIP 压缩包")


def _office_document(rels: bytes) -> str | None:
    """The target of the package's officeDocument relationship (the last one), normalised."""
    main = None
    for tag in _RELATIONSHIP.finditer(rels):
        raw = tag.group(1)
        if b'/officeDocument"' not in raw and b"/officeDocument'" not in raw:
            continue  # no attribute value ends so: not the workbook (core and app properties ...)
        attrs = _attrs(raw)
        if attrs.get("Type", "").endswith("/officeDocument") and "Target" in attrs:
            main = posixpath.normpath(attrs["Target"].replace("\\", "/").lstrip("/"))
    return main


def _relationships(rels: bytes) -> tuple[tuple[str, str, bool], ...]:
    """(Id, Target, is an Excel 4 macro sheet) of each relationship that has an Id and a Target."""
    found = []
    for tag in _RELATIONSHIP.finditer(rels):
        attrs = _attrs(tag.group(1))
        if "Id" in attrs and "Target" in attrs:
            macro = attrs.get("Type", "").endswith(_MACRO_SHEET_TYPES)
            found.append((attrs["Id"], attrs["Target"], macro))
    return tuple(found)


def _sheet_tags(book: bytes) -> tuple[tuple[str | None, str | None], ...]:
    """(relationship id, name) of each <sheet> the workbook part lists, None where absent."""
    found = []
    for tag in _SHEET_TAG.finditer(book):
        attrs = _attrs(tag.group(1))
        rid = next((v for k, v in attrs.items() if k.endswith(":id") or k == "id"), None)
        found.append((rid, attrs.get("name")))
    return tuple(found)


# what is read from small parts is a function of their bytes alone: remembered like the parts
_memo_office_document = functools.lru_cache(maxsize=64)(_office_document)


def _workbook_targets(
    package: _Package, names: frozenset[str], book_part: str
) -> tuple[dict[str, str], frozenset[str], _MacroSheets | None]:
    """The parts the workbook points at: {worksheet part: sheet name}, the other targets, and the
    Excel 4 macro sheets it lists (None if none).

    Targets are resolved a few plausible ways so that no part a reader might load escapes the
    checks; parts with a worksheet root element get the extent scan whatever their name.
    """
    base, rel_parts = _book_rel_parts(book_part)
    rels = b"".join([package.small(n) for n in rel_parts])
    book = package.small(book_part)
    if len(rels) + len(book) <= _MEMO_PART_BYTES:
        sheets, others, macro_ids = _memo_targets(base, names, rels, book)
    else:
        sheets, others, macro_ids = _targets(base, names, rels, book)
    macros = _MacroSheets(set(macro_ids), book_part, list(rel_parts)) if macro_ids else None
    return sheets, others, macros


def _targets(
    base: str, names: frozenset[str], rels: bytes, book: bytes
) -> tuple[dict[str, str], frozenset[str], frozenset[str]]:
    """_workbook_targets from the bytes of the workbook's relationships and of the workbook part:
    ({worksheet part: sheet name}, other targets, ids of macro sheet relationships). A function of
    its arguments alone, so remembered for small parts (the result is only read)."""
    targets: dict[str, str] = {}
    macro_ids: set[str] = set()
    for rid, target, macro in _relationships(rels):
        targets[rid] = target
        if macro:
            macro_ids.add(rid)
    sheets: dict[str, str] = {}
    for sheet_rid, name in _sheet_tags(book):
        sheet_target = targets.pop(sheet_rid, None) if sheet_rid else None
        for candidate in _resolve(base, sheet_target) if sheet_target else ():
            if candidate in names:
                sheets[candidate] = candidate if name is None else name
    others = frozenset(c for t in targets.values() for c in _resolve(base, t) if c in names)
    return sheets, others, frozenset(macro_ids)


_memo_targets = functools.lru_cache(maxsize=64)(_targets)


def _forget_parts() -> None:
    """Forget every part seen so far (bench/readers.py measures reads where no part repeats)."""
    _memo_seen.clear()
    _memo_parts.clear()
    _memo_clean.clear()
    _memo_office_document.cache_clear()
    _memo_targets.cache_clear()


@functools.lru_cache(maxsize=1024)
def _is_xml_part(name: str) -> bool:
    return _XML_PART.search(name) is not None


@functools.lru_cache(maxsize=64)
def _book_rel_parts(book_part: str) -> tuple[str, tuple[str, ...]]:
    """The workbook part's directory, and the relationship parts that may list its targets."""
    base, leaf = posixpath.split(book_part)
    # calamine looks for <dir>/_rels/workbook.xml.rels whatever the part is called; OPC says <leaf>.rels
    names = dict.fromkeys((leaf + ".rels", "workbook.xml.rels"))
    return base, tuple(posixpath.join(base, "_rels", n) for n in names)


def _attrs(raw: bytes) -> dict[str, str]:
    text = raw.decode("utf-8", errors="replace")
    if "&" not in text:
        return dict(_ATTR.findall(text))
    return {k: _xml_unescape(v, _QUOTES) if "&" in v else v for k, v in _ATTR.findall(text)}


def _resolve(base: str, target: str) -> set[str]:
    t = target.replace("\\", "/")
    stripped = t.lstrip("/")
    if stripped and "//" not in stripped and stripped[-1] != "/" and "/." not in "/" + stripped:
        # nothing for normpath to do (base is a normalised directory)
        return {stripped, f"{base}/{stripped}" if base else stripped}
    return {stripped, posixpath.normpath(posixpath.join(base, stripped)), posixpath.normpath(stripped)}


def _xml_entities(part: str) -> FileRejected:
    return FileRejected(
        "xml_entities",
        "文件内部含有正常的 Excel、WPS 文件不会有的特殊声明（可能被篡改，或由非标准软件生成），"
        "出于安全原因不予读取。请用 Excel 或 WPS 打开后“另存为”新的 Excel 工作簿（.xlsx），再重新报送。",
        f"DTD/ENTITY declaration in {part}",
    )


class _Extent:
    """Largest row and column (1-based) a worksheet part uses, checked against the limits."""

    def __init__(self, name: str, lim: _Limits):
        self.name, self.lim = name, lim
        self.rows = self.cols = 0

    def add(self, rows: int, cols: int) -> None:
        if rows > self.rows or cols > self.cols:
            self.rows, self.cols = max(self.rows, rows), max(self.cols, cols)
            lim = self.lim
            if self.rows > lim.max_rows or self.cols > lim.max_cols or self.rows * self.cols > lim.max_cells:
                raise _too_large_sheet(self.name, self.rows, self.cols, lim)

    def fits(self, rows: int, cols: int) -> bool:
        rows, cols, lim = max(self.rows, rows), max(self.cols, cols), self.lim
        return rows <= lim.max_rows and cols <= lim.max_cols and rows * cols <= lim.max_cells


def _col_number(letters: str | bytes) -> int:
    n = 0
    for ch in letters.upper() if isinstance(letters, str) else letters.upper().decode("ascii"):
        n = n * 26 + (ord(ch) - 64)
    return n


_LETTERS = [chr(c).encode() for c in range(65, 91)]
_COLUMN_NUMBERS = {c: _col_number(c) for c in (*_LETTERS, *(a + b for a in _LETTERS for b in _LETTERS))}


def _scan_xml_part(package: _Package, entry: _Entry, sheet_name: str | None, lim: _Limits) -> None:
    """Stream one part: refuse DTDs, bound a worksheet's extent and a shared-string count."""
    name = entry.filename
    try:
        verdict = None
        if entry.file_size <= _MEMO_PART_BYTES:
            package.read(entry)
            known = package.memo_keys.get(id(entry))
            if known is not None:
                verdict = (known, sheet_name is not None, lim)
                if verdict in _memo_clean:
                    return  # the same part passed the same checks before
        try:
            _stream_part(package, entry, sheet_name, lim, sequential=False)
        except _CellsWithoutRef:
            _stream_part(package, entry, sheet_name, lim, sequential=True)
        if verdict is not None and verdict[0] in _memo_parts:
            _memo_clean.add(verdict)
    except (FileRejected, _Utf16Part):  # a UTF-16 part: the package is rewritten and checked again
        raise
    except Exception as exc:
        raise _unreadable(f"{name}: {exc}") from None


def _stream_part(
    package: _Package, entry: _Entry, sheet_name: str | None, lim: _Limits, *, sequential: bool
) -> None:
    name = entry.filename
    chunks: Iterator[bytes]
    if entry.file_size <= _CHUNK:  # most parts: one piece, inflated once for all the checks
        head, chunks = package.read(entry), iter(())
    else:
        chunks = package.chunks(entry)
        head = next(chunks, b"")
    start = head[:4]
    if (b"\x00" in start or start[:2] in _BOMS) and (
        _utf16_encoding(start) is not None or start.count(b"\x00") >= 2
    ):
        raise _Utf16Part(name)
    # the root element: the first tag in the first 64 KB outside comments
    body, window, root_match = head, _ROOT_WINDOW, _ROOT.search(head, 0, _ROOT_WINDOW)
    if root_match is None or head.find(b"<!--", 0, root_match.start()) != -1:
        body = _COMMENT.sub(b"", head[:_ROOT_WINDOW])
        window, root_match = len(body), _ROOT.search(body)
    root = root_match.group(1) if root_match else b""
    if root_match is not None and root == b"sst":
        at = root_match.start()
        if body is head and head.find(b"<!--", 0, _ROOT_WINDOW) != -1:
            # its uniqueCount is looked for with the comments taken out (none comes before the root)
            body = _COMMENT.sub(b"", head[:_ROOT_WINDOW])
            window = len(body)
        m = _UNIQUE_COUNT.search(body, at, min(at + 4096, window))
        # calamine reserves this many strings up front: bound it by what the part can hold
        if m and int(m.group(1)) > min(lim.max_cells, entry.file_size // 4 + 16):
            raise _unreadable(f"{name}: uniqueCount={int(m.group(1)):,}")
    scanner = None
    if sheet_name is not None or root in _SHEET_ROOTS:
        scanner = _CellScanner(_Extent(sheet_name or name, lim), sequential, entry.file_size <= _CHUNK)
    carry, chunk = b"", head
    while chunk:
        buf = carry + chunk if carry else chunk
        if b"!" in buf and _DTD.search(buf):  # memchr first: "<!" is rare outside comments
            raise _xml_entities(name)
        cut = buf.rfind(b">") + 1
        if scanner:
            scanner.feed(buf[:cut] if cut < len(buf) else buf)
        carry = buf[cut:]
        if len(carry) > _MAX_TAG_CARRY:
            raise _unreadable(f"{name}: XML tag longer than {_MAX_TAG_CARRY} bytes")
        chunk = next(chunks, b"")


class _CellsWithoutRef(Exception):
    """A cell without r="..." was met: rescan the part with the sequential pass."""


class _CellScanner:
    """Finds the extent of the cells that can hold a value in worksheet XML fed as chunks that end
    on a tag boundary.

    A self-closing <c .../> is a styled empty cell: calamine keeps no value for it and sizes its
    grid from the cells that have one, so a sheet of 23 rows whose formatting runs to column XFD
    is 23 rows by its data. <dimension> is not counted either (calamine does not allocate from it).
    Fast pass: every <c> carries r="A1" (what Excel, WPS, LibreOffice and openpyxl write): one
    regex pass and a set give the maximum over all cells; only when that is over the limits are the
    self-closing cells told apart (the regex that does so reads every attribute: 2-3 times slower).
    Faster still, for a part read in one piece: when no cell's reference leaves a box that fits the
    limits (a score sheet's A1:Z99999), one search that finds no cell outside it settles the part.
    Cells without r (legal) are placed the way readers place them, one after another in their row,
    by a slower sequential pass.
    """

    def __init__(self, extent: _Extent, sequential: bool, whole: bool = False):
        self.extent = extent
        self.sequential = sequential
        self.whole = whole  # the part comes in one piece: nothing seen before or after this one
        self.row = 0  # 1-based row of the current <row>
        self.col = 0  # 1-based column of the last cell in the current row

    def feed(self, buf: bytes) -> None:
        if self.sequential:
            self._feed_sequential(buf)
            return
        if _PREFIXED_CELL.search(buf) is None:
            outside = _outside_box(self.extent.lim) if self.whole else None
            if outside is not None and outside.search(buf) is None:
                return  # every cell is a plain reference in a box that fits the limits
            refs = _CELL_PLAIN.findall(buf)
            if not refs:
                return
            cols, rows = zip(*refs, strict=True)
            col_set = set(cols)
            if b"" not in col_set:  # every <c> has a plain r="A1"
                max_row = max(map(int, set(rows)))
                try:
                    max_col = max(map(_COLUMN_NUMBERS.__getitem__, col_set))
                except KeyError:  # a column of three letters
                    max_col = max(map(_col_number, col_set))
                if self.extent.fits(max_row, max_col):
                    self.extent.add(max_row, max_col)
                    return
        cells = _CELL_REF.findall(buf)
        if len(cells) != len(_CELL_TAG.findall(buf)):
            raise _CellsWithoutRef
        values = [(c, r) for c, r, closed in cells if not closed]
        if values:
            self.extent.add(*_max_ref(values))

    def _feed_sequential(self, buf: bytes) -> None:
        extent = self.extent
        for m in _ROW_OR_CELL.finditer(buf):
            kind, attrs = m.group(1), m.group(2)
            r = _R_ATTR.search(attrs)
            value = r.group(1).decode("ascii", errors="replace").strip() if r else ""
            if kind == b"row":
                self.row = int(value) if value.isdigit() else self.row + 1
                self.col = 0
                continue
            ref = _A1.fullmatch(value)
            if ref:
                self.col = _col_number(ref.group(1))
                row = int(ref.group(2))
            else:
                self.col += 1
                row = max(self.row, 1)
            if not attrs.endswith(b"/"):  # a self-closing cell takes a place but holds no value
                extent.add(row, self.col)


@functools.lru_cache(maxsize=16)
def _outside_box(lim: _Limits) -> re.Pattern[bytes] | None:
    """A pattern finding any unprefixed cell tag that does not begin with a plain reference inside
    the largest box of 1-3 column letters and 1-7 row digits that fits the limits (A1:Z99999 for the
    defaults); None when no box fits."""
    boxes = [
        (digits, letters)
        for letters, cols in ((1, 26), (2, 702), (3, 18278))
        for digits in range(1, 8)
        if cols <= lim.max_cols
        and 10**digits - 1 <= lim.max_rows
        and cols * (10**digits - 1) <= lim.max_cells
    ]
    if not boxes:
        return None
    digits, letters = max(boxes)  # the most rows, then the most columns
    return re.compile(rb'<c(?! r="[A-Z]{1,%d}[0-9]{1,%d}")[\s/>]' % (letters, digits))


def _max_ref(refs: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """(largest row, largest column) of (column letters, row digits) pairs."""
    return max(int(r) for r in {r for _, r in refs}), max(_col_number(c) for c in {c for c, _ in refs})


# ---------------------------------------------------------------------------------------------
# OLE2 compound files (.xls, and encrypted .xlsx which Office wraps in OLE2)

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_END_OF_CHAIN = 0xFFFFFFFE
_MAX_MINI_FAT_SECTORS = 256  # 2 MB of small streams; calamine sizes a buffer from this (calamine#714)


class _CfbError(Exception):
    pass


class _Cfb:
    """Just enough of MS-CFB to list stream names and read one stream, validating every field."""

    def __init__(self, data: bytes):
        if len(data) < 512:
            raise _CfbError("header truncated")
        (_minor, major, byte_order, sector_shift, mini_shift) = struct.unpack_from("<HHHHH", data, 24)
        (_n_dir, n_fat, first_dir, _sig, cutoff, first_mini_fat, n_mini_fat, first_difat, n_difat) = (
            struct.unpack_from("<IIIIIIIII", data, 40)
        )
        if byte_order != 0xFFFE or (major, sector_shift) not in ((3, 9), (4, 12)) or mini_shift != 6:
            raise _CfbError(f"bad header (version {major}, sector shift {sector_shift})")
        self.data = data
        self.ssz = 1 << sector_shift
        self.cutoff = cutoff if cutoff == 4096 else 4096
        self.n_sectors = max(0, (len(data) - self.ssz + self.ssz - 1) // self.ssz)
        per_sector = self.ssz // 4
        # counts a file of this size can need at most: larger ones only make readers allocate
        if (
            n_fat > self.n_sectors // per_sector + 2
            or n_difat > n_fat // (per_sector - 1) + 2
            or n_mini_fat > _MAX_MINI_FAT_SECTORS
        ):
            raise _CfbError(
                f"header counts exceed the file (FAT {n_fat}, DIFAT {n_difat}, miniFAT {n_mini_fat})"
            )

        fat_sectors = [s for s in struct.unpack_from("<109I", data, 76) if s < self.n_sectors][:n_fat]
        difat, seen = first_difat, set()
        while len(fat_sectors) < n_fat and difat < self.n_sectors:
            if difat in seen:
                raise _CfbError("DIFAT loop")
            seen.add(difat)
            entries = struct.unpack_from(f"<{per_sector}I", self._sector(difat))
            fat_sectors += [s for s in entries[:-1] if s < self.n_sectors]
            difat = entries[-1]
        self.fat = array.array("I", b"".join(self._sector(s) for s in fat_sectors[:n_fat]))
        if sys.byteorder == "big":
            self.fat.byteswap()

        self.entries: list[tuple[str, int, int, int]] = []  # (name, type, start, size)
        directory = self._chain_bytes(first_dir, self.fat, self._sector, self.ssz)
        for off in range(0, len(directory) - 127, 128):
            name_len, kind = struct.unpack_from("<HB", directory, off + 64)
            if kind not in (1, 2, 5) or not 2 <= name_len <= 64:
                continue
            name = directory[off : off + name_len - 2].decode("utf-16-le", errors="replace")
            start, size = struct.unpack_from("<IQ", directory, off + 116)
            if major == 3:
                size &= 0xFFFFFFFF
            self.entries.append((name, kind, start, size))
        root = next((e for e in self.entries if e[1] == 5), None)
        self.mini_stream = b""
        self.mini_fat: list[int] | array.array = []
        if root and n_mini_fat and first_mini_fat < self.n_sectors:
            self.mini_stream = self._chain_bytes(root[2], self.fat, self._sector, self.ssz)[: root[3]]
            raw = self._chain_bytes(first_mini_fat, self.fat, self._sector, self.ssz)
            self.mini_fat = list(struct.unpack_from(f"<{len(raw) // 4}I", raw))

    def _sector(self, index: int) -> bytes:
        start = (index + 1) * self.ssz
        if index >= self.n_sectors or start >= len(self.data):
            raise _CfbError(f"sector {index} outside the file")
        return self.data[start : start + self.ssz].ljust(self.ssz, b"\x00")

    def _mini_sector(self, index: int) -> bytes:
        start = index * 64
        if start + 64 > len(self.mini_stream):
            raise _CfbError(f"mini sector {index} outside the mini stream")
        return self.mini_stream[start : start + 64]

    def _chain_bytes(self, start: int, table, read, size: int, limit: int | None = None) -> bytes:
        out, seen, sector = [], set(), start
        max_len = len(table)
        while sector != _END_OF_CHAIN:
            if sector >= max_len or sector in seen:
                raise _CfbError("broken sector chain")
            seen.add(sector)
            out.append(read(sector))
            if limit is not None and len(out) * size >= limit:
                break
            sector = table[sector]
        return b"".join(out)

    def names(self) -> set[str]:
        return {e[0] for e in self.entries if e[1] in (1, 2)}

    def stream(self, name: str) -> bytes | None:
        for entry_name, kind, start, size in self.entries:
            if kind == 2 and entry_name.lower() == name.lower():
                if size > len(self.data):
                    raise _CfbError(f"stream {name} larger than the file")
                if size < self.cutoff:
                    return self._chain_bytes(start, self.mini_fat, self._mini_sector, 64, size)[:size]
                return self._chain_bytes(start, self.fat, self._sector, self.ssz, size)[:size]
        return None


# BIFF record types
_BOF, _EOF, _FILEPASS, _BOUNDSHEET, _SST, _DIMENSIONS = 0x0809, 0x000A, 0x002F, 0x0085, 0x00FC, 0x0200
_MULRK = 0x00BD
# records that hold a value at (row, col); blank/styled-only cells are ignored by calamine
_VALUE_RECORDS = {0x0203, 0x027E, 0x00FD, 0x0204, 0x00D6, 0x0205, 0x0006, _MULRK}


_ENCRYPTION_ENTRIES = tuple(n.encode("utf-16-le") for n in ("EncryptedPackage", "EncryptionInfo"))


def _check_ole_workbook(data: bytes, lim: _Limits) -> str:
    """Bound a compound file before calamine reads it; returns its BIFF version ("biff5"/"biff8")."""
    try:
        cfb = _Cfb(data)
        names = cfb.names()
    except _CfbError as exc:
        # an encrypted .xlsx whose container bends a rule is still, first of all, encrypted
        if _declares_encryption(data):
            raise _encrypted(f"OLE2: {exc}; EncryptedPackage present") from None
        raise _unreadable(f"OLE2: {exc}") from None
    if {"EncryptedPackage", "EncryptionInfo"} & names:
        raise _encrypted("OLE2: EncryptedPackage")
    try:
        stream = cfb.stream("Workbook")
        if stream is None:
            stream = cfb.stream("Book")  # BIFF5 (Excel 95)
    except _CfbError as exc:
        raise _unreadable(f"OLE2: {exc}") from None
    if stream is None:
        if "WordDocument" in names:
            raise _not_a_workbook("Word 文档（.doc）")
        if "PowerPoint Document" in names:
            raise _not_a_workbook("PowerPoint 演示文稿（.ppt）")
        if "Contents" in names or any(n.startswith("Quill") for n in names):
            raise _not_a_workbook("其他 Office 软件的文档（如 Publisher、Works）")
        raise _not_a_workbook("其他 Office 复合文档")
    return _check_biff(stream, lim)


def _declares_encryption(data: bytes) -> bool:
    """A directory entry named EncryptedPackage/EncryptionInfo anywhere in a compound file whose
    header cannot be followed (entries are 128 bytes, aligned on 128 from the file start)."""
    for name in _ENCRYPTION_ENTRIES:
        pos = data.find(name, 512)
        while pos != -1:
            if pos % 128 == 0 and pos + 128 <= len(data):
                name_len, kind = struct.unpack_from("<HB", data, pos + 64)
                if name_len == len(name) + 2 and kind == 2:
                    return True
            pos = data.find(name, pos + 1)
    return False


def _check_biff(stream: bytes, lim: _Limits) -> str:
    """Refuse encrypted BIFF and sheets whose value cells span too large a grid."""
    end = len(stream)
    first = struct.unpack_from("<H", stream, 0)[0] if end >= 2 else None
    if first in _OLD_BIFF_BOF:  # an Excel 2.x-4.0 stream inside a compound file
        raise _old_excel(_OLD_BIFF_BOF[first])
    if end < 8 or first != _BOF:
        raise _unreadable("BIFF: workbook stream does not start with BOF")
    version = struct.unpack_from("<H", stream, 4)[0]
    biff8 = version == 0x0600
    # the workbook globals: FILEPASS, sheet list, shared-string count
    sheets: list[tuple[int, str]] = []
    for rtype, pos, rlen in _biff_substream(stream, 0):
        body = stream[pos + 4 : pos + 4 + rlen]
        if rtype == _FILEPASS:
            raise _encrypted_biff(body)
        elif rtype == _BOUNDSHEET and len(body) >= 7:
            offset, _visibility, _kind, cch = struct.unpack_from("<IBBB", body, 0)
            if biff8 and len(body) >= 8:  # flags byte: bit 0 set means UTF-16, else Latin-1
                wide = body[7] & 1
                name = body[8 : 8 + cch * (2 if wide else 1)].decode(
                    "utf-16-le" if wide else "latin-1", "replace"
                )
            else:  # BIFF5 (Excel 95): bytes in the ANSI code page, GBK on Chinese Windows
                name = body[7 : 7 + cch].decode("gbk", "replace")
            sheets.append((offset, name))  # every kind: calamine parses them all when it opens
        elif rtype == _SST and len(body) >= 8:
            unique = struct.unpack_from("<I", body, 4)[0]
            if unique > min(lim.max_cells, end // 3 + 16):  # calamine reserves this up front
                raise _unreadable(f"BIFF: SST count {unique:,}")
    # each sheet substream from where the reader will seek to, as calamine does
    budget = 4 * end + 1024
    for offset, name in dict(sheets).items():
        extent = _Extent(name, lim)
        for rtype, pos, rlen in _biff_substream(stream, offset):
            budget -= 4 + rlen
            if budget < 0:
                raise _unreadable("BIFF: sheet records overlap")
            if rtype in _VALUE_RECORDS and rlen >= 4 and pos + 4 + rlen <= end:
                row, col = struct.unpack_from("<HH", stream, pos + 4)
                if rtype == _MULRK and rlen >= 6:
                    col = struct.unpack_from("<H", stream, pos + 4 + rlen - 2)[0]
                extent.add(row + 1, col + 1)
            elif rtype == _DIMENSIONS and pos + 4 + rlen <= end:
                _check_dimensions(stream[pos + 4 : pos + 4 + rlen], extent)
    return "biff8" if biff8 else "biff5"


# --- FILEPASS: is the password Excel's built-in one? ([MS-XLS] 2.4.117, [MS-OFFCRYPTO] 2.3.6-2.3.7)

_DEFAULT_PASSWORD = "VelvetSweatshop"


def _encrypted_biff(body: bytes) -> FileRejected:
    """The rejection for a FILEPASS record: a workbook Excel opens without a password (its default
    key) is told apart from one protected by a password the unit set."""
    try:
        default = _opens_with(body, _DEFAULT_PASSWORD)
    except (struct.error, ValueError, IndexError):
        default = False
    if default:
        return _encrypted("BIFF FILEPASS with the default key (VelvetSweatshop)", _MSG_DEFAULT_KEY)
    return _encrypted("BIFF FILEPASS")


def _opens_with(body: bytes, password: str) -> bool:
    """Whether the FILEPASS record's verifier matches the password (nothing is decrypted).

    MD5, SHA-1 and RC4 are the file format's own algorithms, used here only to recompute its verifier.
    """
    if len(body) == 4:  # BIFF5: XOR obfuscation, key and verifier only
        return struct.unpack_from("<H", body, 2)[0] == _xor_verifier(password)
    kind = struct.unpack_from("<H", body, 0)[0]
    if kind == 0:  # BIFF8 XOR obfuscation
        return struct.unpack_from("<H", body, 4)[0] == _xor_verifier(password)
    major, minor = struct.unpack_from("<HH", body, 2)
    secret = password.encode("utf-16-le")
    if major == 1 and minor == 1:  # RC4, MD5 key derivation
        salt, verifier, verifier_hash = body[6:22], body[22:38], body[38:54]
        h0 = hashlib.md5(secret).digest()[:5]
        h1 = hashlib.md5((h0 + salt) * 16).digest()[:5]
        keystream = _rc4(hashlib.md5(h1 + b"\0\0\0\0").digest(), 32)
        plain = bytes(a ^ b for a, b in zip(verifier + verifier_hash, keystream, strict=False))
        return hashlib.md5(plain[:16]).digest() == plain[16:]
    # RC4 CryptoAPI: header, then salt, verifier and its SHA-1
    header_size = struct.unpack_from("<I", body, 10)[0]
    key_bits = struct.unpack_from("<I", body, 14 + 16)[0] or 40
    rest = body[14 + header_size :]
    salt_size = struct.unpack_from("<I", rest, 0)[0]
    if salt_size != 16 or len(rest) < 24 + salt_size + 20:
        return False
    salt, verifier = rest[4:20], rest[20:36]
    verifier_hash = rest[40:60]
    h0 = hashlib.sha1(salt + secret).digest()
    digest = hashlib.sha1(h0 + b"\0\0\0\0").digest()
    key = digest[:5] + b"\0" * 11 if key_bits == 40 else digest[: key_bits // 8]
    keystream = _rc4(key, 36)
    plain = bytes(a ^ b for a, b in zip(verifier + verifier_hash, keystream, strict=False))
    return hashlib.sha1(plain[:16]).digest() == plain[16:]


def _xor_verifier(password: str) -> int:
    data = bytes([len(password)]) + password.encode("latin-1")
    verifier = 0
    for byte in reversed(data):
        verifier = (((verifier >> 14) & 1) | ((verifier << 1) & 0x7FFF)) ^ byte
    return verifier ^ 0xCE4B


def _rc4(key: bytes, length: int) -> bytes:
    """The first `length` bytes of the RC4 keystream (a few dozen: pure Python is fine)."""
    if not key:
        raise ValueError("empty RC4 key")
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) & 0xFF
        state[i], state[j] = state[j], state[i]
    out = bytearray()
    i = j = 0
    for _ in range(length):
        i = (i + 1) & 0xFF
        j = (j + state[i]) & 0xFF
        state[i], state[j] = state[j], state[i]
        out.append(state[(state[i] + state[j]) & 0xFF])
    return bytes(out)


def _biff_substream(stream: bytes, start: int):
    """The records (type, position, length) of the BOF … EOF substream that begins at `start`,
    nested substreams included, up to its closing EOF or the end of the stream."""
    pos, depth, end = start, 0, len(stream)
    while pos + 4 <= end:
        rtype, rlen = struct.unpack_from("<HH", stream, pos)
        yield rtype, pos, rlen
        pos += 4 + rlen
        if rtype == _BOF:
            depth += 1
        elif rtype == _EOF:
            depth -= 1
            if depth <= 0:
                return


def _check_dimensions(body: bytes, extent: _Extent) -> None:
    """A DIMENSIONS record, read as calamine reads it: it sizes the sheet's grid from it."""
    if len(body) == 14:  # BIFF8: first row, last row + 1 (u32), first col, last col + 1 (u16)
        first_row, end_row, first_col, end_col = struct.unpack_from("<IIHH", body)
    elif len(body) == 10:  # the short (BIFF5) form, all u16
        first_row, end_row, first_col, end_col = struct.unpack_from("<HHHH", body)
    else:
        return
    if first_row > end_row or first_col > end_col or end_row > 65536 or end_col > 256:
        raise _unreadable(f"BIFF: DIMENSIONS {first_row}:{end_row} x {first_col}:{end_col}")
    extent.add(end_row, end_col)


# ---------------------------------------------------------------------------------------------
# Parsing (after the checks)


def _parse_with_calamine(data: bytes, lim: _Limits, biff: str | None = None) -> list[Sheet]:
    book = None
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheets = []
        for index, meta in enumerate(book.sheets_metadata):
            if meta.typ != python_calamine.SheetTypeEnum.WorkSheet:
                continue
            sheet = book.get_sheet_by_index(index)
            rows = _clean_rows(sheet.to_python(skip_empty_area=False))
            _fill_merged(rows, sheet.merged_cell_ranges or (), meta.name, lim)
            _trim(rows)
            sheets.append(Sheet(meta.name, rows, meta.visible != python_calamine.SheetVisibleEnum.Visible))
        return sheets
    except BaseException as exc:
        rejected = _reader_failure(exc, biff)
        if rejected is None:
            raise
        raise rejected from None
    finally:
        if book is not None:
            book.close()


def _reader_failure(exc: BaseException, biff: str | None) -> FileRejected | None:
    """What a calamine failure means for the file; None for what must propagate."""
    if isinstance(exc, (FileRejected, MemoryError)):
        return None
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, python_calamine.PasswordError):
        return _encrypted(detail)
    # pyo3 raises a Rust panic as PanicException, a BaseException: still a bad file, not an interrupt
    if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
        return None
    if biff == "biff5":  # Excel 95, often written by other programs: the cure is the same re-save
        return _old_excel("Excel 5.0/95，1993–1995 年", detail)
    if isinstance(exc, python_calamine.WorksheetNotFound):
        name = str(exc).strip()[:60]
        return _unreadable(
            detail,
            (
                f"文件已损坏或不完整：工作簿中列出的工作表「{name}」找不到内容，系统无法读取。请用 Excel 或 WPS 打开，"
                "确认内容完整后“另存为”新的 Excel 工作簿（.xlsx）再重新报送。"
            ),
        )
    return _unreadable(detail)


def _clean_rows(raw: Iterable[Iterable[object]]) -> list[list[object]]:
    # '' is calamine's empty cell; legacy .xls gives integral numbers as int: make them float
    # like .xlsx does so callers see one type (bool is an int subclass: keep it)
    return [[None if v == "" else (float(v) if type(v) is int else v) for v in row] for row in raw]


def _fill_merged(rows: list[list[object]], ranges, sheet_name: str, lim: _Limits) -> None:
    """Copy each merged range's top-left value into its other cells, clipped to the grid."""
    if not rows:
        return
    height, width = len(rows), len(rows[0])
    budget = lim.max_cells  # overlapping hostile ranges must not multiply the work
    for (r0, c0), (r1, c1) in ranges:
        if r0 >= height or c0 >= width:
            continue
        value = rows[r0][c0]
        if value is None:
            continue
        r1, c1 = min(r1, height - 1), min(c1, width - 1)
        budget -= (r1 - r0 + 1) * (c1 - c0 + 1)
        if budget < 0:
            raise _too_large_sheet(sheet_name, height, width, lim)
        for r in range(r0, r1 + 1):
            row = rows[r]
            for c in range(c0, c1 + 1):
                row[c] = value  # what the office suite shows, even if a hidden value sits there


def _trim(rows: list[list[object]]) -> None:
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    if not rows:
        return
    width = len(rows[0])
    while width and all(row[width - 1] is None for row in rows):  # usually stops at once
        width -= 1
    if width < len(rows[0]):
        for i, row in enumerate(rows):
            rows[i] = row[:width]
