"""Every real spreadsheet in ../shared/wild-workbooks/files (384 files other projects keep as test
data) gets one clear Chinese outcome through the parsers the pipeline runs, and nothing from it loads.

The files are used where they are (never copied into the project). Each goes through
`parsing.parse_one` in isolated worker processes, as the pipeline parses: as a score sheet (every
file that is not .csv/.tsv) and as a meeting ledger (every file), so a hostile file that slipped
past the checks would show up as a crash here instead of taking the test run down.

What each file really is comes from the tables below (grouped by class, with the reason) and is
cross-checked against the file's bytes, so a table entry cannot claim a class the bytes deny.
"""

from __future__ import annotations

import re
import struct
import zipfile
from pathlib import Path

import pytest

from pipelines.lib.excel import read_workbook
from pipelines.lib.isolation import map_isolated
from pipelines.lib.parsing import parse_one

WILD = Path(__file__).resolve().parents[2].parent / "shared" / "wild-workbooks" / "files"
TEXT_SUFFIXES = {".csv", ".tsv"}

# ---------------------------------------------------------------------------------------------
# What a message may contain: Chinese, and what a clerk can forward. No reader internals.

# the unit's own words (sheet names, cell values, labels) are quoted in 「」 or “”: not ours to judge
_QUOTED = re.compile(r"「[^」]*」|“[^”]*”")
_ASCII_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# product, format and encoding names a clerk knows or can look up
_ALLOWED_WORDS = {
    "Excel",
    "WPS",
    "LibreOffice",
    "Numbers",
    "OpenDocument",
    "Lotus",
    "Word",
    "PowerPoint",
    "Publisher",
    "Works",
    "PDF",
    "RTF",
    "HTML",
    "MHT",
    "XML",
    "ZIP",
    "RAR",
    "gz",
    "CSV",
    "TXT",
    "BOM",
    "NUL",
    "MB",
    "xlsx",
    "xls",
    "xlsb",
    "ods",
    "odt",
    "odp",
    "csv",
    "docx",
    "doc",
    "pptx",
    "ppt",
    "wk1",
    "wk3",
    "wk4",
    "UTF",
    "GBK",
    "GB18030",
    "Big5",
    "Shift",
    "JIS",
    "EUC",
    "KR",
    "JP",
    "ISO",
    "Latin",
    "Windows",
    "x",
}
_INTERNALS = re.compile(
    r"error|exception|calamine|traceback|panic|python|errno|zip:|ole2?\b|biff|cfb|sector|fat\b|difat|"
    r"stream|record|dimension|entity|doctype|uniquecount|worksheetnotfound|\bsst\b|xl/|\.xml|\.rels|"
    r"0x[0-9a-f]|\\x|b'|none\b|读取器",
    re.IGNORECASE,
)


def assert_clean_message(message: str) -> None:
    """A message a clerk can forward: Chinese, says what to do, no reader internals or reprs."""
    assert message and re.search(r"[\u4e00-\u9fff]", message), f"not Chinese: {message!r}"
    assert "请" in message, f"says nothing to do: {message!r}"
    ours = _QUOTED.sub("", message)
    assert not _INTERNALS.search(ours), f"reader internals: {message!r}"
    foreign = {w for w in _ASCII_WORD.findall(ours) if w not in _ALLOWED_WORDS}
    assert not foreign, f"English words {sorted(foreign)} in {message!r}"


def test_clean_message_helper_catches_what_it_must():
    assert_clean_message("文件设置了打开密码（已加密），系统无法读取。请用 Excel 或 WPS 打开后另存为 .xlsx。")
    assert_clean_message("未在任何工作表（「Error Sheet」、「Tabelle1」）中找到表头。请按模板填写。")
    for bad in (
        "文件已损坏，请重新报送。（读取器信息：CalamineError: Cannot detect file format）",
        "文件已损坏，请重新报送。OLE2: header counts exceed the file",
        "文件已损坏，请重新报送。zip: Bad magic number for file header",
        "文件无法读取：ValueError('x')。请检查。",
        "文件无法读取：Permission denied。请检查。",
        "File is encrypted",
        "文件已损坏。",
    ):
        with pytest.raises(AssertionError):
            assert_clean_message(bad)


# ---------------------------------------------------------------------------------------------
# What each file really is. Every file not named here is a workbook or text table that reads fine
# and is simply not a score sheet or a ledger: header_not_found.

ENCRYPTED = {  # a password the unit set: Office encryption (OLE2 EncryptedPackage), BIFF FILEPASS, ODS
    "calamine__pass_protected.ods",
    "calamine__pass_protected.xlsb",
    "calamine__pass_protected.xlsx",
    "excelize__encryptAES.xlsx",
    "excelize__encryptSHA1.xlsx",
    "excelize__encryptSHA512.xlsx",
    "poi__35897-type4.xls",
    "poi__51832.xls",
    "poi__crash-9bf3cd4bd6f50a8a9339d363c2c7af14b536865c.xlsx",
    "poi__password.xls",
    "poi__protected_passtika.xlsb",
    "poi__protected_passtika.xlsx",
    "poi__xor-encryption-abc.xls",
    "pycalamine__password.xls",
    "pycalamine__password.xlsx",
    "roo__encrypted-letmein.ods",
    "sheetjs__biff5__password_2002_40_xor.xls",
    "sheetjs__password_2002_128_strong.xls",
    "sheetjs__password_2002_40_972000.xls",
    "sheetjs__password_2002_40_basecrypto.xls",
    "sheetjs__password_2002_40_xor.xls",
}
DEFAULT_KEY = {  # encrypted with Excel's built-in key (VelvetSweatshop): Excel opens it without asking
    "messytables__encrypted_no_password.xls",
}
OLD_EXCEL = {  # bare BIFF2-4 streams (Excel 2.x-4.0), and a Quattro Pro BIFF5 file calamine cannot list
    "poi__testEXCEL_3.xls",
    "poi__testEXCEL_4.xls",
    "sheetjs__crlf__CRLFR9_4.XLS",
    "sheetjs__crlf__CRLFX5_2.XLS",
    "sheetjs__crlf__CRLFX5_3.XLS",
    "sheetjs__crlf__CRLFX5_4.XLS",
    "xlrd__biff4_no_format_no_window2.xls",
    "sheetjs__artifacts__quattro__write_57.xls",
}
NOT_A_WORKBOOK = {  # a text file named .xls, and an empty zip named .xlsx
    "calamine__too_small.xls",
    "openpyxl__tests__data__reader__null_archive.xlsx",
}
CORRUPT = {  # fuzzed or truncated files and packages missing their parts
    "calamine__OOM_alloc2.xls",
    "calamine__OOM_alloc3.xls",
    "libxls__xls2csv_ole_ole2_fread_327.xls",
    "libxls__xls2csv_ole_read_MSAT_772.xls",
    "libxls__xls2csv_ole_read_MSAT_body_637.xls",
    "libxls__xls2csv_ole_read_MSAT_body_687.xls",
    "poi__clusterfuzz-testcase-minimized-POIFuzzer-5040805309710336.xlsx",
    "poi__clusterfuzz-testcase-minimized-POIHSSFFuzzer-4819588401201152.xls",
    "poi__clusterfuzz-testcase-minimized-POIHSSFFuzzer-6537773940867072.xls",
    "poi__clusterfuzz-testcase-minimized-POIXSSFFuzzer-6123461607817216.xlsx",
    "poi__clusterfuzz-testcase-minimized-XLSX2CSVFuzzer-5636439151607808.xlsx",
    "poi__clusterfuzz-testcase-minimized-XLSX2CSVFuzzer-6594557414080512.xlsx",
    "poi__crash-274d6342e4842d61be0fb48eaadad6208ae767ae.xlsx",
    "poi__poc-shared-strings.xlsx",
    "poi__xlsx-corrupted.xlsx",
    "tealeg__badfile_noWorkbookRels.xlsx",
    "tealeg__badfile_noWorksheets.xlsx",
}
ENTITY_BOMBS = {"poi__poc-xmlbomb-empty.xlsx", "poi__poc-xmlbomb.xlsx"}  # billion laughs in sharedStrings
OTHER_ENCODING = {  # text tables in an encoding that is not read (or that decodes as GB18030 into nonsense)
    "chardet__Big5___ude_1.txt.csv",
    "chardet__CP932__www2.chuo-u.ac.jp-suishin.xml.csv",
    "chardet__EUC-KR___ude_euc2.txt.csv",
    "chardet__EUC-TW___ude_euc-tw1.txt.csv",
    "chardet__SHIFT_JIS___ude_2.txt.csv",
    "chardet__UTF-16LE__nobom-utf16le.txt.csv",
    "chardet__UTF-32__bom-utf-32-le.srt.csv",
    "chardet__iso-2022-jp___ude_1.txt.csv",
    "chardet__iso-8859-1___ude_1.txt.csv",
    "chardet__windows-1252___ude_1.txt.csv",
    "csvkit__test_latin1.csv",
    "messytables__211.csv",
    "messytables__characters.csv",
    "messytables__spanish_chars.csv",
    "messytables__sparse_with_column_errors.csv",
}
# named in the manifest after an encoding, read fine: GB2312 is GBK's subset; UTF-16 with a BOM is
# Excel's "Unicode text"; roo's "iso_8859_1" file is in fact UTF-8
READABLE_TEXT = {
    "chardet__GB2312___mozilla_bug171813_text.html.csv",
    "chardet__UTF-16__bom-utf-16-be.srt.csv",
    "chardet__UTF-16__bom-utf-16-le.srt.csv",
    "csvkit__test_utf16_big.csv",
    "csvkit__test_utf16_little.csv",
    "messytables__utf-16le_encoded.csv",
    "roo__iso_8859_1.csv",
    "csvkit__null_byte.csv",
}
# workbooks Excel and LibreOffice open that calamine alone cannot, read after repair: (sheet, rows, cols)
READ_AFTER_REPAIR = {
    "sheetjs__BlankSheetTypes.xlsm": [("Sheet1", 0, 0)],  # Excel 4 macro sheet, chart and dialog sheets
    "poi__xlmmacro.xlsm": [("Sheet1", 0, 0), ("Sheet2", 0, 0)],  # an Excel 4 macro sheet first
    "roo__Pfand_from_windows_phone.xlsx": [
        ("Blatt1", 7, 5),
        ("Blatt2", 0, 0),
        ("Blatt3", 0, 0),
    ],  # UTF-16 XML
    "roo__Pfand_from_windows_phone.xlsm": [("Blatt1", 7, 5), ("Blatt2", 0, 0), ("Blatt3", 0, 0)],
}


def expected_code(path: Path) -> str:
    name = path.name
    if path.stat().st_size == 0:
        return "empty_file"
    for names, code in (
        (ENCRYPTED | DEFAULT_KEY, "encrypted"),
        (OLD_EXCEL, "old_excel_format"),
        (NOT_A_WORKBOOK, "not_a_workbook"),
        (CORRUPT, "unreadable_workbook"),
        (ENTITY_BOMBS, "xml_entities"),
        (OTHER_ENCODING, "unknown_encoding"),
    ):
        if name in names:
            return code
    # another program's format, whatever the name says: OpenDocument (roo__type_openoffice.xlsx is
    # one) and Excel's binary .xlsb; roo__type_excelx.ods is an .xlsx and reads as one
    parts = _zip_names(path)
    if "mimetype" in parts or any(n.endswith("workbook.bin") for n in parts):
        return "unsupported_format"
    return "header_not_found"


# ---------------------------------------------------------------------------------------------
# The bytes agree with the tables


def _biff_has_filepass(data: bytes) -> bool:
    """A FILEPASS record (0x002F) right after the first BOF of the workbook stream, as Excel writes it."""
    for bof in (b"\x09\x08\x10\x00\x00\x06", b"\x09\x08\x08\x00\x00\x05"):
        pos = data.find(bof)
        while pos != -1:
            p = pos
            for _ in range(40):  # the globals substream: FILEPASS comes among the first records
                if p + 4 > len(data):
                    break
                rtype, rlen = struct.unpack_from("<HH", data, p)
                if rtype == 0x002F:
                    return True
                p += 4 + rlen
            pos = data.find(bof, pos + 1)
    return False


def _zip_names(path: Path) -> set[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            return set(zf.namelist())
    except zipfile.BadZipFile:
        return set()


def test_tables_agree_with_the_bytes():
    if not WILD.is_dir():
        pytest.skip(f"{WILD} is absent: the real-world spreadsheets are kept outside the project")
    files = {p.name: p for p in WILD.iterdir()}
    named = (
        ENCRYPTED
        | DEFAULT_KEY
        | OLD_EXCEL
        | NOT_A_WORKBOOK
        | CORRUPT
        | ENTITY_BOMBS
        | OTHER_ENCODING
        | READABLE_TEXT
        | set(READ_AFTER_REPAIR)
    )
    assert named <= set(files), sorted(named - set(files))
    for name in ENCRYPTED | DEFAULT_KEY:
        data = files[name].read_bytes()
        office = data.startswith(b"\xd0\xcf\x11\xe0") and "EncryptedPackage".encode("utf-16-le") in data
        ods = b"encryption-data" in (
            zipfile.ZipFile(files[name]).read("META-INF/manifest.xml")
            if "META-INF/manifest.xml" in _zip_names(files[name])
            else b""
        )
        assert office or ods or _biff_has_filepass(data), name
    for name in OLD_EXCEL:
        data = files[name].read_bytes()
        bare = struct.unpack_from("<H", data)[0] in (0x0009, 0x0209, 0x0409)
        biff5 = data.startswith(b"\xd0\xcf\x11\xe0") and b"\x09\x08\x08\x00\x00\x05" in data
        assert bare or biff5, name
    for name in OTHER_ENCODING:
        data = files[name].read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        assert "\x1b$" in text or text.count("\x00") > len(text) // 4, name  # ISO-2022 or UTF-16/32
    for path in files.values():  # every .ods and .xlsb is what its name says unless the tables say otherwise
        suffix, parts = path.suffix.lower(), _zip_names(path)
        if suffix == ".ods" and path.stat().st_size and path.name not in ENCRYPTED:
            assert "mimetype" in parts or "xl/workbook.xml" in parts, path.name
        if suffix == ".xlsb" and path.stat().st_size and path.name not in ENCRYPTED:
            assert any(n.endswith("workbook.bin") for n in parts), path.name


# ---------------------------------------------------------------------------------------------
# The whole folder through the pipeline's parsers


@pytest.fixture(scope="module")
def outcomes() -> dict[tuple[str, str], object]:
    if not WILD.is_dir():
        pytest.skip(f"{WILD} is absent: the real-world spreadsheets are kept outside the project")
    files = sorted(WILD.iterdir())
    jobs = [(str(p), "score_sheet") for p in files if p.suffix.lower() not in TEXT_SUFFIXES]
    jobs += [(str(p), "meetings") for p in files]
    results = map_isolated(parse_one, jobs, workers=2, timeout_s=60)
    return {(Path(path).name, kind): outcome for (path, kind), outcome in zip(jobs, results, strict=False)}


def test_every_file_gets_one_clean_chinese_outcome_and_nothing_loads(outcomes):
    files = {p.name: p for p in WILD.iterdir()}
    assert len(files) == 384
    assert {name for name, _ in outcomes} == set(files)
    wrong, counts = [], {}
    for (name, kind), outcome in sorted(outcomes.items()):
        assert outcome.ok, (name, kind, outcome.error_kind, outcome.error)  # no crash, timeout, exception
        parsed = outcome.value
        assert parsed.kind == kind
        assert parsed.file_error is not None, (name, kind, parsed.meta)  # none is a score sheet or a ledger
        assert not parsed.records and parsed.rows_read == 0, (name, kind)
        assert_clean_message(parsed.file_error.message)
        expected = expected_code(files[name])
        if parsed.file_error.code != expected:
            wrong.append((name, kind, expected, parsed.file_error.code, parsed.file_error.message))
        counts[parsed.file_error.code] = counts.get(parsed.file_error.code, 0) + (kind == "meetings")
    assert not wrong, "\n".join(map(str, wrong))
    print("\noutcomes of the 384 files (as a meeting ledger):", dict(sorted(counts.items())))


def test_a_file_has_the_same_outcome_whichever_parser_reads_it(outcomes):
    for (name, kind), outcome in outcomes.items():
        if kind == "score_sheet":
            ledger = outcomes[(name, "meetings")].value.file_error
            assert outcome.value.file_error.code == ledger.code, name


_SAYS = {  # what each class of message tells the unit (what the file is, what to do)
    "encrypted": ("加密", "另存为"),
    "old_excel_format": ("旧版 Excel 格式", "另存为"),
    "unsupported_format": ("格式", "另存为"),
    "not_a_workbook": ("不是", "另存为"),
    "unreadable_workbook": ("损坏", "另存为"),
    "xml_entities": ("安全原因", "另存为"),
    "unknown_encoding": ("编码", "CSV UTF-8"),
    "header_not_found": ("找", "请"),  # 未找到……表头 / 找不到打分表
    "empty_file": ("空", "请"),
}


def test_messages_say_what_the_file_is_and_what_to_do(outcomes):
    for (name, kind), outcome in outcomes.items():
        error = outcome.value.file_error
        for phrase in _SAYS[error.code]:
            assert phrase in error.message, (name, kind, error.message)
        if name in ENCRYPTED:
            assert "密码" in error.message and "默认" not in error.message, name
        if name in DEFAULT_KEY:
            # no password was ever set: the message must not ask to remove one
            assert "默认" in error.message and "取消密码" not in error.message, error.message
            assert "撤消保护" in error.message
        if name.endswith(".ods") and error.code == "unsupported_format":
            assert "OpenDocument" in error.message
        if name.endswith(".xlsb") and error.code == "unsupported_format":
            assert "二进制" in error.message


def test_files_in_another_encoding_are_named(outcomes):
    said = {name: outcomes[(name, "meetings")].value.file_error.message for name in OTHER_ENCODING}
    assert "Big5" in said["chardet__Big5___ude_1.txt.csv"] and "Big5" in said["messytables__characters.csv"]
    assert "Shift-JIS" in said["chardet__SHIFT_JIS___ude_2.txt.csv"]
    assert "Shift-JIS" in said["chardet__CP932__www2.chuo-u.ac.jp-suishin.xml.csv"]
    assert "EUC-KR" in said["chardet__EUC-KR___ude_euc2.txt.csv"]
    assert "UTF-16" in said["chardet__UTF-16LE__nobom-utf16le.txt.csv"]
    assert "Latin-1" in said["chardet__windows-1252___ude_1.txt.csv"]
    for name in READABLE_TEXT:  # what decodes right is judged by its header, not its encoding
        assert outcomes[(name, "meetings")].value.file_error.code == "header_not_found", name


def test_readable_workbooks_that_are_no_score_sheet_say_so_by_sheet(outcomes):
    readable = [
        name
        for (name, kind), o in outcomes.items()
        if kind == "score_sheet" and o.value.file_error.code == "header_not_found"
    ]
    assert len(readable) >= 240
    for name in readable:
        message = outcomes[(name, "score_sheet")].value.file_error.message
        assert ("打分表表头" in message and "「" in message) or "没有可读取的工作表" in message, message
    message = outcomes[("roo__Pfand_from_windows_phone.xlsx", "score_sheet")].value.file_error.message
    assert "「Blatt1」、「Blatt2」、「Blatt3」" in message


def _shape(sheets) -> list[tuple[str, int, int]]:
    return [(s.name, len(s.rows), max((len(r) for r in s.rows), default=0)) for s in sheets]


def test_workbooks_excel_opens_are_read():
    if not WILD.is_dir():
        pytest.skip(f"{WILD} is absent: the real-world spreadsheets are kept outside the project")
    for name, shape in READ_AFTER_REPAIR.items():
        assert _shape(read_workbook(WILD / name)) == shape, name
    pfand = read_workbook(WILD / "roo__Pfand_from_windows_phone.xlsx")[0].rows
    assert pfand[0][1] == "Summe" and pfand[1][1] == 3.81


def test_sheet_size_is_its_data_not_its_styling():
    """CVLKRA's sheet "Company Type" is 23 rows x 3 columns of data with styled empty cells to
    column XFD (and <dimension ref="A1:XFD23">): it is read at its real size, not refused."""
    if not WILD.is_dir():
        pytest.skip(f"{WILD} is absent: the real-world spreadsheets are kept outside the project")
    path = WILD / "poi__CVLKRA-KYC_Download_File_Structure_V3.1.xlsx"
    with zipfile.ZipFile(path) as zf:
        xml = zf.read("xl/worksheets/sheet15.xml")
    assert b'<dimension ref="A1:XFD23"/>' in xml and b'<c r="XFD19" s="33"/>' in xml
    sheets = {s.name: s for s in read_workbook(path)}
    assert len(sheets) == 30
    company = sheets["Company Type"]
    assert (len(company.rows), {len(r) for r in company.rows}) == (23, {3})
    assert company.rows[0] == ["Code", "Description", "Company Type"]


def test_the_whole_folder_dropped_into_data_raw_is_explained_file_by_file(tmp_path):
    """The pipeline's own path: each real-world file, placed (linked, not copied) among a year's score
    sheets and among its meeting ledgers, is one rejected submission with a clean error, and the run
    goes on and publishes."""
    from builders import city_units, write_units
    from conftest import run_fazhi

    if not WILD.is_dir():
        pytest.skip(f"{WILD} is absent: the real-world spreadsheets are kept outside the project")
    files = sorted(WILD.iterdir())
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县"]))
    for folder in ("score_sheets", "meetings"):
        target = raw / "2024" / folder
        target.mkdir(parents=True)
        for path in files:
            (target / path.name).symlink_to(path)
    wh = run_fazhi(raw, tmp_path / "fazhi.duckdb", [2024])
    submissions = wh.df("select file, status, rows_loaded from marts.submissions where year = 2024")
    assert len(submissions) == 2 * len(files)
    assert set(submissions["status"]) == {"rejected"} and submissions["rows_loaded"].sum() == 0
    errors = wh.df("""select file, message from marts.ingest_issues
                      where year = 2024 and severity = 'error' and "row" is null""")
    assert set(errors["file"]) == set(submissions["file"])
    for message in errors["message"].unique():
        assert_clean_message(message)
    assert wh.one("select count(*) from marts.task_scores where year = 2024") == (0,)
    assert wh.one("select count(*) from marts.meetings where year = 2024") == (0,)
