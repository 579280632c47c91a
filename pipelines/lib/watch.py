"""What changed in data/raw since the last look, by content, for the new-file sensor (SPEC §6).

The cursor is what was seen — each file's size, mtime and content hash — never the wall clock: a file
copied in with an old modification time is as new as any other. A file is hashed again only when its
size or mtime differ from what the cursor remembers. A year needs a run when the set of contents in
it changed: the same bytes under a new name (a rename, a second copy) change nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.lib.ingest import discover
from pipelines.lib.parsing import file_sha256

CURSOR_VERSION = 1


@dataclass
class Scan:
    cursor: str  # what was seen now, for the next tick
    years: list[int]  # years whose content changed: each needs a run
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)  # "old → new": same bytes, no run
    signatures: dict[int, str] = field(default_factory=dict)  # year → digest of its contents

    def describe(self) -> str:
        parts = [
            f"{label} {len(items)} 个：{'、'.join(items[:5])}{' 等' if len(items) > 5 else ''}"
            for label, items in (
                ("新增", self.added),
                ("更改", self.changed),
                ("移除", self.removed),
                ("改名或复制", self.renamed),
            )
            if items
        ]
        return "；".join(parts) or "无变化"


def _load(cursor: str | None) -> dict[str, list]:
    if not cursor:
        return {}
    data = json.loads(cursor)
    return data.get("files", {}) if data.get("version") == CURSOR_VERSION else {}


def _signatures(files: dict[str, list], all_years: set[int]) -> dict[int, str]:
    """Per year, a digest of the (kind, content) pairs in it; the unit registry belongs to every year."""
    contents: dict[int, set[tuple]] = {y: set() for y in all_years}
    for _size, _mtime, sha, kind, year in files.values():
        for y in all_years if kind == "units" else [year] if year is not None else []:
            contents[y].add((kind, sha))
    return {y: hashlib.sha256(json.dumps(sorted(c)).encode()).hexdigest()[:16] for y, c in contents.items()}


def scan(raw_dir: Path, cursor: str | None) -> Scan:
    before = _load(cursor)
    now: dict[str, list] = {}
    for f in discover(raw_dir).to_pylist():
        if f["kind"] is None:  # lock files, unknown places: the run reports them, they hold no year's data
            continue
        path, size, mtime_ns = f["path"], f["size"], f["mtime_ns"]
        seen = before.get(path)
        if seen is not None and seen[0] == size and seen[1] == mtime_ns:
            sha = seen[2]
        else:
            sha = file_sha256(raw_dir / path)
        now[path] = [size, mtime_ns, sha, f["kind"], f["folder_year"]]
    years = {v[4] for v in (*before.values(), *now.values()) if v[4] is not None}
    old_sig, new_sig = _signatures(before, years), _signatures(now, years)
    new_shas = {v[2] for v in now.values()}
    result = Scan(
        cursor=json.dumps(
            {"version": CURSOR_VERSION, "files": now}, ensure_ascii=False, separators=(",", ":")
        ),
        years=sorted(y for y in years if old_sig[y] != new_sig[y]),
        signatures=new_sig,
    )
    old_by_sha: dict[str, str] = {}  # content → a path it was seen under
    for path, v in before.items():
        old_by_sha.setdefault(v[2], path)
    for path, v in sorted(now.items()):
        if path in before:
            if before[path][2] != v[2]:
                result.changed.append(path)
        elif v[2] in old_by_sha:
            result.renamed.append(f"{old_by_sha[v[2]]} → {path}")
        else:
            result.added.append(path)
    result.removed = sorted(p for p, v in before.items() if p not in now and v[2] not in new_shas)
    return result
