"""The dashboard's pages, in navigation order: script (relative to streamlit_app.py), the i18n key of
its title, its icon. The first is the default page."""

# Material icons ship with Streamlit; emoji would need a colour-emoji font the office PC may lack.
PAGES = [
    ("app_pages/overview.py", "page_overview", ":material/dashboard:"),
    ("app_pages/ranking.py", "page_ranking", ":material/leaderboard:"),
    ("app_pages/weak_spots.py", "page_weak", ":material/target:"),
    ("app_pages/meetings.py", "page_meetings", ":material/event_note:"),
    ("app_pages/filings.py", "page_filings", ":material/outbox:"),
    ("app_pages/unit.py", "page_unit", ":material/account_balance:"),
    ("app_pages/quality.py", "page_quality", ":material/fact_check:"),
]
UNIT_PAGE = "app_pages/unit.py"
