"""The sidebar filters every page honours: year, region, role and level.

Role (党委/政府/部门) and level (县区/市直部门/乡镇) are two views of the marts' `role` column, both read
from the rulebook in force (`marts.rulebook_roles`: each role's `side` and `level`); a page receives the
roles both allow. Widget values live in session state, so they survive page switches.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import streamlit as st

from dashboards import data
from dashboards.i18n import label, t


@dataclass(frozen=True)
class Filters:
    year: int
    regions: tuple[str, ...]  # empty: every region
    roles: tuple[str, ...]  # the roles the level and role choices both allow (may be empty)

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


def _grouped(column: str) -> dict[str, tuple[str, ...]]:
    """Value of the rulebook's `column` (level or side) → its roles, both in the rulebook's order."""
    roles = data.roles()
    return {
        value: tuple(roles.loc[roles[column] == value, "role"]) for value in roles[column].dropna().unique()
    }


def level_roles() -> dict[str, tuple[str, ...]]:
    """Level (region, department, township) → the roles of that level."""
    return _grouped("level")


def side_roles() -> dict[str, tuple[str, ...]]:
    """Side (party, government, department) → the roles of that side."""
    return _grouped("side")


def roles_for(level: str | None, side: str | None) -> tuple[str, ...]:
    """The roles both choices allow (None: any), in the rulebook's order."""
    roles = data.roles()
    if level:
        roles = roles[roles["level"] == level]
    if side:
        roles = roles[roles["side"] == side]
    return tuple(roles["role"])


def year_options() -> list[int]:
    """The years with data, plus the assessment year in progress (shown with an empty state)."""
    found = data.years()
    last = max([*found, datetime.date.today().year])
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
    levels = [None, *level_roles()]
    if st.session_state.get("f_level") not in levels:  # a choice the rulebook now in force no longer has
        st.session_state["f_level"] = None
    level = st.sidebar.selectbox(
        t("level"), levels, key="f_level", format_func=lambda v: t("all") if v is None else label("level", v)
    )
    sides = [None, *side_roles()]
    if st.session_state.get("f_side") not in sides:
        st.session_state["f_side"] = None
    side = st.sidebar.selectbox(
        t("role"), sides, key="f_side", format_func=lambda v: t("all") if v is None else label("side", v)
    )
    return Filters(year=int(year), regions=tuple(regions), roles=roles_for(level, side))


def current() -> Filters:
    """The filters as the sidebar left them (pages call this; the app script draws the sidebar)."""
    return st.session_state["filters"]
