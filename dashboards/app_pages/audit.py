"""审计日志: who signed in, downloaded, queried or recomputed, newest first (access/audit.py)."""

import pandas as pd
import streamlit as st

from access import audit
from dashboards.i18n import t
from dashboards.ui import table

st.title(t("page_audit"))
st.caption(t("audit_intro", path=str(audit.audit_file())))
entries = audit.entries()
event = st.selectbox(
    t("audit_event"),
    ["", *audit.EVENTS],
    format_func=lambda e: audit.EVENTS.get(e, t("all")),
    key="audit_event",
)
if event:
    entries = entries[entries["event"] == event]
entries = entries.assign(
    at=pd.to_datetime(entries["at"], utc=True).dt.tz_localize(None) + pd.Timedelta(hours=8),
    event=entries["event"].map(audit.EVENTS).fillna(entries["event"]),
)
table(
    entries,
    "audit",
    columns={
        "at": "audit_at",
        "event": "audit_event",
        "user": "audit_user",
        "role": "audit_role",
        "details": "audit_details",
    },
)
