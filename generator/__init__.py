"""Synthetic `data/raw` trees for demos, tests and load tests (`fazhi generate`, SPEC §9).

What it writes is what a city's rule-of-law office really receives (SPEC §4): a unit registry, and
per year the score sheets, meeting/study ledgers, report filing registers and normative-document
registers of every unit, with the small share of mess real offices produce (mixed encodings, date
forms, full-width digits, text scores, aliases, re-submissions, a rare corrupt file …).
Deterministic per seed, byte for byte.

The parts, by concern:
- vocabulary: names, meeting types and topics, report and document titles;
- registry: the units of a city, province or nation;
- plans: what each unit does and submits in a year (meetings, filings, documents, scores);
- sheet_layouts / ledger_layouts: how a score sheet, a ledger or a register is laid out;
- messiness: the problems put in on purpose, how often, and the issue codes they should produce;
- writers: .xlsx (XlsxWriter, openpyxl), .xls (xlwt), CSV, and the files' times;
- draws: seeded random draws and the office calendar; tree: the whole tree and its summary.
"""

from generator.tree import format_summary, generate

__all__ = ["format_summary", "generate"]
