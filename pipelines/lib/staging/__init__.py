"""Staging: from the parse cache to the stg_* tables, one module per input kind, all years at once.

The parse cache holds what each file says; staging decides what it means under the current unit
registry and rulebook: units resolved, tasks matched and scored (the scoring policy: scoring.py),
meetings classified. Every row is loaded or rejected with an issue, and every file gets one row
saying what became of it. Each kind writes its own tables (declared in fazhi_dbt/models/sources.yml).
"""
