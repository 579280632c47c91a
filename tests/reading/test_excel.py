"""pipelines.lib.excel: real workbooks read right, hostile files refused with one clear FileRejected.

Every file here is built for real: openpyxl and xlwt workbooks, zip packages and OLE2 compound
files written byte for byte, and LibreOffice re-saves. Nothing is mocked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import struct
import subprocess
import uuid
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlwt
from conftest import soffice
from openpyxl.styles import Alignment
from test_wild_workbooks import assert_clean_message

from pipelines.lib.excel import MAX_CELLS, MAX_COLS, MAX_ROWS, Sheet, read_workbook
from pipelines.lib.isolation import map_isolated
from pipelines.lib.records import FileRejected

_RSS_BUDGET_KB = 500 * 1024  # what reading one hostile file may add to this process's peak memory


def _peak_rss_kb() -> int:
    """This process's peak resident memory in KiB (Linux), since `_reset_peak_rss`."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:", 1)[1].split()[0])


def _reset_peak_rss() -> int:
    """Start this process's peak resident memory again from what it holds now, in KiB: the peak since
    the module was imported counted whatever the tests run before it in the same process held."""
    Path("/proc/self/clear_refs").write_text("5")
    return _peak_rss_kb()


# ---------------------------------------------------------------------------------------------
# A realistic score sheet: title row, meta lines, header not on row 1, merged 主要职责 over several
# rows, wrapped text, blank rows, full-width digits and brackets, scores as text, a 合计 row.

TASKS = [  # (主要职责, 序号, 工作任务, 得分)
    ("一、加强党对法治建设的领导", 1, "主持召开党委常委会会议听取法治建设工作汇报（６分）", 6),
    ("一、加强党对法治建设的领导", 2, "组织党委理论学习中心组开展专题学法（３分）", "4.5分"),
    ("一、加强党对法治建设的领导", 3, "将法治建设纳入发展总体规划和年度工作计划（4分）", 3.5),
    ("二、推进依法行政", 4, "落实重大行政决策程序规定（5分）", 5),
    ("二、推进依法行政", 5, "规范性文件合法性审核全覆盖（5分）", None),
]


def _score_workbook() -> openpyxl.Workbook:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "党委主要负责人"
    ws.merge_cells("A1:F1")
    ws["A1"] = "2024年度县（区）党委主要负责人履行推进法治建设第一责任人职责考核评分表"
    ws["A2"] = "责任人：县（区）党委主要负责人"
    ws["A3"] = "被考核单位：清丰县"
    ws["A4"] = "年度：２０２４"
    # row 5 left blank on purpose
    ws.append([])
    ws["A6"], ws["B6"], ws["C6"], ws["D6"], ws["E6"], ws["F6"] = (
        "主要职责",
        "序号",
        "工作任务",
        "落实单位",
        "自评分",
        "备注",
    )
    row = 7
    for duty, no, task, score in TASKS:
        ws.cell(row, 1, duty)
        ws.cell(row, 2, no)
        ws.cell(row, 3, task).alignment = Alignment(wrap_text=True)
        ws.cell(row, 4, "县委办\n县司法局")
        ws.cell(row, 5, score)
        row += 1
    ws.merge_cells("A7:A9")
    ws.merge_cells("A10:A11")
    for r in (8, 9, 11):
        assert ws.cell(r, 1).value is None  # openpyxl keeps only the top-left value, like Excel
    ws.cell(13, 1, "合计")  # row 12 blank, then the total row
    ws.cell(13, 5, 19)
    ws.cell(14, 6, "填报日期")
    ws.cell(14, 5, dt.datetime(2025, 1, 8, 9, 30))
    notes = wb.create_sheet("填表说明")
    notes["A1"] = "本表由各单位自评后报送。"
    wb.create_sheet("空白页")
    return wb


def _expected_rows() -> list[list[object]]:
    rows: list[list[object]] = [
        ["2024年度县（区）党委主要负责人履行推进法治建设第一责任人职责考核评分表"] * 6,
        ["责任人：县（区）党委主要负责人", None, None, None, None, None],
        ["被考核单位：清丰县", None, None, None, None, None],
        ["年度：２０２４", None, None, None, None, None],
        [None] * 6,
        ["主要职责", "序号", "工作任务", "落实单位", "自评分", "备注"],
    ]
    for duty, no, task, score in TASKS:
        rows.append(
            [
                duty,
                float(no),
                task,
                "县委办\n县司法局",
                float(score) if isinstance(score, int | float) else score,
                None,
            ]
        )
    rows.append([None] * 6)
    rows.append(["合计", None, None, None, 19.0, None])
    rows.append([None, None, None, None, dt.datetime(2025, 1, 8, 9, 30), "填报日期"])
    return rows


@pytest.fixture(scope="module")
def score_xlsx(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("score") / "清丰县_党委_2024.xlsx"
    _score_workbook().save(path)
    return path


def _assert_score_sheets(sheets: list[Sheet]) -> None:
    assert [s.name for s in sheets] == ["党委主要负责人", "填表说明", "空白页"]
    main = sheets[0]
    assert main.rows == _expected_rows()
    assert sheets[1].rows == [["本表由各单位自评后报送。"]]
    assert sheets[2].rows == []


def test_reads_openpyxl_score_sheet(score_xlsx):
    sheets = read_workbook(score_xlsx)
    _assert_score_sheets(sheets)
    rows = sheets[0].rows
    # row numbers are the office suite's: rows[i] is row i + 1, blank rows kept in place
    assert rows[6][2].startswith("主持召开党委常委会会议")
    assert [r[0] for r in rows[6:11]] == [TASKS[i][0] for i in range(5)]  # merged column repeated
    assert type(rows[6][1]) is float and type(rows[8][4]) is float
    assert rows[7][4] == "4.5分" and "（６分）" in rows[6][2]
    assert not any(s.hidden for s in sheets)


def test_hidden_sheet_is_flagged(tmp_path):
    wb = openpyxl.Workbook()
    wb.active["A1"] = "可见"
    hidden = wb.create_sheet("旧数据")
    hidden["A1"] = 1
    hidden.sheet_state = "hidden"
    wb.save(tmp_path / "h.xlsx")
    sheets = read_workbook(tmp_path / "h.xlsx")
    assert [(s.name, s.hidden) for s in sheets] == [("Sheet", False), ("旧数据", True)]


def _write_xls_score_sheet(path: Path) -> None:
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("党委主要负责人")
    wrap = xlwt.easyxf("align: wrap on")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM")
    expected = _expected_rows()
    ws.write_merge(0, 0, 0, 5, expected[0][0])
    for r in (1, 2, 3):
        ws.write(r, 0, expected[r][0])
    for c, text in enumerate(expected[5]):
        ws.write(5, c, text)
    for i, (_duty, no, task, score) in enumerate(TASKS):
        r = 6 + i
        ws.write(r, 1, no)
        ws.write(r, 2, task, wrap)
        ws.write(r, 3, "县委办\n县司法局", wrap)
        if score is not None:
            ws.write(r, 4, score)
    ws.write_merge(6, 8, 0, 0, TASKS[0][0])
    ws.write_merge(9, 10, 0, 0, TASKS[3][0])
    ws.write(12, 0, "合计")
    ws.write(12, 4, 19)
    ws.write(13, 4, dt.datetime(2025, 1, 8, 9, 30), date_style)
    ws.write(13, 5, "填报日期")
    ws.write(20, 3, None, xlwt.easyxf("borders: left thin"))  # a styled blank far below: ignored
    wb.add_sheet("填表说明").write(0, 0, "本表由各单位自评后报送。")
    wb.add_sheet("空白页")
    wb.save(str(path))


def test_reads_legacy_xls_written_by_xlwt(tmp_path):
    path = tmp_path / "清丰县_党委_2024.xls"
    _write_xls_score_sheet(path)
    _assert_score_sheets(read_workbook(path))


def test_cells_without_r_attribute_are_placed_like_readers_do(tmp_path):
    path = tmp_path / "no_refs.xlsx"
    _write_package(
        path,
        _sheet_xml(
            '<row><c t="inlineStr"><is><t>甲</t></is></c><c><v>2</v></c></row>'
            '<row r="4"><c r="B4"><v>3</v></c><c><v>4</v></c></row>'
        ),
    )
    assert read_workbook(path)[0].rows == [["甲", 2.0, None], [None] * 3, [None] * 3, [None, 3.0, 4.0]]


# ---------------------------------------------------------------------------------------------
# Office-suite files: LibreOffice re-saves the generated workbook as BIFF8 .xls and as .xlsx


def _convert(exe: str, source: Path, target: str, outdir: Path, profile: Path) -> Path:
    outdir.mkdir()
    proc = subprocess.run(
        [
            exe,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            target,
            "--outdir",
            str(outdir),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    produced = list(outdir.iterdir())
    assert proc.returncode == 0 and len(produced) == 1, (proc.returncode, proc.stdout, proc.stderr)
    return produced[0]


def test_libreoffice_resaved_workbooks_read_the_same(score_xlsx, tmp_path):
    exe = soffice()
    profile = tmp_path / f"lo-profile-{uuid.uuid4().hex}"  # private profile: parallel runs don't clash
    xls = _convert(exe, score_xlsx, "xls:MS Excel 97", tmp_path / "xls", profile)
    xlsx = _convert(exe, score_xlsx, "xlsx", tmp_path / "xlsx", profile)
    assert xls.read_bytes()[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # a real BIFF8 compound file
    assert xlsx.read_bytes()[:2] == b"PK"
    for path in (xls, xlsx):
        _assert_score_sheets(read_workbook(path))
    # and a .xls that LibreOffice re-saved from xlwt's output
    own = tmp_path / "xlwt.xls"
    _write_xls_score_sheet(own)
    _assert_score_sheets(read_workbook(_convert(exe, own, "xls:MS Excel 97", tmp_path / "xls2", profile)))


# ---------------------------------------------------------------------------------------------
# Hand-written packages and compound files

_CT = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="打分表" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)
_SST_OK = (
    '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'count="1" uniqueCount="1"><si><t>序号</t></si></sst>'
)


def _sheet_xml(body: str, *, dimension: str | None = None, prolog: str = "") -> str:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        f'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{dim}'
        f"<sheetData>{body}</sheetData></worksheet>"
    )


def _write_package(path: Path, sheet_xml: str, *, shared_strings: str = _SST_OK) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _CT)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("xl/workbook.xml", _WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        zf.writestr("xl/sharedStrings.xml", shared_strings)
        zf.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return path


def test_hand_written_package_is_valid(tmp_path):
    # the builder used for the hostile packages below makes files calamine reads normally
    path = _write_package(
        tmp_path / "ok.xlsx",
        _sheet_xml('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1"><v>7</v></c></row>'),
    )
    assert read_workbook(path)[0].rows == [["序号", 7.0]]


_PREFIXED = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>'
    '<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>甲</x:t></x:is></x:c></x:row>'
    '<x:row r="2"><x:c r="B2"><x:v>2</x:v></x:c></x:row>{far}</x:sheetData></x:worksheet>'
)


def test_namespace_prefixed_sheet_xml(tmp_path):
    # legal (the .NET Open XML SDK writes it); calamine reads it, so the extent scan must too
    ok = _write_package(tmp_path / "prefixed.xlsx", _PREFIXED.format(far=""))
    assert read_workbook(ok)[0].rows == [["甲", None], [None, 2.0]]
    far = _write_package(
        tmp_path / "prefixed_far.xlsx",
        _PREFIXED.format(far='<x:row r="1048576"><x:c r="XFD1048576"><x:v>1</x:v></x:c></x:row>'),
    )
    with pytest.raises(FileRejected) as info:
        read_workbook(far)
    assert info.value.code == "sheet_too_large"


def _big_sheet_body(rows: int, tail: str = "") -> str:
    return (
        "".join(
            f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="B{r}" t="inlineStr"><is><t>第{r}行</t></is></c></row>'
            for r in range(1, rows + 1)
        )
        + tail
    )


def test_sheet_xml_larger_than_one_scan_chunk(tmp_path):
    # ~4 MB of sheet XML is scanned in 1 MB chunks: what sits after the first chunk counts too
    ok = _write_package(tmp_path / "big.xlsx", _sheet_xml(_big_sheet_body(60_000)))
    rows = read_workbook(ok)[0].rows
    assert len(rows) == 60_000 and rows[-1] == [60_000.0, "第60000行"]
    far = _write_package(
        tmp_path / "big_far.xlsx",
        _sheet_xml(_big_sheet_body(60_000, '<row r="100001"><c r="A100001"><v>1</v></c></row>')),
    )
    with pytest.raises(FileRejected) as info:
        read_workbook(far)
    assert info.value.code == "sheet_too_large"
    late_dtd = _write_package(
        tmp_path / "late_dtd.xlsx", _sheet_xml(_big_sheet_body(60_000, '<!ENTITY x "y">'))
    )
    with pytest.raises(FileRejected) as info:
        read_workbook(late_dtd)
    assert info.value.code == "xml_entities"


def test_workbook_part_found_through_package_relationships(tmp_path):
    # readers follow _rels/.rels, so a package may keep its parts outside xl/: so does the check
    def package(path: Path, body: str) -> Path:
        rels = _RELS.replace('Target="xl/workbook.xml"', 'Target="/book/workbook.xml"')
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("[Content_Types].xml", _CT)
            zf.writestr("_rels/.rels", rels)
            zf.writestr("book/workbook.xml", _WORKBOOK)
            zf.writestr(
                "book/_rels/workbook.xml.rels",
                _WORKBOOK_RELS.replace("worksheets/sheet1.xml", "data/grid.xml"),
            )
            zf.writestr("book/sharedStrings.xml", _SST_OK)
            zf.writestr("book/data/grid.xml", _sheet_xml(body).replace("worksheet", "grid"))
        return path

    ok = package(tmp_path / "ok.xlsx", '<row r="2"><c r="B2" t="s"><v>0</v></c></row>')
    assert read_workbook(ok)[0].rows == [[None, None], [None, "序号"]]
    far = package(tmp_path / "far.xlsx", '<row r="300000"><c r="A300000"><v>1</v></c></row>')
    with pytest.raises(FileRejected) as info:
        read_workbook(far)
    assert info.value.code == "sheet_too_large"


def _write_cfb(path: Path, streams: dict[str, bytes]) -> Path:
    """A minimal but valid MS-CFB version 3 file holding the given root-level streams.

    Streams under 4,096 bytes go to the mini stream, as the format requires.
    """
    ssz, end, free, fat_mark, nostream = 512, 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
    names = sorted(streams, key=lambda n: (len(n), n.upper()))  # the directory's sort order
    mini = bytearray()
    mini_fat: list[int] = []
    big: list[tuple[str, bytes]] = []
    placement: dict[str, tuple[int, int]] = {}  # name -> (start, size)
    for name in names:
        data = streams[name]
        if len(data) < 4096:
            start = len(mini) // 64
            n = max(1, -(-len(data) // 64))
            mini_fat += [start + k + 1 for k in range(n - 1)] + [end]
            mini += data.ljust(n * 64, b"\x00")
            placement[name] = (start if data else end, len(data))
        else:
            big.append((name, data))
    sectors: list[bytes] = []
    fat: list[int] = []

    def add_chain(data: bytes) -> int:
        start = len(sectors)
        n = max(1, -(-len(data) // ssz))
        for k in range(n):
            sectors.append(data[k * ssz : (k + 1) * ssz].ljust(ssz, b"\x00"))
            fat.append(start + k + 1 if k < n - 1 else end)
        return start

    for name, data in big:
        placement[name] = (add_chain(data), len(data))
    mini_start = add_chain(bytes(mini)) if mini else end
    mini_fat_start = (
        add_chain(struct.pack(f"<{len(mini_fat)}I", *mini_fat).ljust(ssz, b"\xff")) if mini_fat else end
    )
    n_mini_fat_sectors = 1 if mini_fat else 0

    def entry(name: str, kind: int, child: int, right: int, start: int, size: int) -> bytes:
        raw = name.encode("utf-16-le")
        return (
            raw.ljust(64, b"\x00")
            + struct.pack("<HBB", len(raw) + 2, kind, 1)
            + struct.pack("<III", nostream, right, child)
            + b"\x00" * 36
            + struct.pack("<IQ", start, size)
        )

    directory = entry("Root Entry", 5, 1 if names else nostream, nostream, mini_start, len(mini))
    for k, name in enumerate(names):  # a right-leaning chain in sort order is a valid search tree
        directory += entry(name, 2, nostream, k + 2 if k + 1 < len(names) else nostream, *placement[name])
    directory = directory.ljust(-(-len(directory) // ssz) * ssz, b"\x00")
    dir_start = add_chain(directory)
    n_fat = 1
    while len(sectors) + n_fat > n_fat * (ssz // 4):
        n_fat += 1
    fat_start = len(sectors)
    fat += [fat_mark] * n_fat
    fat += [free] * (n_fat * (ssz // 4) - len(fat))
    fat_bytes = struct.pack(f"<{len(fat)}I", *fat)
    sectors += [fat_bytes[k * ssz : (k + 1) * ssz] for k in range(n_fat)]
    difat = [fat_start + k for k in range(n_fat)] + [free] * (109 - n_fat)
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\x00" * 6
        + struct.pack("<IIIIIIIII", 0, n_fat, dir_start, 0, 4096, mini_fat_start, n_mini_fat_sectors, end, 0)
        + struct.pack("<109I", *difat)
    )
    path.write_bytes(header + b"".join(sectors))
    return path


def _xlwt_biff(cells: dict[tuple[int, int], object]) -> bytes:
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Sheet1")
    for (r, c), v in cells.items():
        ws.write(r, c, v)
    return wb.get_biff_data()


def test_hand_written_compound_file_is_valid(tmp_path):
    # the CFB writer used for the encrypted files below makes .xls files calamine reads normally,
    # with the Workbook stream in regular sectors and in the mini stream
    cells = {(r, 0): f"第{r}行" for r in range(100)} | {(1, 1): 2.5}
    big_biff, small_biff = _xlwt_biff(cells), _xlwt_biff({(0, 0): "甲", (1, 1): 2.5})
    assert len(big_biff) >= 4096 > len(small_biff)
    big = _write_cfb(tmp_path / "big.xls", {"Workbook": big_biff, "\x05SummaryInformation": b"\x00" * 200})
    rows = read_workbook(big)[0].rows
    assert len(rows) == 100 and rows[99][0] == "第99行" and rows[1][1] == 2.5
    small = _write_cfb(tmp_path / "small.xls", {"Workbook": small_biff})
    assert read_workbook(small)[0].rows == [["甲", None], [None, 2.5]]


def _encrypted_xlsx(path: Path) -> Path:
    # what Office writes for a password-protected .xlsx: an OLE2 file with EncryptionInfo and
    # EncryptedPackage streams (agile encryption, version 4.4) instead of a zip
    info = struct.pack("<HHI", 4, 4, 0x40) + (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        b'<encryption xmlns="http://schemas.microsoft.com/office/2006/encryption">'
        b'<keyData saltSize="16" blockSize="16" keyBits="256" hashSize="64" cipherAlgorithm="AES" '
        b'cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512" saltValue="AAAAAAAAAAAAAAAAAAAAAA=="/>'
        b"</encryption>"
    )
    rng = random.Random(7)
    package = struct.pack("<Q", 9000) + rng.randbytes(9008)
    return _write_cfb(path, {"EncryptionInfo": info, "EncryptedPackage": package})


def _encrypted_xls(path: Path) -> Path:
    # BIFF8 with a FILEPASS record (RC4 CryptoAPI) right after the globals BOF, as Excel writes it
    biff = _xlwt_biff({(0, 0): "机密", (1, 0): 1})
    bof_len = 4 + struct.unpack_from("<H", biff, 2)[0]
    filepass = struct.pack("<HH", 0x002F, 54) + struct.pack("<HHH", 1, 2, 2) + random.Random(3).randbytes(48)
    return _write_cfb(path, {"Workbook": biff[:bof_len] + filepass + biff[bof_len:]})


# ---------------------------------------------------------------------------------------------
# Workbooks Excel and LibreOffice open, which calamine alone refuses or over-sizes


def _read_shape(path: str) -> list[tuple[str, int, int]] | str:
    try:
        return [
            (s.name, len(s.rows), max((len(r) for r in s.rows), default=0)) for s in read_workbook(Path(path))
        ]
    except FileRejected as exc:
        return exc.code


def test_styled_empty_cells_and_dimension_do_not_size_a_sheet(tmp_path):
    """23 rows x 3 columns of data with formatting out to column XFD and <dimension> A1:XFD1048576,
    as in poi's CVLKRA-KYC workbook: read at the size of its data. Read in workers: were the styled
    cells to reach calamine's grid, it would allocate gigabytes."""
    styled = "".join(f'<c r="{c}{{r}}" s="2"/>' for c in ("D", "AB", "XFA", "XFB", "XFC", "XFD"))
    body = "".join(
        f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="B{r}" t="inlineStr"><is><t>第{r}项</t></is></c>'
        f'<c r="C{r}" s="1"><v>1.5</v></c>{styled.format(r=r)}</row>'
        for r in range(1, 24)
    )
    body += '<row r="1048576"><c r="XFD1048576" s="2"/></row>'
    with_refs = _write_package(tmp_path / "styled.xlsx", _sheet_xml(body, dimension="A1:XFD1048576"))
    without_refs = _write_package(
        tmp_path / "styled_no_refs.xlsx",
        _sheet_xml("<row><c><v>1</v></c>" + '<c s="1"/>' * (MAX_COLS + 1) + "</row>"),
    )
    dimension_only = _write_package(
        tmp_path / "dimension.xlsx",
        _sheet_xml('<row r="1"><c r="A1"><v>1</v></c></row>', dimension="A1:XFD1048576"),
    )
    outcomes = map_isolated(_read_shape, [str(with_refs), str(without_refs), str(dimension_only)], workers=2)
    assert [o.value for o in outcomes] == [[("打分表", 23, 3)], [("打分表", 1, 1)], [("打分表", 1, 1)]], (
        outcomes
    )
    rows = read_workbook(with_refs)[0].rows
    assert rows[22] == [23.0, "第23项", 1.5]


_MACRO_CT = _CT.replace(
    "</Types>",
    '<Override PartName="/xl/macrosheets/sheet1.xml" '
    'ContentType="application/vnd.ms-excel.macrosheet+xml"/></Types>',
)
_MACRO_WORKBOOK = _WORKBOOK.replace(
    '<sheet name="打分表" sheetId="1" r:id="rId1"/>',
    '<sheet name="宏1" sheetId="2" r:id="rId3"/><sheet name="打分表" sheetId="1" r:id="rId1"/>',
)
_MACRO_RELS = _WORKBOOK_RELS.replace(
    "</Relationships>",
    '<Relationship Id="rId3" Type="http://schemas.microsoft.com/office/2006/relationships/'
    'xlMacrosheet" Target="macrosheets/sheet1.xml"/></Relationships>',
)


def _macro_package(path: Path, macro_body: str, prolog: str = "") -> Path:
    macro = (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<xm:macrosheet '
        'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main"><sheetData>{macro_body}</sheetData>'
        "</xm:macrosheet>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _MACRO_CT)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("xl/workbook.xml", _MACRO_WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", _MACRO_RELS)
        zf.writestr("xl/sharedStrings.xml", _SST_OK)
        zf.writestr(
            "xl/worksheets/sheet1.xml",
            _sheet_xml('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1"><v>7</v></c></row>'),
        )
        zf.writestr("xl/macrosheets/sheet1.xml", macro)
    return path


def test_excel4_macro_sheet_is_skipped_and_the_worksheets_read(tmp_path):
    # an Excel 4 (XLM) macro sheet used to make the whole workbook unreadable
    path = _macro_package(
        tmp_path / "macro.xlsm", '<row r="1"><c r="A1" t="str"><f>HALT()</f><v>TRUE</v></c></row>'
    )
    sheets = read_workbook(path)
    assert [(s.name, s.rows) for s in sheets] == [("打分表", [["序号", 7.0]])]
    # the macro sheet is still checked like any part: taking it out does not let anything through
    for body, prolog, code in (
        ('<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>', "", "sheet_too_large"),
        ("", '<!DOCTYPE x [<!ENTITY a "b">]>', "xml_entities"),
    ):
        with pytest.raises(FileRejected) as info:
            read_workbook(_macro_package(tmp_path / f"{code}.xlsm", body, prolog))
        assert info.value.code == code


def _utf16(xml: str) -> bytes:
    # what Office Mobile writes: a BOM, UTF-16LE, and a declaration that says so
    return ("\ufeff" + xml.replace('encoding="UTF-8"', 'encoding="utf-16"')).encode("utf-16-le")


def _utf16_package(path: Path, sheet_xml: str, *, shared_strings: str = _SST_OK) -> Path:
    parts = {
        "[Content_Types].xml": _CT,
        "_rels/.rels": _RELS,
        "xl/workbook.xml": _WORKBOOK,
        "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS,
        "xl/sharedStrings.xml": shared_strings,
        "xl/worksheets/sheet1.xml": sheet_xml,
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, xml in parts.items():
            declared = xml if xml.startswith("<?xml") else '<?xml version="1.0" encoding="UTF-8"?>' + xml
            zf.writestr(name, _utf16(declared))
    return path


def test_utf16_xml_parts_are_read(tmp_path):
    ok = _utf16_package(
        tmp_path / "phone.xlsx",
        _sheet_xml(
            '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="inlineStr"><is><t>清丰县</t></is></c></row>'
        ),
    )
    assert read_workbook(ok)[0].rows == [["序号", "清丰县"]]
    # every check runs on the re-encoded parts
    far = _utf16_package(
        tmp_path / "far.xlsx",
        _sheet_xml(
            '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>2</v></c></row>'
        ),
    )
    laughs = _utf16_package(
        tmp_path / "laughs.xlsx",
        _sheet_xml('<row r="1"><c r="A1" t="s"><v>0</v></c></row>'),
        shared_strings='<?xml version="1.0" encoding="UTF-8"?>'
        + _LAUGHS
        + '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" '
        'uniqueCount="1"><si><t>&lol9;</t></si></sst>',
    )
    for path, code in ((far, "sheet_too_large"), (laughs, "xml_entities")):
        with pytest.raises(FileRejected) as info:
            read_workbook(path)
        assert info.value.code == code


def _rc4_keystream(key: bytes, n: int) -> bytes:
    s, j = list(range(256)), 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out, i, j = [], 0, 0
    for _ in range(n):
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(s[(s[i] + s[j]) % 256])
    return bytes(out)


def _xls_encrypted_with(path: Path, password: str) -> Path:
    """BIFF8 with an RC4 FILEPASS whose verifier matches the password ([MS-OFFCRYPTO] 2.3.6)."""
    salt, verifier = bytes(range(16)), bytes(range(100, 116))
    h0 = hashlib.md5(password.encode("utf-16-le")).digest()[:5]
    h1 = hashlib.md5((h0 + salt) * 16).digest()[:5]
    stream = _rc4_keystream(hashlib.md5(h1 + b"\0\0\0\0").digest(), 32)
    sealed = bytes(a ^ b for a, b in zip(verifier + hashlib.md5(verifier).digest(), stream, strict=False))
    body = struct.pack("<HHH", 1, 1, 1) + salt + sealed
    biff = _xlwt_biff({(0, 0): "机密", (1, 0): 1})
    bof_len = 4 + struct.unpack_from("<H", biff, 2)[0]
    filepass = struct.pack("<HH", 0x002F, len(body)) + body
    return _write_cfb(path, {"Workbook": biff[:bof_len] + filepass + biff[bof_len:]})


def test_xls_with_excels_default_key_is_not_told_to_remove_a_password(tmp_path):
    # Excel saves a structure-protected .xls encrypted with the key "VelvetSweatshop" and opens it
    # without asking: the unit never set a password and must not be asked to remove one
    with pytest.raises(FileRejected) as default:
        read_workbook(_xls_encrypted_with(tmp_path / "protected.xls", "VelvetSweatshop"))
    with pytest.raises(FileRejected) as own:
        read_workbook(_xls_encrypted_with(tmp_path / "password.xls", "清丰2024"))
    assert default.value.code == own.value.code == "encrypted"
    assert "默认" in default.value.message and "撤消保护" in default.value.message
    assert "取消密码" not in default.value.message
    assert "打开密码" in own.value.message and "默认" not in own.value.message


# ---------------------------------------------------------------------------------------------
# Hostile and foreign files: each gives exactly one FileRejected with the right code

_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
    + "]>"
)


def _billion_laughs_shared_strings(path: Path) -> Path:
    sst = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        + _LAUGHS
        + '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
        "<si><t>&lol9;</t></si></sst>"
    )
    return _write_package(
        path, _sheet_xml('<row r="1"><c r="A1" t="s"><v>0</v></c></row>'), shared_strings=sst
    )


def _billion_laughs_sheet(path: Path) -> Path:
    return _write_package(
        path,
        _sheet_xml('<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>', prolog=_LAUGHS),
    )


def _xxe(path: Path) -> Path:
    prolog = '<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    return _write_package(
        path, _sheet_xml('<row r="1"><c r="A1" t="inlineStr"><is><t>&xxe;</t></is></c></row>', prolog=prolog)
    )


def _decompression_bomb(path: Path) -> Path:
    # 20,000 rows x 1,000 cells = 20 M cells (~420 MB of XML) streamed into a <1 MB zip member
    cells = '<c t="n"><v>1</v></c>' * 1000
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", _CT)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("xl/workbook.xml", _WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        zf.writestr("xl/sharedStrings.xml", _SST_OK)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(
                b'<?xml version="1.0" encoding="UTF-8"?><worksheet '
                b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            )
            for r in range(1, 20_001):
                fh.write(f'<row r="{r}">{cells}</row>'.encode())
            fh.write(b"</sheetData></worksheet>")
    assert path.stat().st_size < 2 * 1024 * 1024
    return path


def _corner_cells(path: Path) -> Path:
    # 2 KB, well-formed, cells at A1 and XFD1048576: calamine would allocate ~550 GB and abort
    return _write_package(
        path,
        _sheet_xml(
            '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>2</v></c></row>',
            dimension="A1:XFD1048576",
        ),
    )


def _far_empty_text(path: Path) -> Path:
    # an empty string is still a value to calamine: A1 and XFD1048576 again, by another way
    return _write_package(
        path,
        _sheet_xml(
            '<row r="1"><c r="A1"><v>1</v></c></row>'
            '<row r="1048576"><c r="XFD1048576" t="str"><v></v></c></row>'
        ),
    )


def _far_empty_inline_string(path: Path) -> Path:
    return _write_package(
        path,
        _sheet_xml(
            '<row r="1"><c r="A1"><v>1</v></c></row>'
            '<row r="1048576"><c r="XFD1048576" s="1" t="inlineStr"><is><t></t></is></c></row>'
        ),
    )


def _far_value_among_styled_cells(path: Path) -> Path:
    # styled empty cells do not count, but a value beyond them still does
    styled = "".join(f'<c r="{c}1048576" s="1"/>' for c in ("XFA", "XFB", "XFC"))
    return _write_package(
        path,
        _sheet_xml(
            '<row r="1"><c r="A1"><v>1</v></c></row>'
            f'<row r="1048576">{styled}<c r="XFD1048576"><v>2</v></c></row>'
        ),
    )


def _styled_then_value_without_refs(path: Path) -> Path:
    # cells without r: self-closing ones take a place, the value after them lands past MAX_COLS
    return _write_package(path, _sheet_xml("<row>" + '<c s="1"/>' * (MAX_COLS + 1) + "<c><v>1</v></c></row>"))


def _far_cell_without_ref(path: Path) -> Path:
    return _write_package(
        path,
        _sheet_xml(
            '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c><v>2</v></c><c><v>3</v></c></row>'
        ),
    )


def _absurd_reference(path: Path) -> Path:
    return _write_package(
        path, _sheet_xml('<row r="1"><c r="A1"><v>1</v></c><c r="AAAAAAAAAA1"><v>2</v></c></row>')
    )


def _wide_row_without_refs(path: Path) -> Path:
    return _write_package(path, _sheet_xml("<row>" + "<c><v>1</v></c>" * (MAX_COLS + 1) + "</row>"))


def _huge_unique_count(path: Path) -> Path:
    sst = (
        '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'count="1" uniqueCount="4000000000"><si><t>x</t></si></sst>'
    )
    return _write_package(
        path, _sheet_xml('<row r="1"><c r="A1" t="s"><v>0</v></c></row>'), shared_strings=sst
    )


def _html_named_xls(path: Path) -> Path:
    path.write_text(
        '<html xmlns:x="urn:schemas-microsoft-com:office:excel"><head><meta charset="utf-8"></head>'
        "<body><table><tr><td>单位</td><td>得分</td></tr><tr><td>清丰县</td><td>95</td></tr></table>"
        "</body></html>",
        encoding="utf-8",
    )
    return path


def _csv_named_xls(path: Path) -> Path:
    path.write_bytes("单位,日期,会议类型\n清丰县,2024-03-05,常委会\n".encode("gbk"))
    return path


def _random_bytes_xlsx(path: Path) -> Path:
    path.write_bytes(random.Random(2024).randbytes(64 * 1024))
    return path


def _truncated_xlsx(path: Path) -> Path:
    _score_workbook().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _docx_named_xlsx(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
    return path


def _xls_far_value(path: Path) -> Path:
    wb = xlwt.Workbook()
    ws = wb.add_sheet("会议台账")
    ws.write(0, 0, 1)
    ws.write(65535, 255, 2)  # calamine would build a 16.7 M cell grid (~1 GB)
    wb.save(str(path))
    return path


def _xls_with_dimensions(path: Path, first_row: int, end_row: int) -> Path:
    # found by fuzzing: calamine sizes an .xls sheet from DIMENSIONS, and an inverted one makes it
    # abort ("memory allocation of 61740155280 bytes failed"); rows past 65,536 are out of spec
    biff = bytearray(_xlwt_biff({(0, 0): "甲", (1, 1): 2.5}))
    pos = 0
    while pos + 4 <= len(biff):
        rtype, rlen = struct.unpack_from("<HH", biff, pos)
        if rtype == 0x0200 and rlen == 14:
            struct.pack_into("<II", biff, pos + 4, first_row, end_row)
        pos += 4 + rlen
    return _write_cfb(path, {"Workbook": bytes(biff)})


def _bend_fat_count(path: Path) -> Path:
    # an encrypted .xlsx whose header claims more FAT sectors than the file holds (real ones do):
    # the container check must not hide that the file is, first of all, encrypted
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 44, 50)
    path.write_bytes(bytes(data))
    return path


def _bare_biff(path: Path, bof: int) -> Path:
    # Excel 2.x-4.0 wrote a bare BIFF stream, no compound file: BOF, one LABEL cell, EOF
    version = {0x0009: b"\x00\x00\x10\x00", 0x0209: b"\x00\x00\x10\x00\x00\x00"}.get(
        bof, b"\x00\x00\x10\x00\x00\x00"
    )
    label = struct.pack("<HHB", 0, 0, 0) + b"\x00\x00" + bytes([4]) + b"Unit"
    label_type = 0x0004 if bof == 0x0009 else 0x0204
    path.write_bytes(
        struct.pack("<HH", bof, len(version))
        + version
        + struct.pack("<HH", label_type, len(label))
        + label
        + struct.pack("<HH", 0x000A, 0)
    )
    return path


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


HOSTILE = {
    "billion_laughs_shared_strings.xlsx": (_billion_laughs_shared_strings, "xml_entities"),
    "billion_laughs_sheet.xlsx": (_billion_laughs_sheet, "xml_entities"),
    "xxe.xlsx": (_xxe, "xml_entities"),
    "decompression_bomb.xlsx": (_decompression_bomb, "decompression_bomb"),
    "corner_cells.xlsx": (_corner_cells, "sheet_too_large"),
    "far_empty_text.xlsx": (_far_empty_text, "sheet_too_large"),
    "far_empty_inline_string.xlsx": (_far_empty_inline_string, "sheet_too_large"),
    "far_value_among_styled_cells.xlsx": (_far_value_among_styled_cells, "sheet_too_large"),
    "styled_then_value_without_refs.xlsx": (_styled_then_value_without_refs, "sheet_too_large"),
    "far_cell_without_ref.xlsx": (_far_cell_without_ref, "sheet_too_large"),
    "wide_row_without_refs.xlsx": (_wide_row_without_refs, "sheet_too_large"),
    "absurd_reference.xlsx": (_absurd_reference, "sheet_too_large"),
    "huge_unique_count.xlsx": (_huge_unique_count, "unreadable_workbook"),
    "far_value.xls": (_xls_far_value, "sheet_too_large"),
    "inverted_dimensions.xls": (lambda p: _xls_with_dimensions(p, 3_523_215_362, 7), "unreadable_workbook"),
    "huge_dimensions.xls": (lambda p: _xls_with_dimensions(p, 0, 134_217_749), "unreadable_workbook"),
    "html.xls": (_html_named_xls, "not_a_workbook"),
    "csv_gbk.xls": (_csv_named_xls, "not_a_workbook"),
    "random.xlsx": (_random_bytes_xlsx, "not_a_workbook"),
    "docx_renamed.xlsx": (_docx_named_xlsx, "not_a_workbook"),
    "encrypted.xlsx": (_encrypted_xlsx, "encrypted"),
    "encrypted.xls": (_encrypted_xls, "encrypted"),
    "encrypted_bent_header.xlsx": (lambda p: _bend_fat_count(_encrypted_xlsx(p)), "encrypted"),
    "biff2.xls": (lambda p: _bare_biff(p, 0x0009), "old_excel_format"),
    "biff3.xls": (lambda p: _bare_biff(p, 0x0209), "old_excel_format"),
    "biff4.xls": (lambda p: _bare_biff(p, 0x0409), "old_excel_format"),
    "pdf_named.xlsx": (lambda p: p.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n") or p, "not_a_workbook"),
    "truncated.xlsx": (_truncated_xlsx, "unreadable_workbook"),
    "empty.xlsx": (_empty, "empty_file"),
}


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    for name, (build, _code) in HOSTILE.items():
        build(folder / name)
    return folder


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_file_is_refused_with_one_clear_error(hostile_dir, name):
    before = _reset_peak_rss()
    with pytest.raises(FileRejected) as info:
        read_workbook(hostile_dir / name)
    assert info.value.code == HOSTILE[name][1], info.value.message
    assert info.value.message and any("\u4e00" <= ch <= "\u9fff" for ch in info.value.message)
    grown_mb = (_peak_rss_kb() - before) / 1024
    assert grown_mb < _RSS_BUDGET_KB / 1024, f"peak RSS grew by {grown_mb:.0f} MB"


def test_messages_tell_the_clerk_what_to_do(hostile_dir):
    def message(name: str) -> str:
        with pytest.raises(FileRejected) as info:
            read_workbook(hostile_dir / name)
        return info.value.message

    assert "打开密码" in message("encrypted.xlsx") and "取消密码" in message("encrypted.xlsx")
    assert "网页" in message("html.xls") and "另存为" in message("html.xls")
    assert "文本文件" in message("csv_gbk.xls")
    assert "「打分表」" in message("corner_cells.xlsx")  # names the sheet as the clerk sees it
    assert "「会议台账」" in message("far_value.xls")
    assert "旧版 Excel 格式（Excel 4.0" in message("biff4.xls")
    assert "PDF" in message("pdf_named.xlsx")


def test_messages_carry_no_reader_internals(hostile_dir):
    # the reader's own words stay with the developer (FileRejected.detail), never in the message
    for name in HOSTILE:
        with pytest.raises(FileRejected) as info:
            read_workbook(hostile_dir / name)
        assert_clean_message(info.value.message)
    with pytest.raises(FileRejected) as info:
        read_workbook(hostile_dir / "truncated.xlsx")
    assert "读取器信息" not in info.value.message and "zip" in (info.value.detail or "").lower()


def test_file_size_cap(score_xlsx):
    with pytest.raises(FileRejected) as info:
        read_workbook(score_xlsx, max_bytes=1024)
    assert info.value.code == "file_too_large"


def test_limits_are_configurable(score_xlsx):
    with pytest.raises(FileRejected) as info:
        read_workbook(score_xlsx, max_rows=10)
    assert info.value.code == "sheet_too_large"
    with pytest.raises(FileRejected) as info:
        read_workbook(score_xlsx, max_unzipped_bytes=4096)
    assert info.value.code == "decompression_bomb"
    assert len(read_workbook(score_xlsx, max_rows=14, max_cols=6, max_cells=84)[0].rows) == 14


def test_default_limits_are_sane():
    assert MAX_ROWS * 10 <= MAX_CELLS <= MAX_ROWS * MAX_COLS


# ---------------------------------------------------------------------------------------------
# Mutated files: only ever a result or FileRejected (run isolated: calamine may abort on some)


def _read_outcome(path: str) -> str:
    try:
        read_workbook(Path(path))
    except FileRejected as exc:
        return exc.code
    return "ok"


def _mutations(data: bytes, rng: random.Random, count: int) -> bytes:
    buf = bytearray(data)
    for _ in range(count):
        k = rng.randrange(len(buf))
        buf[k] = rng.choice([0, 0xFF, rng.randrange(256), buf[k] ^ (1 << rng.randrange(8))])
    return bytes(buf)


def _mutated_xlsx(source: Path, target: Path, rng: random.Random) -> None:
    # mutate the XML inside and re-zip, so the zip's checksums do not hide what the parsers see
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        victim = rng.choice([i.filename for i in zin.infolist() if i.filename.endswith(".xml")])
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(
                info.filename, _mutations(data, rng, rng.randint(1, 8)) if info.filename == victim else data
            )


def test_mutated_workbooks_fail_only_with_file_rejected(score_xlsx, tmp_path):
    rng = random.Random(20240305)
    xls = tmp_path / "source.xls"
    _write_xls_score_sheet(xls)
    paths = []
    for k in range(100):  # XML inside mutated, zip intact
        target = tmp_path / f"m{k:03d}.xlsx"
        _mutated_xlsx(score_xlsx, target, rng)
        paths.append(str(target))
    for k in range(100):  # the zip itself mutated (found: NotImplementedError from zipfile)
        target = tmp_path / f"z{k:03d}.xlsx"
        target.write_bytes(_mutations(score_xlsx.read_bytes(), rng, rng.randint(1, 24)))
        paths.append(str(target))
    for k in range(100):  # compound file and BIFF records mutated (found: DIMENSIONS aborts)
        target = tmp_path / f"m{k:03d}.xls"
        target.write_bytes(_mutations(xls.read_bytes(), rng, rng.randint(1, 16)))
        paths.append(str(target))
    outcomes = map_isolated(_read_outcome, paths, workers=2, timeout_s=60)
    errors = [(p, o.error) for p, o in zip(paths, outcomes, strict=False) if o.error_kind == "exception"]
    assert not errors, errors[:5]  # anything but FileRejected would be a bug in the checks
    summary: dict[str, int] = {}
    for o in outcomes:
        key = o.value if o.ok else o.error_kind
        summary[key] = summary.get(key, 0) + 1
    print(f"\n{len(paths)} mutated workbooks: {summary}")
