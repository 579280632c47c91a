"""pipelines.lib.excel: the checks read each part once, straight from the package, and hold every bound.

The zip's parts are inflated by the checks themselves (capped at their declared sizes), a small part
seen before is known by its bytes, a sheet whose cells all lie in a box that fits the limits is
settled by one search, and calamine reads a stored copy of the parts as they were checked. Each
test builds the files it needs, hostile ones included, and shows a bound still holding.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import pytest
from test_excel import (
    _CT,
    _RELS,
    _SST_OK,
    _WORKBOOK,
    _WORKBOOK_RELS,
    _score_workbook,
    _sheet_xml,
    _utf16,
    _write_package,
)

from pipelines.lib import excel
from pipelines.lib.excel import read_workbook
from pipelines.lib.records import FileRejected


def _code(path: Path, **limits: int) -> str:
    try:
        read_workbook(path, **limits)
    except FileRejected as exc:
        return exc.code
    return "ok"


def _zip(path: Path, parts: Mapping[str, bytes | str], method: int = zipfile.ZIP_DEFLATED, **kwargs) -> Path:
    with zipfile.ZipFile(path, "w", method, **kwargs) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return path


def _parts(sheet_xml: str | bytes, shared_strings: str = _SST_OK) -> dict[str, bytes | str]:
    return {
        "[Content_Types].xml": _CT,
        "_rels/.rels": _RELS,
        "xl/workbook.xml": _WORKBOOK,
        "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS,
        "xl/sharedStrings.xml": shared_strings,
        "xl/worksheets/sheet1.xml": sheet_xml,
    }


def _declare(path: Path, name: str, *, size: int, crc: int) -> Path:
    """Rewrite the declared size and CRC of one member, in its local header and central entry."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        local = zf.getinfo(name).header_offset
    struct.pack_into("<I", data, local + 14, crc)
    struct.pack_into("<I", data, local + 22, size)
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46 : pos + 46 + name_len] == name.encode():
            struct.pack_into("<I", data, pos + 16, crc)
            struct.pack_into("<I", data, pos + 24, size)
        pos = data.find(b"PK\x01\x02", pos + 4)
    path.write_bytes(bytes(data))
    return path


_PREFIX = (
    b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
    b'spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1"><v>1</v></c></row>'
)
_FAR_TAIL = b'<row r="1048576"><c r="XFD1048576"><v>2</v></c></row></sheetData></worksheet>'


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_a_part_holding_more_than_its_declared_size_is_refused(tmp_path, method):
    # the checks read a part up to its declared size, so what lies past it was never checked: a part
    # whose data goes on past its declared size (CRC of the declared bytes, far cell behind them)
    # is refused before any reader sees it
    path = _zip(tmp_path / "longer.xlsx", _parts(_PREFIX + _FAR_TAIL), method)
    _declare(path, "xl/worksheets/sheet1.xml", size=len(_PREFIX), crc=zlib.crc32(_PREFIX))
    assert _code(path) == "unreadable_workbook"


def test_a_large_part_holding_more_than_its_declared_size_is_refused(tmp_path):
    # the same for a part streamed in pieces (over 1 MB)
    body = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(1, 40_001)).encode()
    head = _PREFIX + body
    assert len(head) > 1 << 20
    path = _zip(tmp_path / "longer_big.xlsx", _parts(head + _FAR_TAIL))
    _declare(path, "xl/worksheets/sheet1.xml", size=len(head), crc=zlib.crc32(head))
    assert _code(path) == "unreadable_workbook"


def test_a_part_failing_its_crc_is_refused(tmp_path):
    sheet = _sheet_xml('<row r="1"><c r="A1"><v>1</v></c></row>').encode()
    path = _zip(tmp_path / "crc.xlsx", _parts(sheet))
    _declare(path, "xl/worksheets/sheet1.xml", size=len(sheet), crc=zlib.crc32(sheet) ^ 1)
    assert _code(path) == "unreadable_workbook"


def _deflate_in_small_blocks(data: bytes, block: int) -> bytes:
    """Raw deflate with a flush every `block` bytes, and now and then thousands of empty blocks in a
    row: many pieces of input that give a small output, or none."""
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    empty_block = b"\x00\x00\x00\xff\xff"  # stored, not final, no bytes (the stream is byte-aligned here)
    out = []
    for n, k in enumerate(range(0, len(data), block)):
        out.append(packer.compress(data[k : k + block]) + packer.flush(zlib.Z_SYNC_FLUSH))
        if n % 5000 == 0:
            out.append(empty_block * 20_000)
    return b"".join(out) + packer.flush()


def _zip_with_raw_deflate(path: Path, sheet: bytes, raw: bytes) -> Path:
    """A package whose sheet member holds the given raw deflate stream (written byte for byte)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in _parts(b"").items():
            if name != "xl/worksheets/sheet1.xml":
                zf.writestr(name, data)
    blob = bytearray(out.getvalue())
    end = blob.rfind(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack_from("<II", blob, end + 12)
    count = struct.unpack_from("<H", blob, end + 10)[0]
    member = b"xl/worksheets/sheet1.xml"
    crc = zlib.crc32(sheet)
    # version, flags, method (deflate), time, date, CRC, sizes, name and extra field lengths
    fields = struct.pack("<HHHHHIIIHH", 20, 0, 8, 0, 0x21, crc, len(raw), len(sheet), len(member), 0)
    local = b"PK\x03\x04" + fields + member
    central = (
        b"PK\x01\x02" + struct.pack("<H", 20) + fields + struct.pack("<HHHII", 0, 0, 0, 0, cd_offset) + member
    )
    directory = bytes(blob[cd_offset : cd_offset + cd_size]) + central
    new_end = bytearray(blob[end:])
    struct.pack_into(
        "<HHII", new_end, 8, count + 1, count + 1, len(directory), cd_offset + len(local) + len(raw)
    )
    path.write_bytes(bytes(blob[:cd_offset]) + local + raw + directory + bytes(new_end))
    return path


def test_a_large_part_inflated_in_small_pieces_is_checked_to_its_end(tmp_path):
    # a stream of thousands of small blocks: the pieces are put back together before they are
    # scanned, so a tag cut between two blocks is still seen, and the far cell at the end counts
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(1, 60_001)).encode()
    ok = _PREFIX + rows + b"</sheetData></worksheet>"
    far = _PREFIX + rows + _FAR_TAIL
    assert len(ok) > 2 << 20
    ok_path = _zip_with_raw_deflate(tmp_path / "ok.xlsx", ok, _deflate_in_small_blocks(ok, 97))
    far_path = _zip_with_raw_deflate(tmp_path / "far.xlsx", far, _deflate_in_small_blocks(far, 97))
    assert len(read_workbook(ok_path)[0].rows) == 60_000
    assert _code(far_path) == "sheet_too_large"


def test_a_utf16_sheet_among_utf8_parts_is_read(tmp_path):
    # Office Mobile writes parts in UTF-16; when only the sheet is, the package is still rewritten
    # (it used to be refused as unreadable), and the rewritten copy goes through every check
    sheet = _sheet_xml(
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="inlineStr"><is><t>清丰县</t></is></c></row>'
    )
    path = _zip(tmp_path / "sheet16.xlsx", _parts(_utf16(sheet)))
    assert read_workbook(path)[0].rows == [["序号", "清丰县"]]
    far = _sheet_xml(
        '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>2</v></c></row>'
    )
    assert _code(_zip(tmp_path / "far16.xlsx", _parts(_utf16(far)))) == "sheet_too_large"


# ---------------------------------------------------------------------------------------------
# Sheet extents: the one-search path for cells in a box agrees with the cell-by-cell count


_SMALL = {"max_rows": 99, "max_cols": 26, "max_cells": 26 * 99}  # the box is A1:Z99


@pytest.mark.parametrize(
    ("cells", "too_large"),
    [
        ('<c r="A1"><v>1</v></c><c r="Z99"><v>2</v></c>', False),  # the corner of the box
        ('<c r="A1"><v>1</v></c><c r="A100"><v>2</v></c>', True),  # one row past it
        ('<c r="A1"><v>1</v></c><c r="AA1"><v>2</v></c>', True),  # one column past it
        ('<c r="A1"><v>1</v></c><c r="A0100"><v>2</v></c>', True),  # a leading zero
        ('<c r="A1"><v>1</v></c><c r="$Z$99"><v>2</v></c>', False),  # absolute (calamine refuses it)
        ('<c r="A1"><v>1</v></c><c r="$A$100"><v>2</v></c>', True),
        ('<c r="A1"><v>1</v></c><c r="a100"><v>2</v></c>', True),  # lower case
        ('<c r="A1"><v>1</v></c><c s="1" r="A100"><v>2</v></c>', True),  # r not the first attribute
        ('<c r="A1"><v>1</v></c><c r="AA100" s="1"/>', False),  # a styled empty cell does not count
        ('<c r="A1"><v>1</v></c><c r="B1"/><c><v>3</v></c>', False),  # no r: the third column
        ('<c r="A1"><v>1</v></c><c r="Y1"/><c><v>3</v></c><c><v>4</v></c>', True),  # ... the 27th
    ],
)
def test_cells_near_the_box_are_counted_exactly(tmp_path, cells, too_large):
    path = _write_package(tmp_path / "box.xlsx", _sheet_xml(f'<row r="1">{cells}</row>'))
    assert (_code(path, **_SMALL) == "sheet_too_large") == too_large


def _reference_verdict(cells: list[tuple[int, int, bool]], limits: dict[str, int]) -> str:
    rows = max((r for r, _c, value in cells if value), default=0)
    cols = max((c for _r, c, value in cells if value), default=0)
    over = rows > limits["max_rows"] or cols > limits["max_cols"] or rows * cols > limits["max_cells"]
    return "sheet_too_large" if over else "ok"


def _letters(col: int) -> str:
    name = ""
    while col:
        col, rest = divmod(col - 1, 26)
        name = chr(65 + rest) + name
    return name


def test_random_sheets_get_the_verdict_of_a_cell_by_cell_count(tmp_path):
    # random cells around random small limits, in every form the scan tells apart: each verdict
    # equals the one a plain walk over the cells gives
    rng = random.Random(20241)
    for case in range(150):
        limits = {"max_rows": rng.randint(5, 300), "max_cols": rng.randint(2, 60)}
        limits["max_cells"] = rng.randint(10, limits["max_rows"] * limits["max_cols"])
        prefixed = rng.random() < 0.2
        cells: list[tuple[int, int, bool]] = [(1, 1, True)]
        tags = ['<c r="A1"><v>1</v></c>']
        for _ in range(rng.randint(1, 12)):
            row = rng.randint(1, limits["max_rows"] * 2)
            col = rng.randint(1, min(limits["max_cols"] * 2, 16384))
            value = rng.random() < 0.8
            ref = _letters(col) + str(row)
            form = rng.random()
            if form < 0.1:
                ref = "$" + _letters(col) + "$" + str(row)
            elif form < 0.15:
                ref = ref.lower()
            attrs = f'r="{ref}" s="1"' if rng.random() < 0.7 else f's="1" r="{ref}"'
            tags.append(f"<c {attrs}><v>{row}</v></c>" if value else f"<c {attrs}/>")
            cells.append((row, col, value))
        body = f'<row r="1">{"".join(tags)}</row>'
        if prefixed:
            body = body.replace("<c ", "<x:c ").replace("</c>", "</x:c>")
            body = body.replace(
                '<row r="1">',
                '<row r="1" xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">',
            )
        path = _write_package(tmp_path / f"random{case}.xlsx", _sheet_xml(body))
        code = _code(path, **limits)
        assert (code == "sheet_too_large") == (_reference_verdict(cells, limits) == "sheet_too_large"), (
            body,
            limits,
            code,
        )


# ---------------------------------------------------------------------------------------------
# Parts known by their bytes


def test_a_part_seen_before_is_checked_again_under_other_limits(tmp_path):
    path = tmp_path / "score.xlsx"
    _score_workbook().save(path)
    assert _code(path) == "ok"
    assert _code(path, max_rows=10) == "sheet_too_large"  # the same sheet, now over the limits
    assert _code(path, max_unzipped_bytes=4096) == "decompression_bomb"
    assert _code(path) == "ok"


def test_a_part_is_known_by_its_bytes_not_its_name_or_size(tmp_path):
    # a clean part is remembered; another package's part of the same name and size is checked on
    # its own bytes (column ALL is the 1,000th, ALM one too many)
    clean = _sheet_xml('<row r="1"><c r="A1"><v>1</v></c></row><row r="9"><c r="ALL9"><v>2</v></c></row>')
    hostile = clean.replace('r="ALL9"', 'r="ALM9"')
    assert len(clean) == len(hostile)
    assert _code(_write_package(tmp_path / "clean.xlsx", clean)) == "ok"
    assert _code(_write_package(tmp_path / "hostile.xlsx", hostile)) == "sheet_too_large"
    styles = '<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>'
    entity = styles.replace("<styleSheet", '<!DOCTYPE s [<!ENTITY a "b">]><styleSheet')
    for name, part, code in (("styles_ok.xlsx", styles, "ok"), ("styles_dtd.xlsx", entity, "xml_entities")):
        parts = _parts(clean) | {"xl/styles.xml": part}
        assert _code(_zip(tmp_path / name, parts)) == code


def test_a_refused_part_is_refused_every_time(tmp_path):
    laughs = _sheet_xml('<row r="1"><c r="A1"><v>1</v></c></row>', prolog='<!DOCTYPE x [<!ENTITY a "b">]>')
    path = _write_package(tmp_path / "dtd.xlsx", laughs)
    assert [_code(path) for _ in range(3)] == ["xml_entities"] * 3


def test_memo_of_parts_stays_bounded(tmp_path):
    sheets = {
        _sheet_xml(f'<row r="1"><c r="A1"><v>{k}</v></c></row>').encode()
        for k in range(excel._MEMO_PARTS + 20)
    }
    for k, sheet in enumerate(sheets):
        assert _code(_write_package(tmp_path / f"m{k}.xlsx", sheet.decode())) == "ok"
    assert len(excel._memo_parts) <= excel._MEMO_PARTS and len(excel._memo_seen) <= excel._MEMO_SEEN
    assert all(key in excel._memo_parts for key, _as_sheet, _limits in excel._memo_clean)
    # the sheets, different in every package, were seen once: only their hashes are kept
    assert not sheets & set(excel._memo_parts.values())


# ---------------------------------------------------------------------------------------------
# The zip's directory: plain packages read by the checks, every other one through zipfile


def _score_parts(tmp_path: Path) -> dict[str, bytes]:
    source = tmp_path / "source.xlsx"
    _score_workbook().save(source)
    with zipfile.ZipFile(source) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def test_packages_zipfile_reads_are_read_alike(tmp_path):
    parts = _score_parts(tmp_path)
    expected = read_workbook(_zip(tmp_path / "plain.xlsx", parts))
    commented = _zip(tmp_path / "comment.xlsx", parts)
    with zipfile.ZipFile(commented, "a") as zf:
        zf.comment = "导出".encode()
    prepended = tmp_path / "prepended.xlsx"
    prepended.write_bytes(b"PK\x03\x04" + b"\x00" * 200 + (tmp_path / "plain.xlsx").read_bytes())
    stored = _zip(tmp_path / "stored.xlsx", parts, zipfile.ZIP_STORED)
    bzip2 = _zip(tmp_path / "bzip2.xlsx", parts, zipfile.ZIP_BZIP2)
    for path in (commented, stored, bzip2):
        assert read_workbook(path) == expected, path.name
    # data before the first part: zipfile finds the parts, and calamine reads the checked copy
    assert read_workbook(prepended) == expected


def test_a_local_header_naming_another_part_is_refused(tmp_path):
    path = _write_package(tmp_path / "renamed.xlsx", _sheet_xml('<row r="1"><c r="A1"><v>1</v></c></row>'))
    data = path.read_bytes()
    pos = data.find(b"xl/worksheets/sheet1.xml")  # the first occurrence is the local header's name
    path.write_bytes(data[:pos] + b"xl/worksheets/sheet9.xml" + data[pos + 24 :])
    assert _code(path) == "unreadable_workbook"


WILD = Path(__file__).resolve().parents[2].parent / "shared" / "wild-workbooks" / "files"


@pytest.mark.skipif(not WILD.is_dir(), reason="no wild-workbooks corpus here")
def test_the_plain_directory_reads_as_zipfile_does_on_real_packages():
    # every real zip package whose directory the checks read themselves gets the entries zipfile
    # gives; the rest (comments, zip64, extra fields ...) goes through zipfile itself
    plain = 0
    for path in sorted(WILD.iterdir()):
        data = path.read_bytes()
        if not data.startswith(b"PK\x03\x04"):
            continue
        entries = excel._plain_directory(data)
        if entries is None:
            continue
        plain += 1
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            expected = [excel._Entry.of(info)[:-1] for info in zf.infolist()]
        assert [entry[:-1] for entry in entries] == expected, path.name
    assert plain >= 50
