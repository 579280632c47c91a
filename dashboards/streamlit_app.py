"""法治建设第一责任人履职台账 — the dashboard. Run with `fazhi dashboard` (binds to 127.0.0.1).

This script runs on every interaction: it draws the language switch, asks for sign-in (nothing else
runs without a signed-in user), draws the pages the user's role may open, the shared filters and the
freshness line, then hands over to the chosen page.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import streamlit as st

sys.path.insert(
    0, str(Path(__file__).resolve().parent.parent)
)  # `dashboards` importable when run as a script

from dashboards import auth, data, filters
from dashboards.i18n import t
from dashboards.pages import PAGES
from dashboards.ui import freshness

LOG = logging.getLogger("fazhi.dashboard")

st.set_page_config(page_title="法治履职台账", page_icon=":material/balance:", layout="wide")

st.session_state.setdefault("lang", "zh")
st.sidebar.radio(
    t("language"),
    ["zh", "en"],
    key="lang",
    horizontal=True,
    format_func=lambda v: "中文" if v == "zh" else "English",
)

viewer = auth.current()
# Before sign-in every page is known but hidden and none runs: a link to a page (…/ranking) opens that
# page once the user has signed in.
navigation = st.navigation(
    [
        st.Page(path, title=t(key), icon=icon, default=position == 0)
        for position, (path, key, icon, needs) in enumerate(PAGES)
        if viewer is None or needs in viewer.can
    ],
    position="sidebar" if viewer else "hidden",
)
if viewer is None:
    auth.sign_in_form()
    st.stop()
auth.sign_out_button(viewer)

# Users never see a traceback (`fazhi dashboard` also turns Streamlit's error details off): one plain
# message on the page, the details in the server's log. st.stop, st.rerun and st.switch_page raise
# BaseException, so they pass through.
try:
    if data.available():
        st.session_state["filters"] = filters.sidebar()
        st.sidebar.caption(freshness())
    st.sidebar.caption(t("app_title"))
    navigation.run()
except data.WarehouseUnreadable as error:
    LOG.error("warehouse %s cannot be read: %s", error, error.__cause__)
    st.error(t("warehouse_unreadable"))
except Exception:
    LOG.exception("page %s failed", navigation.url_path or "/")
    st.error(t("page_failed"))
