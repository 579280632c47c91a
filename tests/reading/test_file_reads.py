"""How the readers read a file (real files): a file's content hash, the parse cache's key, is SHA-256
of every byte of it whatever its size against the blocks it is read in; and no read asks the OS for
much more than the file holds (os.read allocates all it is asked for)."""

from __future__ import annotations

import hashlib
import os
from pathlib import PurePosixPath

import openpyxl
import pytest

from pipelines.lib.excel import READ_BLOCK
from pipelines.lib.ledgers import _suffix, parse_meetings
from pipelines.lib.parsing import file_sha256


@pytest.mark.parametrize("size", [0, 1, READ_BLOCK - 1, READ_BLOCK, READ_BLOCK + 1, 3 * READ_BLOCK + 7])
def test_a_file_s_hash_is_the_sha256_of_all_its_bytes(tmp_path, size):
    data = os.urandom(size)
    path = tmp_path / "报送.xlsx"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_a_file_that_cannot_be_read_raises_and_leaves_no_descriptor_open(tmp_path):
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(IsADirectoryError):
        file_sha256(tmp_path)
    with pytest.raises(FileNotFoundError):
        file_sha256(tmp_path / "gone.csv")
    assert len(os.listdir("/proc/self/fd")) == before


ROWS = [["日期", "会议类型", "主题", "单位"], *[["2024-03-05", "常务会", "法治政府建设", "南乐县政府"]] * 30]


def _ledger(tmp_path, suffix: str):
    path = tmp_path / f"学法会议记录{suffix}"
    if suffix == ".csv":
        path.write_text("\n".join(",".join(row) for row in ROWS), encoding="utf-8")
    else:
        book = openpyxl.Workbook()
        for row in ROWS:
            book.active.append(row)
        book.save(path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_ledger_is_read_asking_the_os_for_little_more_than_it_holds(tmp_path, monkeypatch, suffix):
    """Asking for "the rest, up to the size limit" at the end of every file allocated the limit: 256 MB
    for each CSV ledger, which the parse workers' bounded address space refused (every ledger of a
    nation's year failed to parse), and 20 MB for each workbook."""
    path = _ledger(tmp_path, suffix)
    asked: list[int] = []
    read = os.read

    def spied(fd: int, n: int) -> bytes:
        asked.append(n)
        return read(fd, n)

    monkeypatch.setattr(os, "read", spied)
    assert len(parse_meetings(path).records) == 30
    assert asked and max(asked) <= max(path.stat().st_size + 1, READ_BLOCK)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_ledger_is_opened_once_whether_its_path_is_text_or_a_path(tmp_path, monkeypatch, suffix):
    """The bytes that tell what a ledger is are the bytes parsed: a workbook was opened and read a
    second time by the workbook reader."""
    path = _ledger(tmp_path, suffix)
    opened: list[str] = []
    real_open = os.open

    def spied(file, *args, **kwargs):
        opened.append(os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", spied)
    as_path, as_text = parse_meetings(path), parse_meetings(str(path))
    assert opened == [str(path), str(path)]
    assert as_path.records == as_text.records and len(as_text.records) == 30


@pytest.mark.parametrize(
    "name",
    ["会议.csv", "会议.CSV", "会议.xlsx", ".csv", "会议.", "会议", "会议..csv", "a.tar.gz", "目录.x/会议"],
)
def test_a_ledger_s_suffix_is_the_one_a_path_tells(name):
    assert _suffix(f"/raw/2024/meetings/{name}") == PurePosixPath("/raw/2024/meetings", name).suffix.lower()
