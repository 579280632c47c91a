"""上传: a clerk (or a county liaison, for its own region's units) drops submitted files; each is checked at
once by the pipeline's own readers (pipelines/lib/check.py) and the page says what it will count as: kind,
unit, role, year, rows read / usable / rejected, the sheet's total, the points the records contradict, every
issue. On confirmation the file is stored under data/raw (never over an earlier one), recorded in the audit
trail, and `fazhi run` recomputes in the background; the page says when the new figures are live."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from access import audit
from dashboards import auth, data
from dashboards.i18n import label, role_labels, t
from dashboards.ui import beijing_time, plain
from pipelines.lib import check
from pipelines.lib.warehouse import Paths, utc_now

ROOT = Path(__file__).resolve().parents[2]
CHECKS, STORED, PENDING = "upload_checks", "upload_stored", "upload_pending"
POLL_SECONDS = 3


def _paths() -> Paths:
    # The dashboard's own checkout unless `fazhi dashboard --raw` (FAZHI_RAW_DIR) says otherwise.
    raw = Path(os.environ.get("FAZHI_RAW_DIR") or ROOT / "data" / "raw")
    return Paths(raw.resolve(), data.warehouse_path().resolve())


@st.cache_resource(ttl=600, show_spinner=False, max_entries=4)
def _reference(stamp: tuple | None, rulebook: str | None) -> check.Reference:
    # the published registry, once per publication
    return check.Reference.load(data.warehouse_path() if stamp is None else Path(stamp[0]), rulebook)


def _check(upload, kind: str, year: int) -> check.FileCheck:
    """The check of one uploaded file, once per content and choice (a rerun does not parse it again)."""
    viewer = auth.viewer()
    content = upload.getvalue()
    reference = _reference(data.warehouse_stamp(), os.environ.get("FAZHI_RULEBOOK"))
    key = (check.safe_name(upload.name), len(content), hash(content), kind, year, viewer.region)
    done = st.session_state.setdefault(CHECKS, {})
    if key not in done:
        with tempfile.TemporaryDirectory(prefix="fazhi-check-") as folder:
            # checked under the name it will be stored with: a ledger's reader goes by the extension
            path = Path(folder) / check.safe_name(upload.name)
            path.write_bytes(content)
            done[key] = check.check_file(
                path,
                reference,
                original_name=upload.name,
                kind=kind or None,
                year=year or None,
                region=viewer.region,
            )
    return done[key]


def _facts(c: check.FileCheck) -> list[tuple[str, str]]:
    """What the file will count as, one (label, value) per fact."""
    rows: list[tuple[str, str]] = []
    kind = label("kind", c.kind)
    rows.append((t("kind"), t("upload_detected" if c.kind_detected else "upload_chosen", kind=kind)))
    if c.year is None:
        rows.append((t("year"), t("upload_year_none")))
    else:
        rows.append((t("year"), t(f"upload_year_{c.year_source}", year=c.year)))
    for u in c.units:
        if u.unit is None:
            shown = t("upload_unit_unknown", problem=u.problem or "")
        else:
            rows_note = f"，{t('upload_unit_rows', rows=u.rows)}" if u.rows else ""
            shown = f"{u.unit.name}（{u.unit.region}{rows_note}）"
        rows.append((t("unit"), f"{u.text} → {shown}"))
    if c.roles:
        names = role_labels()
        rows.append((t("role"), "、".join(names[r] for r in c.roles)))
    rows.append(
        (
            t("upload_rows_label"),
            t("upload_rows", read=c.rows_read, usable=c.rows_usable, rejected=c.rows_rejected),
        )
    )
    for total in c.totals:
        declared = "、".join(
            f"{name}{value:g}"
            for name, value in (
                (t("self_points"), total.declared_self),
                (t("verified_points"), total.declared_verified),
            )
            if value is not None
        )
        rows.append(
            (
                t("upload_total", sheet=total.sheet),
                t(
                    "upload_total_value",
                    declared=declared or t("upload_total_blank"),
                    counted=f"{total.counted:g}",
                    max=f"{total.max_total:g}",
                ),
            )
        )
    for earlier in c.replaces:
        rows.append((t("upload_replaces"), earlier))
    return rows


def _issues(c: check.FileCheck) -> pd.DataFrame:
    return pd.DataFrame(
        [(t(f"severity_{i.severity}"), i.code, i.sheet, i.row, i.message) for i in c.issues],
        columns=[t("severity"), t("code"), t("sheet_name"), t("row"), t("message")],
    )


def _store(upload, c: check.FileCheck) -> None:
    viewer = auth.viewer()
    assert c.kind is not None and c.year is not None  # store_problem() said so
    paths = _paths()
    stored = check.store(upload.getvalue(), upload.name, paths.raw_dir, c.year, c.kind)
    audit.record(
        "upload",
        viewer.name,
        viewer.role,
        file=stored.relative,
        original_name=upload.name,
        kind=c.kind,
        year=c.year,
        unit="、".join(u.unit.name for u in c.units if u.unit is not None) or None,
    )
    st.session_state.setdefault(STORED, {})[c.sha256] = stored.relative
    pending = st.session_state.get(PENDING) or {"files": [], "since": utc_now()}
    pending["files"] = [*pending["files"], stored.relative]
    pending["process"] = check.start_recompute(paths)
    pending.pop("live", None)
    st.session_state[PENDING] = pending


def _preview(upload, kind: str, year: int) -> None:
    c = _check(upload, kind, year)
    st.subheader(plain(c.original_name))
    if c.refused is not None:
        st.error(plain(t("upload_refused", code=c.refused.code, message=c.refused.message)))
        return
    # st.text: the file's own words (unit names, sheet names) show as written, never as Markdown
    st.text("\n".join(f"{name}：{value}" for name, value in _facts(c)))
    if c.kind == check.SCORE_SHEET:
        st.markdown(f"**{t('upload_contradictions')}**")
        for line in c.contradictions:
            st.warning(plain(line))
        if c.evidence_note:
            st.caption(plain(c.evidence_note))
        elif not c.contradictions:
            st.caption(t("upload_no_contradictions"))
    if c.issues:
        st.markdown(f"**{t('upload_issues')}**（{len(c.issues)}）")
        st.dataframe(_issues(c), hide_index=True, key=f"issues_{c.sha256}_{kind}_{year}")
    stored = st.session_state.get(STORED, {}).get(c.sha256)
    problem = c.store_problem(auth.viewer().region)
    if stored:
        st.success(plain(t("upload_stored", file=stored, original=c.original_name)))
    elif problem:
        st.error(plain(problem))
    elif st.button(t("upload_confirm"), key=f"store_{c.sha256}", type="primary"):
        _store(upload, c)
        st.rerun()


def _status() -> None:
    """Where the recomputation after the last upload stands: submitted, live, or failed."""
    pending = st.session_state.get(PENDING)
    if not pending:
        return
    if pending.get("live") is not None:
        st.success(t("upload_live", when=beijing_time(pending["live"])))
        return
    live = check.live_since(_paths().warehouse, pending["files"], pending["since"])
    if live is not None:
        pending["live"] = live
        st.rerun(scope="app")  # the sidebar's freshness line and every page read the new figures
    process = pending.get("process")
    code = process.poll() if process is not None else None
    if code not in (None, 0):
        log = _paths().work_db.parent / "upload_runs.log"
        st.error(plain(t("upload_run_failed", code=code, log=str(log))))
        return
    st.info(t("upload_pending"))
    st.button(t("upload_refresh"), key="upload_refresh")


st.title(t("page_upload"))
if not data.available():
    st.info(t("no_warehouse"))
    st.stop()
st.caption(t("upload_intro"))
region = auth.viewer().region
if region:
    st.caption(plain(t("upload_liaison", region=region)))
left, right = st.columns(2)
kind = left.selectbox(
    t("upload_kind"),
    ["", *check.upload_kinds()],
    format_func=lambda k: label("kind", k) if k else t("upload_kind_auto"),
    key="upload_kind",
)
this_year = datetime.now().year
year = right.selectbox(
    t("upload_year"),
    [0, *range(this_year + 1, this_year - 10, -1)],
    format_func=lambda y: str(y) if y else t("upload_year_auto"),
    key="upload_year",
)
uploads = st.file_uploader(
    t("upload_files"), type=["xlsx", "xlsm", "xls", "csv"], accept_multiple_files=True, key="upload_files"
)
# While a recomputation is under way the status asks again every few seconds, alone (not the whole page).
waiting = bool(st.session_state.get(PENDING)) and st.session_state[PENDING].get("live") is None
st.fragment(run_every=POLL_SECONDS if waiting else None)(_status)()
for upload in uploads or ():
    _preview(upload, kind, year)
