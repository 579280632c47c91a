"""The sidebar filters every page honours: year, region, role and level.

Role (党委/政府/部门) and level (县区/市直部门/乡镇) are two views of the marts' `role` column; a page
receives the roles both allow. Widget values live in session state, so they survive page switches.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass

import streamlit as st

from dashboards import data
from dashboards.i18n import t

LEVEL_ROLES = {
    "region": ("party", "government"),
    "department": ("department",),
    "township": ("township_party", "township_government"),
}
SIDE_ROLES = {
    "party": ("party", "township_party"),
    "government": ("government", "township_government"),
    "department": ("department",),
}


@dataclass(frozen=True)
class Filters:
    year: int
    regions: tuple[str, ...]  # empty: every region
    roles: tuple[str, ...]    # the roles the level and role choices both allow (may be empty)

    @property
    def params(self) -> dict:
        """Named parameters for the SQL clauses below."""
        return {"year": self.year, "regions": list(self.regions), "roles": list(self.roles)}

    def where(self, alias: str = "", region: bool = True, role: bool = True) -> str:
        """`year = $year and …` on a table with year, region and role columns."""
        p = f"{alias}." if alias else ""
        parts = [f"{p}year = $year"]
        if region:
            parts.append(f"(len($regions) = 0 or list_contains($regions, {p}region))")
        if role:
            parts.append(f"list_contains($roles, {p}role)")
        return " and ".join(parts)


def roles_for(level: str | None, side: str | None) -> tuple[str, ...]:
    allowed = set(data.ALL_ROLES)
    if level:
        allowed &= set(LEVEL_ROLES[level])
    if side:
        allowed &= set(SIDE_ROLES[side])
    return tuple(r for r in data.ALL_ROLES if r in allowed)


def year_options() -> list[int]:
    """The years with data, plus the assessment year in progress (shown with an empty state)."""
    found = data.years()
    last = max(found + [datetime.date.today().year])
    first = min(found) if found else last
    return list(range(last, first - 1, -1))


def sidebar() -> Filters:
    years = year_options()
    with_data = data.years()
    default_year = max(with_data) if with_data else years[0]
    if st.session_state.get("f_year") not in years:
        st.session_state["f_year"] = default_year
    st.sidebar.subheader(t("filters"))
    year = st.sidebar.selectbox(t("year"), years, key="f_year")
    regions = st.sidebar.multiselect(t("region"), data.regions(), key="f_regions", placeholder=t("all"))
    levels = [None, *LEVEL_ROLES]
    level = st.sidebar.selectbox(t("level"), levels, key="f_level",
                                 format_func=lambda v: t("all") if v is None else t(f"level_{v}"))
    sides = [None, *SIDE_ROLES]
    side = st.sidebar.selectbox(t("role"), sides, key="f_side",
                                format_func=lambda v: t("all") if v is None else t(f"side_{v}"))
    return Filters(year=int(year), regions=tuple(regions), roles=roles_for(level, side))


def current() -> Filters:
    """The filters as the sidebar left them (pages call this; the app script draws the sidebar)."""
    return st.session_state["filters"]
