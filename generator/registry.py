"""The unit registry: the units of a city, province or nation, grouped as their registers list them.

City scale is Puyang (9 regions, 4 townships, 40 departments: 66 units); province and nation scale
are synthesized places of the sizes in SPEC §8. Independent of the years generated.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TypedDict

from generator.vocabulary import CITY, DEPARTMENTS, PLACE_SYLLABLES, PUYANG_REGIONS, PUYANG_TOWNSHIPS


@dataclass
class Unit:
    name: str
    role: str
    region: str  # 所属县区
    aliases: tuple[str, ...]
    city: str  # the city stem, e.g. 濮阳
    place: str  # what 被考核单位 may say instead of the name: the region or township
    words: dict[str, str]  # text pieces for meeting types/topics: CW 县委, RW 县, GW 县政府 …
    quality_key: str  # units of one region share its quality level
    doc_abbr: str  # 文号 prefix of its normative documents


class _Placed(TypedDict):
    """The Unit fields that the units of one region share."""

    region: str
    city: str
    place: str
    words: dict[str, str]
    quality_key: str


class _TownshipPlaced(_Placed):
    """The Unit fields that the two units of one township share."""

    doc_abbr: str


@dataclass
class Group:
    """Units whose filings and normative documents one register lists (a region, or ~10 departments)."""

    label: str
    units: list[Unit] = field(default_factory=list)


@dataclass
class Registry:
    groups: list[Group]
    regions: list[str]

    @property
    def units(self) -> list[Unit]:
        return [u for g in self.groups for u in g.units]


@dataclass(frozen=True)
class ScaleSpec:
    cities: int
    counties_per_city: tuple[int, int]
    zones_per_city: tuple[int, int]
    departments_per_city: tuple[int, int]
    townships_per_region: tuple[int, int]


SCALES = {  # SPEC §8: province ~150 regions / ~3,000 units; nation ~2,900 / ~45,000
    "province": ScaleSpec(15, (7, 10), (1, 2), (36, 44), (5, 9)),
    "nation": ScaleSpec(290, (7, 10), (1, 2), (36, 44), (3, 6)),
}


def _region_words(kind: str) -> dict[str, str]:
    if kind == "zone":
        return {"CW": "党工委", "RW": "区", "GW": "管委会"}
    suffix = {"county": "县", "district": "区", "city": "市"}[kind]
    return {"CW": f"{suffix}委", "RW": suffix, "GW": f"{suffix}政府"}


def _region_units(name: str, kind: str, city: str, city_scale: bool) -> list[Unit]:
    words = _region_words(kind)
    abbr = name[0] if kind != "zone" else name.replace(city, "")[0]
    if kind == "zone":
        short = (
            name.replace(city, "").replace("经济技术开发区", "开发区").replace("高新技术产业开发区", "高新区")
        )
        party_aliases = [f"{name}党工委", f"中共{name}工委"] + ([f"{short}党工委"] if city_scale else [])
        gov_aliases = [f"{name}管委会"] + ([f"{short}管委会"] if city_scale else [])
        party_name, gov_name = f"中共{name}工作委员会", f"{name}管理委员会"
    else:
        prefix = f"{city}市" if kind == "district" else ""
        party_name, gov_name = f"中共{prefix}{name}委员会", f"{prefix}{name}人民政府"
        party_aliases = [f"{name}委", f"中共{name}委"]
        gov_aliases = [f"{name}政府"] + ([f"{name}人民政府"] if prefix else [])
    common: _Placed = {
        "region": name,
        "city": city,
        "place": name,
        "words": words,
        "quality_key": f"region:{name}",
    }
    return [
        Unit(party_name, "party", aliases=tuple(party_aliases), doc_abbr=f"{abbr}委", **common),
        Unit(gov_name, "government", aliases=tuple(gov_aliases), doc_abbr=f"{abbr}政", **common),
    ]


def _township_units(region: str, town: str, city: str, city_scale: bool) -> list[Unit]:
    street = town.endswith("街道")
    tw = "街道" if street else town[-1]
    words = {"CW": f"{tw}党委" if not street else "街道党工委", "RW": tw, "GW": f"{tw}政府"}
    common: _TownshipPlaced = {
        "region": region,
        "city": city,
        "place": f"{region}{town}",
        "words": words,
        "quality_key": f"region:{region}",
        "doc_abbr": town[0],
    }
    if street:
        party = Unit(
            f"中共{region}{town}工作委员会",
            "township_party",
            aliases=(f"{region}{town}党工委",) + ((f"{town}党工委",) if city_scale else ()),
            **common,
        )
        gov = Unit(
            f"{region}{town}办事处",
            "township_government",
            aliases=(f"{region}{town}政府",) + ((f"{town}办事处",) if city_scale else ()),
            **common,
        )
    else:
        party = Unit(
            f"中共{region}{town}委员会",
            "township_party",
            aliases=(f"{region}{town}党委",) + ((f"{town}党委",) if city_scale else ()),
            **common,
        )
        gov = Unit(
            f"{region}{town}人民政府",
            "township_government",
            aliases=(f"{region}{town}政府",) + ((f"{town}政府", f"{town}人民政府") if city_scale else ()),
            **common,
        )
    return [party, gov]


def _department_units(city: str, entries: list[tuple[str, str, str]], city_scale: bool) -> list[Unit]:
    out = []
    for core, short, abbr in entries:
        aliases = [f"市{short}", short] if city_scale else []
        if short != core:
            aliases.append(f"{city}市{short}")
        out.append(
            Unit(
                f"{city}市{core}",
                "department",
                region="市直" if city_scale else f"{city}市直",
                aliases=tuple(dict.fromkeys(aliases)),
                city=city,
                place=f"{city}市{core}",
                words={"CW": "党组", "RW": "局", "GW": "局"},
                quality_key=f"dept:{city}市{core}",
                doc_abbr=f"{city[0]}{abbr}",
            )
        )
    return out


def _department_groups(city: str, units: list[Unit], city_scale: bool) -> list[Group]:
    size = 10
    prefix = "市直部门" if city_scale else f"{city}市直部门"
    return [Group(f"{prefix}第{i // size + 1}组", units[i : i + size]) for i in range(0, len(units), size)]


def build_registry(scale: str = "city", seed: int = 0) -> Registry:
    """The units of a city, province or nation: independent of the years generated."""
    groups: list[Group] = []
    if scale == "city":
        for name, kind in PUYANG_REGIONS:
            units = _region_units(name, kind, CITY, True)
            for region, town in PUYANG_TOWNSHIPS:
                if region == name:
                    units += _township_units(region, town, CITY, True)
            groups.append(Group(name, units))
        departments = _department_units(CITY, DEPARTMENTS[:40], True)
        groups += _department_groups(CITY, departments, True)
        return Registry(groups, [n for n, _ in PUYANG_REGIONS])
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: city, province or nation")
    spec = SCALES[scale]
    rng = random.Random(f"{seed}|registry|{scale}")
    stems = _unique_stems(rng, spec.cities * (spec.counties_per_city[1] + 1))
    regions: list[str] = []
    for _ in range(spec.cities):
        city = stems.pop()
        region_specs = []
        for _ in range(rng.randint(*spec.counties_per_city)):
            kind = rng.choices(("county", "district", "city"), (6, 3, 1))[0]
            stem = stems.pop()
            region_specs.append((stem + {"county": "县", "district": "区", "city": "市"}[kind], kind))
        zone_kinds = ["经济技术开发区", "高新技术产业开发区", "城乡一体化示范区"]
        for z in rng.sample(zone_kinds, rng.randint(*spec.zones_per_city)):
            region_specs.append((f"{city}{z}", "zone"))
        for name, kind in region_specs:
            units = _region_units(name, kind, city, False)
            towns = _township_names(rng, rng.randint(*spec.townships_per_region), kind)
            for town in towns:
                units += _township_units(name, town, city, False)
            groups.append(Group(name, units))
            regions.append(name)
        n_dept = rng.randint(*spec.departments_per_city)
        entries = DEPARTMENTS[:40] + rng.sample(DEPARTMENTS[40:], max(0, n_dept - 40))
        entries = rng.sample(entries, n_dept) if n_dept < 40 else entries
        groups += _department_groups(city, _department_units(city, entries, False), False)
    return Registry(groups, regions)


def _unique_stems(rng: random.Random, n: int) -> list[str]:
    pairs = [a + b for a in PLACE_SYLLABLES for b in PLACE_SYLLABLES if a != b]
    if n > len(pairs):
        raise ValueError("not enough place-name syllables for this scale")
    return rng.sample(pairs, n)


def _township_names(rng: random.Random, n: int, region_kind: str) -> list[str]:
    names: list[str] = []
    while len(names) < n:
        stem = rng.choice(PLACE_SYLLABLES) + rng.choice(PLACE_SYLLABLES)
        suffix = rng.choices(("镇", "乡", "街道"), (5, 3, 4 if region_kind == "district" else 1))[0]
        if stem[0] != stem[1] and not any(x.startswith(stem) for x in names):
            names.append(stem + suffix)
    return names
