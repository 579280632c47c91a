"""方法说明: the rules the published figures were computed with, in words (pipelines/lib/method.py) — the
rulebook the publication names, read from disk, with a plain warning when its files changed after the
publication; and the publications whose rule changes changed published figures."""

import streamlit as st

from dashboards import data
from dashboards.formats import MISSING, is_missing
from dashboards.i18n import lang, t
from dashboards.ui import beijing, beijing_time, plain, table
from pipelines.lib import method

st.title(t("page_method"))
if not data.available():
    st.info(t("no_warehouse"))
    st.stop()

info = data.publication()
published_id, published_fingerprint = info.get("rulebook_id"), info.get("rulebook_fingerprint")
if is_missing(published_id) or not str(published_id):
    st.info(t("method_no_rulebook"))
    st.stop()

years = data.years()
st.info(
    t(
        "method_one_rulebook",
        when=beijing_time(info.get("published_at")) or MISSING,
        years="、".join(str(y) for y in years) or MISSING,
        id=plain(published_id),
        fingerprint=plain(published_fingerprint),
    )
)

rules = data.published_rulebook()
if rules is None:
    st.warning(t("method_rulebook_missing", id=plain(published_id), fingerprint=plain(published_fingerprint)))
    st.subheader(t("method_published_policy"))
    st.markdown(plain(info.get("ranking_policy")))
else:
    if rules.fingerprint != published_fingerprint:
        st.warning(
            t(
                "method_rules_changed",
                current=plain(rules.fingerprint),
                published=plain(published_fingerprint),
            )
        )
    if lang() == "en":
        st.caption(t("method_in_chinese"))
    st.markdown(method.render(rules, escape=plain))

st.subheader(t("method_rule_changes"))
st.caption(t("method_rule_changes_help"))
changes = data.rule_restatements()
if changes.empty:
    st.caption(t("method_no_rule_changes"))
else:
    table(
        changes.assign(
            restated_at=beijing(changes["restated_at"]),
            previously_published_at=beijing(changes["previously_published_at"]),
        ),
        key="method_rule_changes",
        columns={
            "restated_at": "restated_at",
            "previously_published_at": "previously_published_at",
            "years": "restated_years",
            "changes": "restated_changes",
        },
    )
