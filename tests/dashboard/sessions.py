"""Signed-in sessions for the dashboard's tests: one account per role of the access policy."""

from __future__ import annotations

import gc
import time

from streamlit.testing.v1 import AppTest

PASSWORD = "test password 1"
LIAISON_REGION = "东城区"


def user_of(role: str) -> str:
    return f"t-{role}"


def settle_garbage() -> None:
    """Collect what earlier tests left (Dagster's SQLite connections of in-process runs, whose pool logs
    an error with its traceback when one is finalized in another thread) before a page script runs.
    On Python 3.11 a traceback formatted while Streamlit parses a page (`ast.parse`, which may trigger
    a collection) makes that parse fail with "AST constructor recursion depth mismatch": a test would
    see the page's generic error instead of the page."""
    gc.collect()


def signed_in(at: AppTest, user: str = user_of("analyst")) -> AppTest:
    """`at` with a user's session in place before it runs, as the sign-in form would leave it."""
    settle_garbage()
    at.session_state["user"] = user
    at.session_state["last_seen"] = time.time()
    return at
