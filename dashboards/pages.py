"""The dashboard's pages, in navigation order: script (relative to streamlit_app.py), the i18n key of
its title, its icon, and the capability (access/policy.yaml) a viewer needs to see it. The first is the
default page. What a page shows within it is scoped where the data is read (dashboards/data.py)."""

# Material icons ship with Streamlit; emoji would need a colour-emoji font the office PC may lack.
PAGES = [
    ("app_pages/overview.py", "page_overview", ":material/dashboard:", "view"),
    ("app_pages/ranking.py", "page_ranking", ":material/leaderboard:", "view"),
    ("app_pages/weak_spots.py", "page_weak", ":material/target:", "view"),
    ("app_pages/meetings.py", "page_meetings", ":material/event_note:", "view"),
    ("app_pages/filings.py", "page_filings", ":material/outbox:", "view"),
    ("app_pages/warnings.py", "page_warnings", ":material/notifications:", "view"),
    ("app_pages/rectification.py", "page_rectification", ":material/task_alt:", "view"),
    ("app_pages/unit.py", "page_unit", ":material/account_balance:", "view"),
    ("app_pages/quality.py", "page_quality", ":material/fact_check:", "view"),
    ("app_pages/method.py", "page_method", ":material/menu_book:", "view"),
    ("app_pages/upload.py", "page_upload", ":material/upload_file:", "upload"),
    ("app_pages/console.py", "page_console", ":material/terminal:", "console"),
    ("app_pages/audit.py", "page_audit", ":material/history:", "audit"),
]
UNIT_PAGE = "app_pages/unit.py"
