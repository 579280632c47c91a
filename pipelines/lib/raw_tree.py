"""The folders of data/raw as they are: each folder read by name, each name looked at (os.stat)
within its open folder, which tells files from folders at the same time. What the files are (kind,
year) is for pipelines/lib/ingest.py (`discover`); this module is small, so that a parse worker lists
folders without importing more (`listed_folders`).

A nation-scale year is some 120,000 files in five folders, and looking at each name is most of
listing them (0.48–0.78 s in one process): `walk` can leave the folders two levels down to other
processes (`listed_folders`), which list them while this one waits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from stat import S_ISDIR

# Folders this far below data/raw (a year's kinds) can be listed by another process (`walk`).
ELSEWHERE_DEPTH = 2


@dataclass
class Folder:
    """One folder's files: its path below data/raw (names), and its files' names, sizes and mtimes
    (names sorted). `elsewhere`: the folder, and what is below it, is left to another process (`walk`);
    `size` then tells how much it holds (the size its directory takes)."""

    parts: tuple[str, ...]
    names: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    mtimes: list[int] = field(default_factory=list)
    elsewhere: bool = False
    size: int = 0


def walk(root: str, leave_kinds: bool = False) -> list[Folder]:
    """Every folder under `root` (itself first), in order of folder, then name (a folder's files before
    its subfolders). Hidden files and folders, and folders reached through a link, are not looked at; a
    file removed while the folder is listed is not listed; a root that is no folder lists nothing
    (as the sensor expects before any data). `leave_kinds`: each folder ELSEWHERE_DEPTH below the root
    is left, with what is below it, to another process (`listed_folders`): a Folder marked
    `elsewhere` stands in its place."""
    return _walk_below(root, (), leave_kinds)


def listed_folders(job: tuple[str, list[tuple[str, ...]]]) -> list[list[Folder]]:
    """(root, folders below it) → each folder's listing with what is below it, as `walk` lists them: what
    another process does for `walk`'s caller. A folder that is gone, or is reached through a link,
    lists nothing."""
    root, wanted = job
    return [_walk_below(root, parts, False) for parts in wanted]


def _walk_below(root: str, parts: tuple[str, ...], leave_kinds: bool) -> list[Folder]:
    opened: list[int] = []
    try:
        try:
            opened.append(os.open(root, os.O_RDONLY | os.O_DIRECTORY))
            for name in parts:  # one by one, not through a link
                opened.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=opened[-1]))
        except OSError:  # no folder (yet), not one, or a link
            return []
        out: list[Folder] = []
        _visit(opened[-1], parts, out, leave_kinds)
        return out
    finally:
        for fd in opened:
            os.close(fd)


def _visit(fd: int, parts: tuple[str, ...], out: list[Folder], leave_kinds: bool) -> None:
    folder = Folder(parts)
    out.append(folder)
    below: list[tuple[str, int]] = []
    stat = os.stat
    names, sizes, mtimes = folder.names, folder.sizes, folder.mtimes
    for name in sorted(name for name in os.listdir(fd) if not name.startswith(".")):
        try:
            info = stat(name, dir_fd=fd)
        except FileNotFoundError:  # removed since the folder was read
            continue
        if S_ISDIR(info.st_mode):
            below.append((name, info.st_size))
            continue
        names.append(name)
        sizes.append(info.st_size)
        mtimes.append(info.st_mtime_ns)
    for name, size in below:
        inner_parts = (*parts, name)
        if leave_kinds and len(inner_parts) == ELSEWHERE_DEPTH:
            out.append(Folder(inner_parts, elsewhere=True, size=size))
            continue
        try:  # not through a link (O_NOFOLLOW), as os.walk does not follow one
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        except OSError:  # a link, removed, or not readable
            continue
        try:
            _visit(inner, inner_parts, out, leave_kinds)
        finally:
            os.close(inner)
