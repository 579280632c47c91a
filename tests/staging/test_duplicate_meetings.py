"""A meeting listed twice counts once, and which listing is the repeat does not depend on the order
DuckDB happens to return the parsed rows in: the first in file, sheet and row order counts, the
later one is flagged and its file told. (At scale DuckDB scans in parallel, so that order is not the
order the rows were stored in.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import city_units, ready_to_stage, write_meetings, write_units

from pipelines.defs import staging
from pipelines.lib import pipeline
from pipelines.lib.warehouse import transaction, work_connection

Y = 2024
MEETING = ("清丰县委", "2024-03-05", "中心组学习", "学习习近平法治思想")


def _staged(tmp_path: Path, stored_backwards: bool) -> tuple[list[tuple], list[tuple], list[tuple]]:
    raw = tmp_path / "raw"
    write_units(raw, city_units(["清丰县"]))
    # The same meeting in two ledgers, and twice in the second one.
    write_meetings(
        raw, Y, "a_first.csv", [("清丰县委", "2024-01-10", "常委会", "听取法治建设工作汇报"), MEETING]
    )
    write_meetings(raw, Y, "b_second.csv", [MEETING, MEETING])
    paths, rules = ready_to_stage(tmp_path)
    if stored_backwards:  # the parsed rows stored in the opposite order: a scan returns them so
        with work_connection(paths) as con, transaction(con):
            con.execute(
                "create temp table backwards as select t.* from parsed_meetings t "
                'join raw_files r on r.sha256 = t.sha256 order by r.path desc, t."row" desc'
            )
            con.execute("delete from parsed_meetings")
            con.execute("insert into parsed_meetings select * from backwards")
    # staged as its asset stages it, with the tables the asset declares
    owns = staging.KINDS["meetings"][0]
    pipeline.stage_kind(paths, rules, "meetings", owns=owns, reads=staging.kind_deps("meetings"))
    with work_connection(paths) as con:
        flags = con.execute(
            'select file, "row", is_duplicate from stg_meetings where topic = ? order by file, "row"',
            [MEETING[3]],
        ).fetchall()
        told = con.execute(
            'select file, "row" from stg_meeting_issues where code = \'duplicate_meeting\' order by file, "row"'
        ).fetchall()
        # a meeting listed once is no repeat: false, not unknown
        alone = con.execute(
            "select file, is_duplicate from stg_meetings where topic <> ?", [MEETING[3]]
        ).fetchall()
    return flags, told, alone


@pytest.mark.parametrize("stored_backwards", [False, True])
def test_the_first_listing_in_file_and_row_order_counts(tmp_path, stored_backwards):
    flags, told, alone = _staged(tmp_path, stored_backwards)
    first, second = "2024/meetings/a_first.csv", "2024/meetings/b_second.csv"
    assert flags == [(first, 3, False), (second, 2, True), (second, 3, True)]
    assert told == [(second, 2), (second, 3)]
    assert alone == [(first, False)]
