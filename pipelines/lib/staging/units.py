"""The unit registry: the current units file, each unit's role from the rulebook's unit types."""

from __future__ import annotations

from typing import cast

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines.lib.names import Unit, UnitRegistry, name_keys, unit_id_for
from pipelines.lib.records import ERROR, WARNING
from pipelines.lib.rulebook import Rulebook
from pipelines.lib.schema import source_tables
from pipelines.lib.staging.common import IGNORED_MESSAGES, ISSUE_COLUMNS, issue, year_in_path

UNIT_COLUMNS = source_tables()["stg_units"].column_names


def stage_units(con: duckdb.DuckDBPyConnection, rules: Rulebook) -> dict[str, pd.DataFrame]:
    """stg_units and stg_registry_issues: the registry, and its problems (year empty); files that
    belong to no year are reported here too, once."""
    issues: list[dict] = []
    files = con.execute(
        "select r.path, r.sha256, p.error_code, p.error_message from raw_files r "
        "left join parsed_files p on p.sha256 = r.sha256 and p.kind = 'units' "
        "where r.kind = 'units' order by r.mtime_ns desc, r.path"
    ).fetchall()
    units: list[Unit] = []
    seen: dict[tuple[str, str], int] = {}
    if not files:
        issues.append(
            issue(
                None,
                "units",
                None,
                None,
                None,
                ERROR,
                "units_missing",
                "未找到单位名册（data/raw/units.csv 或 units.xlsx），所有报送都无法对应到单位。",
            )
        )
    else:
        path, sha, err_code, err_msg = files[0]
        for other in files[1:]:
            issues.append(
                issue(
                    None,
                    other[0],
                    None,
                    None,
                    None,
                    WARNING,
                    "units_duplicate_file",
                    f"存在多个单位名册，使用最新的“{path}”，本文件未使用。",
                )
            )
        if err_code:
            issues.append(issue(None, path, None, None, None, ERROR, err_code, err_msg))
        rows = con.execute(
            'select sheet, "row", name, unit_type, region, aliases from parsed_units '
            'where sha256 = ? and not parse_rejected order by sheet nulls first, "row"',
            [sha],
        ).fetchall()
        for sheet, row, name, unit_type, region, aliases in rows:
            role = rules.unit_type_roles.get(unit_type)
            if role is None:
                issues.append(
                    issue(
                        None,
                        path,
                        sheet,
                        row,
                        name,
                        ERROR,
                        "unit_type_unknown",
                        f"单位“{name}”的单位类型“{unit_type}”不在规则之内（应为"
                        f"{'/'.join(rules.unit_type_roles)}），该单位未登记。",
                    )
                )
                continue
            uid = unit_id_for(unit_type, name)
            if (uid, role) in seen:
                issues.append(
                    issue(
                        None,
                        path,
                        sheet,
                        row,
                        name,
                        ERROR,
                        "unit_duplicate",
                        f"单位“{name}”在名册中重复登记（另见第{seen[(uid, role)]}行），本行未使用。",
                    )
                )
                continue
            seen[(uid, role)] = row
            alias_list = tuple(a for a in (aliases or "").split("|") if a)
            units.append(Unit(uid, name, unit_type, role, region or "", alias_list))
        for sheet, row, unit, severity, code, message in con.execute(
            'select sheet, "row", unit, severity, code, message from parsed_issues '
            "where sha256 = ? and kind = 'units'",
            [sha],
        ).fetchall():
            issues.append(issue(None, path, sheet, row, unit, severity, code, message))
    for path, note in con.execute(
        "select path, note from raw_files where kind is null and folder_year is null order by path"
    ).fetchall():
        if year_in_path(path) is None:
            severity = WARNING if note == "office_lock_file" else ERROR
            issues.append(
                issue(None, path, None, None, None, severity, note, IGNORED_MESSAGES.get(note, note))
            )
    frame = pd.DataFrame(
        [
            (u.unit_id, u.name, u.unit_type, u.role, u.region, "、".join(u.aliases), None, *name_keys(u))
            for u in units
        ],
        columns=UNIT_COLUMNS,
    )
    return {"stg_units": frame, "stg_registry_issues": pd.DataFrame(issues, columns=ISSUE_COLUMNS)}


def load_registry(con: duckdb.DuckDBPyConnection) -> UnitRegistry:
    """The registry as staged, with the keys its names are compared by, made when it was staged. Read as
    Arrow: fetched as Python rows, a nation's key lists cost as much as making them again."""
    table = con.sql(
        "select unit_id, unit_name, unit_type, role, region, aliases, name_keys, base_keys from stg_units"
    ).to_arrow_table()
    ids, names, types, roles, regions, aliases = (
        table.column(c).to_pylist()
        for c in ("unit_id", "unit_name", "unit_type", "role", "region", "aliases")
    )
    units = [
        Unit(i, n, t, r, g, tuple(x for x in (a or "").split("、") if x))
        for i, n, t, r, g, a in zip(ids, names, types, roles, regions, aliases, strict=True)
    ]
    keys: list[tuple[list[str], list[str]]] = []
    for unit, found, bases in zip(
        units, _lists(table.column("name_keys")), _lists(table.column("base_keys")), strict=True
    ):
        # a registry staged by an earlier version has none: they are made here
        keys.append((found, bases or []) if found is not None else name_keys(unit))
    return UnitRegistry(units, keys)


def _lists(column: pa.ChunkedArray) -> list[list[str] | None]:
    """A list column's values (None for a null list), without a Python object per list on the way."""
    array = cast(pa.ListArray, column.combine_chunks())
    values = cast(list[str], array.values.to_pylist())
    offsets, valid = array.offsets.to_pylist(), array.is_valid().to_pylist()
    return [values[offsets[i] : offsets[i + 1]] if valid[i] else None for i in range(len(array))]
