"""The rulebook's tables in the work database: written when the rulebook (or the code that writes
them) changed, kept as they are otherwise (real DuckDB file)."""

from __future__ import annotations

from pipelines.lib import pipeline
from pipelines.lib.reference import RULEBOOK_TABLES, rulebook_tables
from pipelines.lib.rulebook import load_rulebook
from pipelines.lib.warehouse import Paths, work_connection


def test_the_same_rulebook_keeps_its_tables_and_another_writes_them_again(tmp_path):
    paths = Paths(tmp_path / "raw", tmp_path / "marts" / "fazhi.duckdb")
    default, other = load_rulebook("default"), load_rulebook("lushan")
    counts = pipeline.write_rulebook(paths, default)
    assert counts == {t: len(f) for t, f in rulebook_tables(default).items()}
    assert list(counts) == list(RULEBOOK_TABLES)
    with work_connection(paths) as con:
        con.execute("update rulebook_info set name = 'kept'")  # a mark: not written again below
    assert pipeline.write_rulebook(paths, default) == counts
    with work_connection(paths) as con:
        assert con.execute("select name from rulebook_info").fetchone() == ("kept",)
    pipeline.write_rulebook(paths, other)
    with work_connection(paths) as con:
        assert con.execute("select rulebook_id, name from rulebook_info").fetchone() == (other.id, other.name)
    pipeline.write_rulebook(paths, default)
    with work_connection(paths) as con:
        assert con.execute("select name from rulebook_info").fetchone() == (default.name,)
