"""A file's content hash, the parse cache's key (pipelines/lib/parsing.py): SHA-256 of every byte of
the file, whatever its size against the blocks it is read in (real files)."""

from __future__ import annotations

import hashlib
import os

import pytest

from pipelines.lib.parsing import HASH_BLOCK, file_sha256


@pytest.mark.parametrize("size", [0, 1, HASH_BLOCK - 1, HASH_BLOCK, HASH_BLOCK + 1, 3 * HASH_BLOCK + 7])
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
