"""法治建设第一责任人履职台账 — the dashboard. Run with `fazhi dashboard` (binds to 127.0.0.1).

This script runs on every interaction: it draws the language switch, the shared filters and the
freshness line, then hands over to the chosen page.
"""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `dashboards` importable when run as a script

from dashboards import data, filters  # noqa: E402
from dashboards.i18n import t  # noqa: E402
from dashboards.pages import PAGES  # noqa: E402
from dashboards.ui import freshness  # noqa: E402

st.set_page_config(page_title="法治履职台账", page_icon=":material/balance:", layout="wide")

st.session_state.setdefault("lang", "zh")
st.sidebar.radio(t("language"), ["zh", "en"], key="lang", horizontal=True,
                 format_func=lambda v: "中文" if v == "zh" else "English")

navigation = st.navigation([st.Page(path, title=t(key), icon=icon, default=position == 0)
                            for position, (path, key, icon) in enumerate(PAGES)])

if data.available():
    st.session_state["filters"] = filters.sidebar()
    st.sidebar.caption(freshness())
st.sidebar.caption(t("app_title"))
navigation.run()
