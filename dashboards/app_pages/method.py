"""方法说明: the rules the published figures were computed with, in words (pipelines/lib/method.py) — the
rulebook the publication names, read from disk, with a plain warning when its files changed after the
publication; the rulebook each year was first published under and is computed under now, with a warning
naming the rules that changed where a year's circular, or two consecutive years' circulars, were scored under
other rules (pipelines/lib/rulebook_history.py); and the publications whose rule changes changed published
figures."""

import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.formats import MISSING, is_missing
from dashboards.i18n import lang, t
from dashboards.ui import beijing, beijing_time, plain, table
from pipelines.lib import method, rulebook_history


def _rulebook(row: dict, which: str, escape=str) -> str:
    """A rulebook of a `rulebook_years` row (`which`: first | current) as its id, version and fingerprint."""
    rulebook_id, version = escape(row[f"{which}_rulebook_id"]), row[f"{which}_version"]
    fingerprint = escape(row[f"{which}_fingerprint"])
    if is_missing(version):
        return t("method_rulebook_label_unversioned", id=rulebook_id, fingerprint=fingerprint)
    return t("method_rulebook_label", id=rulebook_id, version=int(version), fingerprint=fingerprint)


def _changes(old: str, new: str) -> str:
    """The rules that differ between two rulebooks, in Chinese, as a Markdown list."""
    before, after = data.rulebook_snapshot(old), data.rulebook_snapshot(new)
    if before.empty or after.empty:
        return t("method_changes_unknown", fingerprint=plain(old if before.empty else new))
    found = rulebook_history.compare(before, after)
    if not found:
        return t("method_changes_unlisted")
    return "\n".join(f"- {plain(change.words)}" for change in found)


def _years() -> None:
    """Each year's rulebook, first published and now; a warning where (a) a year was first published under
    other rules than it is computed under now, (b) two consecutive years were first published under different
    rules — each naming the rules that changed."""
    st.subheader(t("method_years"))
    st.caption(t("method_years_help"))
    ruled = data.rulebook_years()
    if ruled.empty:
        st.caption(t("method_years_not_kept"))
        return
    rows = ruled.to_dict("records")
    table(
        pd.DataFrame(
            {
                "year": [str(int(r["year"])) for r in rows],
                "first": [_rulebook(r, "first") for r in rows],
                "first_published_at": beijing(ruled["first_published_at"]),
                "current": [_rulebook(r, "current") for r in rows],
            }
        ),
        key="method_years",
        columns={
            "year": "year",
            "first": "method_first_rulebook",
            "first_published_at": "method_first_published_at",
            "current": "method_current_rulebook",
        },
    )
    warned = False
    rescored: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        if r["first_fingerprint"] != r["current_fingerprint"]:
            rescored.setdefault((r["first_fingerprint"], r["current_fingerprint"]), []).append(r)
    separator = ", " if lang() == "en" else "、"
    for (old, new), group in rescored.items():
        years = separator.join(str(int(r["year"])) for r in group)
        intro = t(
            "method_year_rescored",
            years=years,
            first=_rulebook(group[0], "first", plain),
            current=_rulebook(group[0], "current", plain),
        )
        st.warning(f"{intro}\n\n{_changes(old, new)}")
        warned = True
    by_year = {int(r["year"]): r for r in rows}
    for year, r in by_year.items():
        previous = by_year.get(year - 1)
        if previous is None or previous["first_fingerprint"] == r["first_fingerprint"]:
            continue
        intro = t(
            "method_years_differ",
            previous=year - 1,
            year=year,
            first_previous=_rulebook(previous, "first", plain),
            first=_rulebook(r, "first", plain),
        )
        st.warning(f"{intro}\n\n{_changes(previous['first_fingerprint'], r['first_fingerprint'])}")
        warned = True
    if not warned:
        st.caption(t("method_years_same"))


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
_years()

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
