"""Signed-in sessions for the dashboard's tests: one account per role of the access policy."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

PASSWORD = "test password 1"
LIAISON_REGION = "东城区"


def user_of(role: str) -> str:
    return f"t-{role}"


def signed_in(at: AppTest, user: str = user_of("analyst")) -> AppTest:
    """`at` with a user's session in place before it runs, as the sign-in form would leave it."""
    at.session_state["user"] = user
    at.session_state["last_seen"] = time.time()
    return at
