"""Sign-in for the dashboard: every page needs a signed-in user (accounts: access/accounts.py).

The session keeps only the user's name and the time of the last interaction. On every rerun the
account is read again, so a disabled account or a changed role takes effect at the next click; a
session idle for longer than the policy allows ends. What a user may do comes from the access policy
(access/policy.yaml) as capabilities; what a user may read is enforced in `dashboards.data`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import streamlit as st

from access import audit
from access.accounts import Accounts, users_file
from access.oidc import allowlist_file, grant_for, load_allowlist
from access.policy import load_policy
from dashboards import i18n

USER_KEY = "user"
SEEN_KEY = "last_seen"
NOTICE_KEY = "sign_in_notice"
VIEWER_KEY = "viewer"  # set by `current` at the top of each run, from the account as it is now


class NotSignedIn(Exception):
    """Data was asked for outside a signed-in session."""


@dataclass(frozen=True)
class Viewer:
    name: str
    display_name: str
    role: str
    role_name: str
    region: str | None  # the one region this viewer may read, or None for the whole city
    can: frozenset[str]


@st.cache_resource(show_spinner=False)
def _accounts(path: str) -> Accounts:
    # One per process and file: failed attempts on unknown names are counted here.
    from pathlib import Path

    return Accounts(path=Path(path))


def accounts() -> Accounts:
    return _accounts(str(users_file()))


def _viewer(name: str) -> Viewer | None:
    account = accounts().active(name)
    if account is None:
        return None
    role = load_policy().roles.get(account.role)
    if role is None:
        return None
    return Viewer(
        name=account.name,
        display_name=account.display_name or account.name,
        role=role.key,
        role_name=role.name,
        region=account.region if role.scope == "region" else None,
        can=role.can,
    )


def _end(event: str, viewer: Viewer | None, notice: str | None = None) -> None:
    if viewer is not None:
        audit.record(event, viewer.name, viewer.role)
    for key in (USER_KEY, SEEN_KEY, VIEWER_KEY):
        st.session_state.pop(key, None)
    if notice:
        st.session_state[NOTICE_KEY] = notice
    if oidc_enabled() and st.user.is_logged_in:
        st.logout()  # the provider's session cookie ends too, or the next click would sign in again


def oidc_enabled() -> bool:
    """FAZHI_SIGN_IN=oidc: the organisation's identity provider (st.login) instead of the accounts file."""
    return os.environ.get("FAZHI_SIGN_IN", "accounts") == "oidc"


def _oidc_viewer() -> Viewer | None:
    if not st.user.is_logged_in:
        return None
    grant = grant_for(st.user.to_dict(), load_allowlist(allowlist_file().read_text(encoding="utf-8")))
    role = load_policy().roles.get(grant.role) if grant else None
    if grant is None or role is None:
        st.session_state[NOTICE_KEY] = i18n.t("oidc_not_allowed")
        return None
    return Viewer(grant.email, grant.email, role.key, role.name, grant.region, role.can)


def current() -> Viewer | None:
    """The signed-in viewer of this session, or None (after an idle timeout or a disabled account)."""
    st.session_state.pop(VIEWER_KEY, None)
    if oidc_enabled():
        viewer = _oidc_viewer()
        if viewer is not None and st.session_state.get(USER_KEY) != viewer.name:
            audit.record("sign_in", viewer.name, viewer.role, via="oidc")
        if viewer is not None:
            st.session_state[USER_KEY] = viewer.name
            st.session_state.setdefault(SEEN_KEY, time.time())
        name = viewer.name if viewer else None
    else:
        name = st.session_state.get(USER_KEY)
        viewer = _viewer(name) if name else None
    if not name:
        return None
    idle = time.time() - float(st.session_state.get(SEEN_KEY) or 0)
    if viewer is None:
        _end("sign_out", None, i18n.t("account_gone"))
        return None
    if idle > load_policy().sign_in.idle_minutes * 60:
        _end("session_expired", viewer, i18n.t("session_expired"))
        return None
    st.session_state[SEEN_KEY] = time.time()
    st.session_state[VIEWER_KEY] = viewer
    return viewer


def sign_in_form() -> None:
    st.title(i18n.t("sign_in_title"))
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.info(notice)
    if oidc_enabled():
        if st.button(i18n.t("oidc_sign_in"), type="primary"):
            st.login()
        return
    with st.form("sign_in", clear_on_submit=False):
        name = st.text_input(i18n.t("sign_in_name"), key="sign_in_name", max_chars=64)
        password = st.text_input(
            i18n.t("sign_in_password"), type="password", key="sign_in_password", max_chars=256
        )
        submitted = st.form_submit_button(i18n.t("sign_in_submit"), type="primary")
    if not submitted:
        return
    result = accounts().sign_in(name.strip(), password)
    if result.account is None:
        event = "sign_in_locked" if result.locked else "sign_in_failed"
        audit.record(event, name.strip()[:64] or None, None)
        st.error(result.message)
        return
    audit.record("sign_in", result.account.name, result.account.role)
    st.session_state[USER_KEY] = result.account.name
    st.session_state[SEEN_KEY] = time.time()
    st.session_state.pop("sign_in_password", None)
    st.rerun()


def sign_out_button(viewer: Viewer) -> None:
    where = f" · {viewer.region}" if viewer.region else ""
    st.sidebar.caption(f"{viewer.display_name}（{viewer.role_name}{where}）")
    if st.sidebar.button(i18n.t("sign_out"), key="sign_out"):
        _end("sign_out", viewer, i18n.t("signed_out"))
        st.rerun()


# The viewer a download is built for: set while a file is built after the script run that offered it.
_ACTING: ContextVar[Viewer | None] = ContextVar("fazhi_acting_viewer", default=None)


@contextmanager
def acting_for(v: Viewer) -> Iterator[None]:
    """Reads made within are made for `v`, outside any script run (a download built when it is clicked)."""
    token = _ACTING.set(v)
    try:
        yield
    finally:
        _ACTING.reset(token)


def building_download() -> bool:
    """Whether this is a download being built after the run that offered it (see `acting_for`)."""
    return _ACTING.get() is not None


def viewer() -> Viewer:
    """The viewer of this run, for code that reads data or offers a download: never None."""
    v = _ACTING.get() or st.session_state.get(VIEWER_KEY)
    if not isinstance(v, Viewer):
        raise NotSignedIn()
    return v


def can(capability: str) -> bool:
    v = _ACTING.get() or st.session_state.get(VIEWER_KEY)
    return isinstance(v, Viewer) and capability in v.can
