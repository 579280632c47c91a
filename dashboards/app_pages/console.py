"""SQL 控制台: one SELECT over the published marts, in a sandbox (access/console.py), with the marts'
documentation beside it and the README's example queries one click away."""

import streamlit as st

from access import audit
from access.console import DOWNLOAD_CAP, ROW_CAP, TIME_LIMIT_SECONDS, ConsoleRefused, run_query
from dashboards import auth, data, exports
from dashboards.i18n import t
from dashboards.ui import plain, table
from pipelines.lib.schema import mart_tables

viewer = auth.viewer()
st.title(t("page_console"))
st.caption(t("console_intro", rows=ROW_CAP, seconds=int(TIME_LIMIT_SECONDS)))

marts = mart_tables()
editor, browser = st.columns([3, 2])

with browser:
    st.subheader(t("console_schema"))
    for name, spec in marts.items():
        with st.expander(f"marts.{name}"):
            st.text(spec.description.strip())
            if spec.example_query and st.button(t("console_use_example"), key=f"example_{name}"):
                st.session_state["console_sql"] = spec.example_query.strip()
            st.dataframe(
                {
                    t("console_column"): [c.name for c in spec.columns],
                    t("console_type"): [c.data_type for c in spec.columns],
                    t("console_doc"): [c.description for c in spec.columns],
                },
                hide_index=True,
            )

with editor:
    # the published ranking's example query, as a start
    st.session_state.setdefault("console_sql", (marts["region_rankings"].example_query or "").strip())
    sql = st.text_area("SQL", key="console_sql", height=220, max_chars=20_000)
    if st.button(t("console_run"), type="primary"):
        try:
            result = run_query(data.warehouse_path(), sql, region=viewer.region)
        except ConsoleRefused as refused:
            audit.record("console_refused", viewer.name, viewer.role, sql=sql, reason=str(refused))
            st.session_state.pop("console_result", None)
            st.error(str(refused))
        else:
            audit.record(
                "console_query",
                viewer.name,
                viewer.role,
                sql=sql,
                rows=len(result.frame),
                truncated=result.truncated,
                seconds=round(result.seconds, 3),
            )
            st.session_state["console_result"] = (sql, result)

    shown = st.session_state.get("console_result")
    if shown:
        ran, result = shown
        st.caption(
            t(
                "console_rows_capped" if result.truncated else "console_rows",
                rows=len(result.frame),
                seconds=f"{result.seconds:.2f}",
            )
        )
        table(result.frame, "console")
        if result.truncated and auth.can("export"):

            def full_result() -> bytes:
                full = run_query(data.warehouse_path(), ran, region=viewer.region, cap=DOWNLOAD_CAP)
                audit.record(
                    "export", viewer.name, viewer.role, what="console_full", sql=ran, rows=len(full.frame)
                )
                return exports.table_to_xlsx(full.frame, sheet_title="console")

            st.download_button(
                t("console_download_full", rows=DOWNLOAD_CAP),
                full_result,
                file_name="console.xlsx",
                key="console_full",
                on_click="ignore",
                mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        st.caption(plain(ran))
