"""Unit names as offices write them, matched against the unit registry.

Offices write the same unit many ways: 中共清丰县委员会 / 中共清丰县委 / 清丰县委, 清丰县人民政府 /
清丰县政府, with full-width brackets and stray spaces. Names are compared after normalize_name; an
unknown name is an error that suggests the closest registry names, never a guess.
"""

from __future__ import annotations

import difflib
import hashlib
import heapq
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePosixPath

import numpy as np

from pipelines.lib.text import to_halfwidth

_NO_NAMES = np.zeros(0, dtype=np.int32)

_SPACES = re.compile(r"\s+")
# Order matters: the longer forms first, so 中国共产党…委员会 → …委 and 人民政府 → 政府.
_VARIANTS = (("中国共产党", ""), ("中共", ""), ("委员会", "委"), ("人民政府", "政府"), ("(", ""), (")", ""))


def normalize_name(text: str) -> str:
    s = _SPACES.sub("", to_halfwidth(text or ""))
    for old, new in _VARIANTS:
        s = s.replace(old, new)
    return s


# What a name minus its role word leaves: 清丰县委 / 清丰县政府 → 清丰县, so that a sheet naming only
# its region or township (被考核单位：清丰县) plus its role (责任人：…党委主要负责人) finds its unit.
_ROLE_SUFFIX = re.compile(r"(党工委|党委|工委|县委|区委|委|政府|管委会|办事处)$")


def base_name(normalized: str) -> str:
    return _ROLE_SUFFIX.sub(lambda m: m.group(1)[0] if m.group(1) in ("县委", "区委") else "", normalized)


def unit_id_for(unit_type: str, name: str) -> str:
    """A stable id: the same registry name and type always give the same id, across runs and years."""
    return "U" + hashlib.sha1(f"{unit_type}|{normalize_name(name)}".encode()).hexdigest()[:10]


@dataclass(frozen=True)
class Unit:
    unit_id: str
    name: str
    unit_type: str  # 党委 / 政府 / 部门 / 乡镇党委 / 乡镇政府
    role: str
    region: str
    aliases: tuple[str, ...] = ()


@dataclass
class Resolution:
    unit: Unit | None
    problem: str | None = None  # "unknown" | "ambiguous"
    # What the message names: the units an ambiguous name could be, or the registered names closest to an
    # unknown one. Looked for only when read: most names that name no unit (parts of file names, issues
    # whose message is already written) are never shown, and at nation scale the search costs minutes.
    names: Callable[[], list[str]] = field(default=list, repr=False)

    @cached_property
    def suggestions(self) -> list[str]:
        return self.names()

    def message(self, text: str) -> str:
        """The Chinese message a clerk forwards when a name could not be matched."""
        if self.problem == "ambiguous":
            return f"单位名称“{text}”对应多个登记单位（{'、'.join(self.suggestions)}），请写明全称。"
        hint = f"最接近的登记名称：{'、'.join(self.suggestions)}。" if self.suggestions else ""
        return f"单位名称“{text}”不在单位名册中。{hint}请核对名称，或先在单位名册（units）中登记。"


_NAME_PARTS = re.compile(r"[_\-\s()（）]+")  # how offices join a file name's parts


def name_keys(unit: Unit) -> tuple[list[str], list[str]]:
    """What a unit's names are compared by: its name and aliases normalized, and their base names
    (`base_name`), each once, in order of first appearance."""
    keys = [k for k in dict.fromkeys(normalize_name(name) for name in (unit.name, *unit.aliases)) if k]
    return keys, [b for b in dict.fromkeys(base_name(k) for k in keys) if b]


class UnitRegistry:
    def __init__(self, units: list[Unit], keys: list[tuple[list[str], list[str]]] | None = None):
        """`keys`: each unit's `name_keys`, as staging stored them with the registry; made here when not
        given (normalizing a nation's 45,000 units and their aliases takes most of a registry's making)."""
        self.units = units
        self.by_id = {u.unit_id: u for u in units}
        self._by_key: dict[str, list[Unit]] = {}
        if keys is None:
            keys = [name_keys(u) for u in units]
        self._unit_keys = keys
        for u, (names, _bases) in zip(units, keys, strict=True):
            for key in names:
                self._by_key.setdefault(key, []).append(u)
        self._cache: dict[tuple[str, str | None], Resolution] = {}
        self._by_char: dict[str, np.ndarray] | None = None
        self._suggested: dict[tuple[str, int], list[str]] = {}

    def resolve(self, text: str, role: str | None = None) -> Resolution:
        cache_key = (text, role)
        hit = self._cache.get(cache_key)
        if hit is None:
            hit = self._cache[cache_key] = self._resolve(text, role)
        return hit

    def _resolve(self, text: str, role: str | None) -> Resolution:
        key = normalize_name(text)
        candidates = self._by_key.get(key, [])
        if role is not None:
            candidates = [u for u in candidates if u.role == role]
        if not candidates and role is not None:
            # A score sheet names its region or township (被考核单位：清丰县) and its role on the 责任人 line.
            candidates = self._by_base_role.get((base_name(key), role), [])
        if len(candidates) == 1:
            return Resolution(candidates[0])
        if len(candidates) > 1:
            return Resolution(None, "ambiguous", lambda: sorted(u.name for u in candidates))
        return Resolution(None, "unknown", lambda: self.suggest(key))

    # Made when first asked for: a ledger's names never need them, and a nation's 45,000 units took a
    # third of the registry's making for them.
    @cached_property
    def _by_base_role(self) -> dict[tuple[str, str], list[Unit]]:
        by_base_role: dict[tuple[str, str], list[Unit]] = {}
        for u, (_names, bases) in zip(self.units, self._unit_keys, strict=True):
            for key in bases:
                if u not in by_base_role.setdefault((key, u.role), []):
                    by_base_role[(key, u.role)].append(u)
        return by_base_role

    @cached_property
    def _keys(self) -> list[str]:
        return sorted(self._by_key)

    def in_file_name(self, path: str, role: str | None = None) -> Unit | None:
        """The first registered unit a part of the file name names (清丰县委_2024_打分表.xlsx → 清丰县委): what
        a file that does not say its unit inside is taken to be about."""
        for part in _NAME_PARTS.split(PurePosixPath(path).stem):
            found = self.resolve(part, role) if part else None
            if found is not None and found.unit is not None:
                return found.unit
        return None

    def suggest(self, key: str, n: int = 3) -> list[str]:
        # kinds staged side by side share a registry, and their files name the same unknown units
        if (key, n) not in self._suggested:
            self._suggested[(key, n)] = self._suggest(key, n)
        return list(self._suggested[(key, n)])

    def _suggest(self, key: str, n: int) -> list[str]:
        # Compare closely only with the names sharing most characters: a registry may hold 100,000.
        if self._by_char is None:
            by_char: dict[str, list[int]] = {}  # made whole before it is seen: threads share a registry
            for i, k in enumerate(self._keys):
                for ch in set(k):
                    by_char.setdefault(ch, []).append(i)
            self._by_char = {ch: np.array(names, dtype=np.int32) for ch, names in by_char.items()}
        # Characters in most names (县, 局, 人民…) tell nothing and would make this count the whole registry.
        lists = [self._by_char.get(ch, _NO_NAMES) for ch in sorted(set(key))]
        telling = [names for names in lists if len(names) <= max(50, len(self._keys) // 20)]
        shared = np.bincount(np.concatenate(telling or lists or [_NO_NAMES]), minlength=len(self._keys))
        # The 200 sharing most, ties broken by name (the keys are sorted: by position), as counting each
        # name in a Counter did, in a fraction of its time (at nation scale, a second of staging).
        found = np.flatnonzero(shared)
        pool = [self._keys[i] for i in found[np.lexsort((found, -shared[found]))][:200]]
        close = close_matches(key, pool, n=n, cutoff=0.5)
        names: list[str] = []
        for k in close:
            for u in self._by_key[k]:
                if u.name not in names:
                    names.append(u.name)
        return names[:n]


def close_matches(word: str, possibilities: list[str], n: int, cutoff: float) -> list[str]:
    """difflib.get_close_matches, the same list: the best `n` by (ratio, string) of those reaching
    `cutoff`. A ratio never exceeds its quick_ratio, so once the candidates taken by falling quick_ratio
    cannot beat the n-th best ratio found, the rest are not compared closely (most of the cost)."""
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(word)
    bounds = []
    for x in possibilities:
        matcher.set_seq1(x)
        if matcher.real_quick_ratio() >= cutoff and (bound := matcher.quick_ratio()) >= cutoff:
            bounds.append((bound, x))
    bounds.sort(key=lambda item: -item[0])  # stable: ties keep the order given
    found: list[tuple[float, str]] = []
    for bound, x in bounds:
        if len(found) >= n and bound < min(found)[0]:
            break
        matcher.set_seq1(x)
        if (ratio := matcher.ratio()) >= cutoff:
            found = heapq.nlargest(n, [*found, (ratio, x)])
    return [x for _, x in heapq.nlargest(n, found)]
