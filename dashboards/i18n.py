"""User text of the dashboard: Simplified Chinese first, English on request.

Every label lives here once, as (中文, English). Pages ask `t(key)`; the language is the session's
choice (sidebar switch), Chinese by default.

Roles are not labels of the dashboard's own: which roles exist and what they are called come from the
rulebook in force (`data.roles()`, the mart `rulebook_roles`). English adds words for the (level, side)
pairs a rulebook can give a role, and falls back to the rulebook's Chinese name for any other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.formats import is_missing

# The rulebook names the person whose duty a sheet assesses (县（区）党委主要负责人); the dashboard names the
# unit's role (县（区）党委).
DUTY_HOLDER = "主要负责人"
# English for a role, by its level and side in the rulebook ("level.side").
ROLE_EN = {
    "region.party": "County Party committee",
    "region.government": "County government",
    "department.department": "City department",
    "township.party": "Township Party committee",
    "township.government": "Township government",
}

TEXT: dict[str, tuple[str, str]] = {
    "app_title": ("法治建设第一责任人履职台账", "Rule-of-law duty ledger"),
    "language": ("语言 / Language", "语言 / Language"),
    "page_overview": ("总览", "Overview"),
    "page_ranking": ("排名", "Rankings"),
    "page_weak": ("短板", "Weak spots"),
    "page_meetings": ("会议学习", "Meetings & study"),
    "page_filings": ("报送", "Filings"),
    "page_unit": ("单位详情", "Unit detail"),
    "page_quality": ("数据质量", "Data quality"),
    "page_console": ("SQL 控制台", "SQL console"),
    "page_audit": ("审计日志", "Audit trail"),
    "page_upload": ("上传", "Upload"),
    # sign-in
    "sign_in_title": ("法治履职台账 · 登录", "Rule-of-law duty ledger · Sign in"),
    "sign_in_name": ("用户名", "User name"),
    "sign_in_password": ("密码", "Password"),
    "sign_in_submit": ("登录", "Sign in"),
    "sign_out": ("退出登录", "Sign out"),
    "signed_out": ("已退出登录。", "Signed out."),
    "oidc_sign_in": ("使用单位统一身份认证登录", "Sign in with the organisation's account"),
    "oidc_not_allowed": (
        "你的账号未获授权使用本系统，请联系法治办开通。",
        "Your account is not authorised for this system; ask the office.",
    ),
    "session_expired": (
        "长时间未操作，已自动退出，请重新登录。",
        "Your session was idle too long; please sign in again.",
    ),
    "account_gone": (
        "账户已停用或已删除，请联系法治办。",
        "This account is disabled or removed; contact the office.",
    ),
    "export_capped": ("下载只含前 {rows} 行。", "Downloads hold the first {rows} rows."),
    "page_no": ("页码（共 {pages} 页）", "Page (of {pages})"),
    "rows_shown": (
        "第 {first:,}–{last:,} 行，共 {total:,} 行（下载按钮给出整张表）",
        "Rows {first:,}–{last:,} of {total:,} (the download buttons give the whole table)",
    ),
    "chart_ends": (
        "区县较多，图中只列前 {ends} 名和后 {ends} 名（{ranked:,} 个区县参与排名，共 {total:,} 个）；完整名次见“排名”页。",
        "Too many regions to chart: the first {ends} and the last {ends} places ({ranked:,} of {total:,} regions "
        "ranked); every place is on the Ranking page.",
    ),
    "heatmap_weakest": (
        "区县较多，图中只列得分率最低的 {n} 个（共 {total:,} 个）；下方可选任一区县。",
        "Too many regions to chart: the {n} weakest of {total:,}; any region can be picked below.",
    ),
    "search": ("查找", "Find"),
    "search_more": (
        "符合的共 {total:,} 个，列出前 {shown:,} 个；输入更多文字可缩小范围。",
        "{total:,} match; the first {shown:,} are listed. Type more to narrow them.",
    ),
    "search_none": ("没有名称含这些文字的项。", "Nothing's name holds that text."),
    "search_units": ("查找单位或区县", "Find a unit or region"),
    "search_placeholder": ("输入名称中的文字", "Type part of a name"),
    # the SQL console
    "console_intro": (
        "只读查询已发布的 marts：一次一条 SELECT，屏幕上最多显示 {rows} 行，单次查询最长 {seconds} 秒。"
        "不能读写文件、访问网络或修改设置；工作库与中间表不可见。",
        "Read-only queries over the published marts: one SELECT at a time, up to {rows} rows on screen, "
        "{seconds} s per query. No files, network or settings; the work database is not reachable.",
    ),
    "console_schema": ("表与字段", "Tables and columns"),
    "console_use_example": ("填入示例查询", "Use the example query"),
    "console_column": ("字段", "Column"),
    "console_type": ("类型", "Type"),
    "console_doc": ("说明", "Description"),
    "console_run": ("运行", "Run"),
    "console_rows": ("{rows} 行，用时 {seconds} 秒", "{rows} rows in {seconds} s"),
    "console_rows_capped": (
        "只显示前 {rows} 行（结果更多），用时 {seconds} 秒",
        "First {rows} rows shown (there are more), {seconds} s",
    ),
    "console_download_full": (
        "下载完整结果（Excel，最多 {rows} 行）",
        "Download the full result (Excel, up to {rows} rows)",
    ),
    # the audit trail
    "audit_intro": (
        "只追加、不修改的操作记录（{path}），最新的在前。",
        "Append-only record ({path}), newest first.",
    ),
    "audit_at": ("时间（北京时间）", "Time (Beijing)"),
    "audit_event": ("事件", "Event"),
    "audit_user": ("用户", "User"),
    "audit_role": ("角色", "Role"),
    "audit_details": ("详情", "Details"),
    # the upload page
    "upload_intro": (
        "拖入一个或多个报送文件（.xlsx、.xls、.csv）：每个文件立即用数据管道的同一套读取程序检查，"
        "先看它将计为什么，确认后才存入报送目录（从不覆盖已有文件），并在后台重新计算。",
        "Drop one or more submitted files (.xlsx, .xls, .csv): each is checked at once by the pipeline's "
        "own readers; you see what it will count as before it is stored (never over an earlier file) "
        "and recomputed in the background.",
    ),
    "upload_liaison": (
        "县区联络员可以检查任何文件，但只能存入本县区（{region}）单位的材料。",
        "A county liaison may check any file but store only its own region's ({region}) units' files.",
    ),
    "upload_kind": ("类别", "Kind"),
    "upload_kind_auto": ("自动识别", "Detect"),
    "upload_year": ("年度", "Year"),
    "upload_year_auto": ("按文件内写明的年度", "As written in the file"),
    "upload_files": ("报送文件", "Submitted files"),
    "upload_detected": ("{kind}（自动识别）", "{kind} (detected)"),
    "upload_chosen": ("{kind}（指定）", "{kind} (chosen)"),
    "upload_year_file": ("{year}（文件内写明）", "{year} (written in the file)"),
    "upload_year_given": ("{year}（指定）", "{year} (chosen)"),
    "upload_year_none": ("文件中未写明，请在上方选择年度", "Not in the file: choose a year above"),
    "upload_unit_rows": ("{rows} 行", "{rows} rows"),
    "upload_unit_unknown": ("无法确认：{problem}", "Not resolved: {problem}"),
    "upload_rows_label": ("行数", "Rows"),
    "upload_rows": (
        "读入 {read} 行，可用 {usable} 行，拒收 {rejected} 行",
        "{read} rows read, {usable} usable, {rejected} rejected",
    ),
    "upload_total": ("合计（{sheet}）", "Total ({sheet})"),
    "upload_total_value": (
        "表内合计 {declared}；按规则计分 {counted} 分（满分 {max}）",
        "the sheet says {declared}; counted {counted} of {max}",
    ),
    "upload_total_blank": ("未填", "blank"),
    "upload_replaces": ("将替代", "Replaces"),
    "upload_contradictions": ("自评分与记录不符", "Claimed points the records contradict"),
    "upload_no_contradictions": (
        "没有超出会议、报送记录所支持的自评分。",
        "No claim exceeds what the meeting and filing records support.",
    ),
    "upload_issues": ("问题", "Issues"),
    "upload_refused": ("拒收（{code}）：{message}", "Refused ({code}): {message}"),
    "upload_confirm": ("确认存入并重新计算", "Store and recompute"),
    "upload_stored": (
        "已存入 {file}（原文件名 {original}）。",
        "Stored as {file} (original name {original}).",
    ),
    "upload_pending": ("已提交，正在重新计算……", "Submitted; recomputing …"),
    "upload_live": (
        "新数据已生效（发布于 {when}，北京时间）。",
        "The new figures are live (published {when}, Beijing time).",
    ),
    "upload_run_failed": (
        "重新计算未完成（退出码 {code}），看板仍显示上次发布的数据。运行记录在服务器上的 {log}，请转给系统管理员。",
        "The recomputation did not finish (exit code {code}); the dashboard still shows the last publication. "
        "Its log is {log} on the server: pass it to the administrator.",
    ),
    "upload_refresh": ("刷新", "Refresh"),
    "kind_rectifications": ("整改台账", "rectification ledger"),
    # filters
    "filters": ("筛选", "Filters"),
    "year": ("年度", "Year"),
    "region": ("区县", "Region"),
    "role": ("角色", "Role"),
    "level": ("层级", "Level"),
    "all": ("全部", "All"),
    "level_region": ("县（区）", "County/district"),
    "level_department": ("市直部门", "City department"),
    "level_township": ("乡镇（街道）", "Township"),
    "side_party": ("党委", "Party committee"),
    "side_government": ("政府", "Government"),
    "side_department": ("部门", "Department"),
    # a region's score per role: "党委得分" (the role's unit type in Chinese, its side in English)
    "role_score": ("{role}得分", "{role} score"),
    # freshness and empty states
    "published": (
        "数据发布于 {when}（北京时间），来源文件 {files} 个",
        "Published {when} (Beijing time) from {files} files",
    ),
    "no_warehouse": (
        "尚未生成数据仓库。请先运行 `fazhi run`（或 `./dev up`），数据发布后本页自动显示。",
        "No warehouse yet. Run `fazhi run` (or `./dev up`); this page shows the data once published.",
    ),
    "warehouse_unreadable": (
        (
            "数据仓库文件无法读取：文件可能已损坏或不完整，暂时无法显示数据。"
            "请管理员重新运行 `fazhi run` 生成并发布数据；如仍无法打开，请联系法治办。"
        ),
        (
            "The data warehouse cannot be read: the file may be damaged or incomplete, so no data can be shown. "
            "Ask the administrator to run `fazhi run` again to rebuild and publish it; if that does not help, "
            "contact the rule-of-law office."
        ),
    ),
    "page_failed": (
        "本页出现意外错误，暂时无法显示。请刷新页面重试；如仍出现，请联系法治办并告知出错的时间和页面。",
        (
            "This page hit an unexpected error and cannot be shown. Reload to try again; if it happens again, "
            "contact the rule-of-law office with the time and the page."
        ),
    ),
    "no_data_year": (
        "{year} 年度暂无数据（尚未收到或尚未处理该年度的材料）。",
        "No data for {year} yet (nothing received or processed for that year).",
    ),
    "no_rows": ("当前筛选条件下没有数据。", "Nothing matches the current filters."),
    # overview
    "regions_ranked": ("参与排名区县", "Regions ranked"),
    "units_scored": ("已评分单位", "Units scored"),
    "avg_score": ("区县平均分", "Mean region score"),
    "missing_units": ("未报送单位", "Units with no submission"),
    "rejected_files": ("拒收文件", "Rejected files"),
    "top_region": ("第一名", "First place"),
    "bottom_region": ("末位", "Last place"),
    "ranking_chart": ("区县综合得分排名", "Region scores, ranked"),
    "change_chart": ("名次与得分较上年变化", "Change in rank and score since last year"),
    "leaders_laggards": ("谁领先，谁末位", "Who leads, who is last"),
    # ranking
    "regions": ("区县排名", "Region ranking"),
    "units": ("单位排名", "Unit ranking"),
    "rank": ("名次", "Rank"),
    "score": ("综合得分", "Score"),
    "rank_change": ("名次变化", "Rank change"),
    "score_change": ("得分变化", "Score change"),
    "prev_rank": ("上年名次", "Last year's rank"),
    "remark": ("备注", "Remarks"),
    "bottom": ("末位", "Last place"),
    "tie": ("并列", "tied"),
    "not_ranked": ("不排名", "not ranked"),
    "new_entry": ("新", "new"),
    "unit_name": ("单位", "Unit"),
    "unit_id": ("单位编号", "Unit id"),
    "score_rate": ("得分率", "Score rate"),
    "self_score": ("自评分", "Self score"),
    "verified_score": ("核定分", "Verified score"),
    "score_source": ("计分依据", "Score basis"),
    "status": ("状态", "Status"),
    "status_scored": ("已评分", "scored"),
    "status_incomplete": ("不完整", "incomplete"),
    "status_missing": ("缺报", "missing"),
    "status_pending": ("待审", "pending"),
    "status_ranked": ("参与排名", "ranked"),
    "source_self": ("自评", "self"),
    "source_verified": ("核定", "verified"),
    "source_mixed": ("核定+自评", "verified + self"),
    "open_unit": ("选中一行，查看该单位详情", "Select a row to open the unit"),
    "go_unit": ("查看单位详情 →", "Open unit detail →"),
    "circular_download": ("下载排名通报（Excel）", "Download the ranking circular (Excel)"),
    "circular_title": (
        "{year}年度党政主要负责人履行推进法治建设第一责任人职责情况排名通报",
        "{year} ranking of principal leaders' rule-of-law duty performance",
    ),
    "date_label": ("日期", "Date"),
    "policy_label": ("排名规则：", "Ranking policy: "),
    "download_csv": ("下载 CSV", "Download CSV"),
    "download_xlsx": ("下载 Excel", "Download Excel"),
    # weak spots
    "heatmap": ("区县 × 职责 得分率", "Score rate by region × duty group"),
    "heatmap_role": ("考核表", "Score sheet"),
    "duty": ("职责", "Duty group"),
    "task": ("考核事项", "Task"),
    "task_no": ("序号", "No."),
    "units_losing": ("失分单位数", "Units losing points"),
    "lost_points": ("失分", "Points lost"),
    "loss_rate": ("失分单位占比", "Share of units losing points"),
    "tasks_lost": ("失分最多的考核事项", "Tasks lost most often"),
    "reqs_missed": ("未达标最多的制度要求", "Requirements missed most often"),
    "cell_detail": ("选中格子背后的单位与事项", "Units and tasks behind the selected cell"),
    "pick_cell": (
        "点击热力图中的格子，或在此选择区县与职责",
        "Click a heatmap cell, or choose a region and duty group here",
    ),
    "findings": ("短板清单", "Findings"),
    "scope": ("范围", "Scope"),
    "severity": ("严重程度", "Severity"),
    "note": ("说明", "Note"),
    "metric": ("指标", "Metric"),
    "value": ("数值", "Value"),
    # meetings
    "requirement": ("制度要求", "Requirement"),
    "period": ("期间", "Period"),
    "required": ("应达", "Required"),
    "actual": ("实际", "Actual"),
    "met": ("达标", "Met"),
    "met_rate": ("达标率", "Met rate"),
    "compliance_matrix": ("分季度达标矩阵", "Compliance by quarter"),
    "study_matrix": ("每季度学法场次", "Study sessions per quarter"),
    "quarter": ("季度", "Quarter"),
    "sessions": ("场次", "Sessions"),
    "gaps": ("未达标的期间", "Periods not met"),
    "pick_gap_unit": ("选择单位查看缺失期间", "Choose a unit to see the missing periods"),
    "evidence_rows": ("会议与学习记录", "Meeting and study records"),
    "meeting_date": ("日期", "Date"),
    "meeting_kind": ("会议类型（原文）", "Type as written"),
    "topic": ("议题/内容", "Topic"),
    "meeting_types": ("认定为", "Counted as"),
    "is_study": ("学法", "Study"),
    "hours": ("学时", "Hours"),
    "is_duplicate": ("重复登记", "Duplicate"),
    # filings
    "report_type": ("报送事项", "Report"),
    "filing_rate": ("报送率", "Filing rate"),
    "on_time_rate": ("按时率", "On-time rate"),
    "overdue": ("逾期或未报送", "Overdue or not filed"),
    "due_date": ("截止日期", "Due"),
    "filed_date": ("报送日期", "Filed on"),
    "days_late": ("逾期天数", "Days late"),
    "not_filed": ("未报送", "not filed"),
    "normative": ("规范性文件备案", "Normative-document filing"),
    "issued": ("制发", "Issued"),
    "filed": ("已备案", "Filed"),
    "timely_rate": ("及时备案率", "Timely rate"),
    "compliance_rate": ("合规率", "Compliance rate"),
    # unit detail
    "choose_unit": ("选择单位", "Choose a unit"),
    "sheet": ("考核表明细", "Score sheet"),
    "max_points": ("分值", "Points"),
    "points": ("得分", "Score"),
    "self_points": ("自评", "Self"),
    "verified_points": ("核定", "Verified"),
    "evidence_points": ("记录支持", "Records allow"),
    "flag": ("提示", "Flag"),
    "flags": ("自评与记录不符", "Self-score vs records"),
    "history": ("历年得分与名次", "Score and rank over the years"),
    "source_file": ("来源文件", "Source file"),
    "no_unit": ("当前筛选条件下没有单位。", "No unit matches the filters."),
    # quality
    "files_received": ("收到文件", "Files received"),
    "files_loaded": ("已入库", "Loaded"),
    "files_superseded": ("被替代", "Superseded"),
    "files_rejected": ("拒收", "Rejected"),
    "files_partial": ("部分入库", "Partly loaded"),
    "issues": ("问题清单", "Issues"),
    "issue_counts": ("问题按类型", "Issues by type"),
    "issue_totals": (
        "本年度问题 {n} 条，其中错误 {errors} 条（错误使该行或该文件未计入）。",
        "{n} issues this year, {errors} of them errors (an error keeps its row or file out).",
    ),
    "code": ("代码", "Code"),
    "message": ("说明", "Message"),
    "file": ("文件", "File"),
    "row": ("行", "Row"),
    "sheet_name": ("工作表", "Sheet"),
    "unit": ("单位", "Unit"),
    "kind": ("类型", "Kind"),
    "submissions": ("文件清单", "Files"),
    "nothing_submitted": ("未提交材料的单位", "Units that submitted nothing"),
    "issue_detail": ("选中问题所在的文件与行", "The file and row behind the selected issue"),
    "rows_read": ("读入行", "Rows read"),
    "rows_loaded": ("入库行", "Rows loaded"),
    "rows_rejected": ("拒收行", "Rows rejected"),
    "superseded_by": ("被替代为", "Superseded by"),
    "loaded_at": ("入库时间", "Loaded at"),
    "file_status_loaded": ("已入库", "loaded"),
    "file_status_partially_loaded": ("部分入库", "partly loaded"),
    "file_status_rejected": ("拒收", "rejected"),
    "file_status_superseded": ("被替代", "superseded"),
    "kind_score_sheet": ("打分表", "score sheet"),
    "kind_meetings": ("会议学习台账", "meeting ledger"),
    "kind_filings": ("报送登记", "filing register"),
    "kind_normative_docs": ("规范性文件备案", "normative documents"),
    "kind_registry": ("单位名册", "unit registry"),
    "severity_error": ("错误", "error"),
    "severity_high": ("高", "high"),
    "severity_medium": ("中", "medium"),
    "severity_low": ("低", "low"),
    "scope_region": ("区县", "Region"),
    "scope_unit": ("单位", "Unit"),
    "scope_task": ("考核事项", "Task"),
    "scope_requirement": ("制度要求", "Requirement"),
    "subject": ("对象", "Subject"),
    "restatements": ("更正记录", "Restatements"),
    "no_restatements": (
        "本年度已发布的分数和名次没有被更正过。",
        "No published score or rank of this year has been changed.",
    ),
    "restated_at": ("更正时间（北京时间）", "Changed at (Beijing time)"),
    "measure": ("项目", "Measure"),
    "old_value": ("原值", "Was"),
    "new_value": ("新值", "Now"),
    "reason": ("原因", "Why"),
    "restated_notice": (
        "本年度有 {n} 项已发布的分数或名次被更正，详见“数据质量”页的更正记录。",
        (
            "{n} published scores or ranks of this year were changed; see Restatements on the "
            "Data quality page."
        ),
    ),
    "severity_warning": ("提醒", "warning"),
    "error_only": ("只看错误", "Errors only"),
    # feedback to units (the notices)
    "feedback": ("反馈通知", "Feedback to units"),
    "feedback_help": (
        "每个有问题的单位一份通知。同一文件中同类问题较多的合并为一项，列出前几行的行号和总行数；逐行明细见上方的问题清单。",
        (
            "One notice per unit with problems. Many rows of one file with the same problem are one item, with "
            "the first rows and the count; the row-by-row detail is in the issue list above."
        ),
    ),
    "feedback_none": ("本年度没有需要反馈给单位的问题。", "Nothing to tell any unit this year."),
    "feedback_totals": (
        "需反馈单位 {units} 个，反馈事项 {items} 项（涉及 {rows} 行或处）。",
        "{units} units to tell, {items} items ({rows} rows or places).",
    ),
    "feedback_category": ("类别", "Category"),
    "feedback_action": ("处理要求", "What to do"),
    "feedback_resubmit_by": ("重新报送截止", "Resubmit by"),
    "feedback_unit": ("下载哪个单位的通知", "Unit whose notice to download"),
    "feedback_unit_option": ("{region} · {unit}（{n} 项）", "{region} · {unit} ({n} items)"),
    "feedback_download_unit": ("下载反馈通知（Word）", "Download the notice (Word)"),
    "feedback_download_all": (
        "下载全部单位的反馈通知（zip，{n} 份）",
        "Download every unit's notice (zip, {n})",
    ),
    "feedback_unresolved": ("未能对应单位", "Unit not resolved"),
    "feedback_unresolved_help": (
        "这些文件或行所写的单位不在单位名册中，文件名也对不上任何登记单位，无法写入通知：请核实是哪个单位报送的，"
        "或先在单位名册中登记。",
        (
            "These files or rows name a unit the registry does not hold, and their file names name none either, "
            "so no notice can carry them: find out who sent them, or register the unit."
        ),
    ),
    "feedback_unit_text": ("所写单位", "Unit as written"),
    "feedback_rejected_file": ("文件未采用", "File not used"),
    "feedback_error": ("错误（未采用）", "Error (not used)"),
    "feedback_warning": ("提示（已采用，请核对）", "Warning (used; check)"),
    "feedback_missing_submission": ("未报送", "Not submitted"),
    "feedback_evidence_shortfall": ("自评与记录不符", "Self-score beyond the records"),
    # The running year: early warnings and rectification
    "page_warnings": ("预警", "Warnings"),
    "page_rectification": ("整改", "Rectification"),
    "as_of_note": ("以下按 {date} 的记录计算（计算基准日期）。", "Computed from the records as of {date}."),
    "warnings_unavailable": (
        "当前发布的数据中还没有预警（请重新运行 fazhi run）。",
        "The published data has no warnings yet (run fazhi run again).",
    ),
    "warnings_headline": ("本年度预警", "This year's warnings"),
    "warnings_open": ("查看预警明细", "Open the warnings"),
    "warning_states": ("显示的状态", "States shown"),
    "warnings_by_region": ("按县区", "By county/district"),
    "warnings_by_unit": ("按单位：还需做什么、何时之前", "By unit: what is still needed, and by when"),
    "units_warned": ("涉及单位数", "Units"),
    "warning_state": ("状态", "State"),
    "what_is_needed": ("还需", "Still needed"),
    "warning_met": ("已达标", "met"),
    "warning_on_track": ("按计划", "on track"),
    "warning_at_risk": ("有风险", "at risk"),
    "warning_unmet": ("未达标", "unmet"),
    "warning_filed": ("已报送", "filed"),
    "warning_due_soon": ("即将到期", "due soon"),
    "warning_overdue": ("已逾期", "overdue"),
    "warning_not_due": ("未到期", "not yet due"),
    "unit_warnings": ("本年度制度要求与报送", "This year's requirements and filings"),
    "inspection_calendar": ("督察日程", "Inspection calendar"),
    "phase_no": ("序号", "No."),
    "phase": ("阶段", "Phase"),
    "start_date": ("开始", "Starts"),
    "end_date": ("结束", "Ends"),
    "phase_state": ("进度", "Progress"),
    "phase_done": ("已结束", "done"),
    "phase_current": ("进行中", "in progress"),
    "phase_upcoming": ("未开始", "upcoming"),
    "rule_source": ("依据", "Source"),
    "rectification_overdue": ("逾期未完成的整改问题（{n} 项）", "Overdue problems ({n})"),
    "rectification_by_region": ("各县区整改完成情况", "Completion by county/district"),
    "rectification_flags": ("需要补报的单位", "Units that must send more"),
    "rectification_all": ("全部整改问题", "Every problem"),
    "unit_rectifications": ("整改问题", "Rectification problems"),
    "problem": ("问题", "Problem"),
    "problem_source": ("问题来源", "Source"),
    "problem_source_self_check": ("自查", "self-inspection"),
    "problem_source_inspection_feedback": ("督察反馈", "inspection feedback"),
    "problem_source_shufa_review": ("述法评议", "review of the law report"),
    "problem_source_other": ("其他", "other"),
    "rect_measure": ("整改措施", "Measure"),
    "owner": ("责任人", "Responsible"),
    "deadline": ("整改时限", "Deadline"),
    "overdue_days": ("逾期天数", "Days overdue"),
    "rect_items": ("问题数", "Problems"),
    "rect_done": ("已完成", "Done"),
    "rect_overdue": ("逾期未完成", "Overdue"),
    "done_rate": ("完成率", "Done"),
    "rect_on_time_rate": ("按期完成率", "Done on time"),
    "without_problem_list": ("报了自查报告但无问题清单", "Self-inspection report without a problem list"),
    "without_measure": ("督察反馈问题未填整改措施", "Feedback problems without a measure"),
    # the method page
    "page_method": ("方法说明", "Method"),
    "method_one_rulebook": (
        "本次发布（{when}，北京时间）中的每一个年度（{years}）都按同一套规则计算：规则库 {id}，指纹 {fingerprint}。",
        "Every year in this publication ({years}; published {when}, Beijing time) was computed under one "
        "rulebook: {id}, fingerprint {fingerprint}.",
    ),
    "method_rules_changed": (
        "注意：数据发布之后，磁盘上的规则库已经修改（现在的指纹为 {current}）。页面上的数字是按指纹 {published} "
        "的规则计算的；下面的说明按现在的规则写出，可能与这些数字所用的规则不同。重新运行 fazhi run 之后两者一致。",
        "Note: the rules on disk changed after these figures were published (their fingerprint is now "
        "{current}). The figures were computed under fingerprint {published}; the method below is written "
        "from the rules as they are now and may differ from those the figures used. Running fazhi run again "
        "brings the two together.",
    ),
    "method_rulebook_missing": (
        "找不到发布数据所用的规则库 {id}（指纹 {fingerprint}），无法写出方法说明。请法治办核实规则库目录，"
        "或重新运行 fazhi run。",
        "The rulebook these figures were computed with ({id}, fingerprint {fingerprint}) cannot be found, "
        "so the method cannot be written out. Ask the office to check the rulebook folder, or run fazhi run again.",
    ),
    "method_no_rulebook": (
        "本次发布没有记下所用的规则库，无法写出方法说明。重新运行 fazhi run 之后即可查看。",
        "This publication does not record its rulebook, so the method cannot be written out. Run fazhi run "
        "again to see it.",
    ),
    "method_published_policy": ("随数据发布的排名办法", "The ranking policy published with the figures"),
    "method_in_chinese": (
        "方法说明按规则库的原文以中文写出。",
        "The method is written in Chinese, as the rulebook is.",
    ),
    "method_rule_changes": ("规则更新引起的更正", "Figures changed by rule changes"),
    "method_rule_changes_help": (
        "规则库改动后重新发布、并改变了已发布分数或名次的各次发布；逐项明细见“数据质量”页的更正记录。",
        "Publications under changed rules that changed published scores or ranks; each change is listed under "
        "Restatements on the Data quality page.",
    ),
    "method_no_rule_changes": (
        "已发布的分数和名次没有因规则改动而改变过。",
        "No published score or rank has been changed by a rule change.",
    ),
    "method_years": ("各年度所用规则", "The rules each year was scored under"),
    "method_years_help": (
        "每个年度第一次发布（据此印发通报）时所用的规则库，和本次发布计算时所用的规则库。",
        "For each year, the rulebook its figures were first published (and its circular issued) under, and "
        "the one this publication computed them under.",
    ),
    "method_years_not_kept": (
        "这个数据仓库没有记下各年度所用的规则库（它的发布早于这项记录）。重新运行 fazhi run 之后开始记录。",
        "This warehouse does not record the rulebook of each year (it was published before that was kept). "
        "Running fazhi run again starts the record.",
    ),
    "method_years_same": (
        "各年度第一次发布时所用的规则与本次计算所用的相同，相邻年度第一次发布时所用的规则也相同。",
        "Every year was first published under the rules it is computed under now, and consecutive years were "
        "first published under the same rules.",
    ),
    "method_rulebook_label": (
        "{id} 第{version}版（指纹 {fingerprint}）",
        "{id} version {version} (fingerprint {fingerprint})",
    ),
    "method_rulebook_label_unversioned": ("{id}（指纹 {fingerprint}）", "{id} (fingerprint {fingerprint})"),
    "method_first_rulebook": ("首次发布所用规则", "First published under"),
    "method_first_published_at": ("首次发布时间（北京时间）", "First published (Beijing time)"),
    "method_current_rulebook": ("本次计算所用规则", "Computed now under"),
    "method_year_rescored": (
        "注意：{years}年度的数字第一次发布时按规则库 {first} 计算，当时印发的通报用的是这套规则；本次发布按 "
        "{current} 重新计算，页面上的数字与已印发通报中的可能不同。改动了的规则：",
        "Note: the figures of {years} were first published under rulebook {first}, and their circulars were "
        "issued under those rules; this publication recomputed them under {current}, so the figures shown may "
        "differ from the circulars already issued. The rules that changed (as the rulebook words them):",
    ),
    "method_years_differ": (
        "注意：{previous}年度和{year}年度第一次发布时所用的规则不同（{previous}年度：{first_previous}；{year}年度："
        "{first}），两份通报中的数字是按不同的规则计算的，用{year}年度的通报与{previous}年度的通报比较时要注意。"
        "改动了的规则：",
        "Note: {previous} and {year} were first published under different rules ({previous}: {first_previous}; "
        "{year}: {first}); the two circulars' figures were computed under different rules, so compare them with "
        "care. The rules that changed (as the rulebook words them):",
    ),
    "method_changes_unknown": (
        "规则库（指纹 {fingerprint}）的各项规则没有记下，无法列出改动。",
        "What the rulebook with fingerprint {fingerprint} said was not recorded, so its changes cannot be listed.",
    ),
    "method_changes_unlisted": (
        "所列各项规则都相同，改动在没有列出的内容中（如会议类型的识别词、规则的依据）。",
        "Every listed rule is the same; the change is in what is not listed (such as the words that identify a "
        "meeting type, or a rule's source).",
    ),
    # stability, tiers, coverage, what it would take
    "coverage_regions": ("{ranked}/{total} 个县区参与排名", "{ranked} of {total} regions ranked"),
    "coverage_units": ("{ranked}/{total} 个单位参与排名", "{ranked} of {total} units ranked"),
    "coverage_help": (
        "待审：打分表尚未到应报日期，暂不排名；缺报：已过应报日期仍未报送，不排名并在通报中列出。",
        "Pending: the score sheet is not due yet, so not ranked for now; missing: overdue, not ranked and "
        "listed in the circular.",
    ),
    "band": ("名次区间", "Rank band"),
    "band_help": (
        "按规则库声明的不确定性（核定分与自评分不一致、与记录不符的申报分、可变权重）模拟 {draws} 次重新排名，"
        "名次的 5%–95% 区间；区间相互重叠的为同一梯队。",
        "Ranks in {draws} simulated re-rankings over the uncertainties the rulebook declares (verified vs self "
        "score, claims the records contradict, weight ranges): the 5–95 % band; overlapping bands form a tier.",
    ),
    "tier": ("梯队", "Tier"),
    "change_stability": ("变化判断", "Change"),
    "stable": ("基本稳定", "Stable"),
    "beyond_band": ("超出区间", "Beyond the band"),
    "bottom_distinct": ("末位（与上一名可区分）", "Last place (distinguishable from the one above)"),
    "bottom_close": (
        "末位（与上一名差距在模拟误差内）",
        "Last place (within the simulation's error of the one above)",
    ),
    "bottom_distinct_note": (
        "末位 {name}：{share} 的模拟中得分低于上一名，可以区分。",
        "Last place {name}: scores below the place above in {share} of the draws, distinguishable.",
    ),
    "bottom_close_note": (
        "末位 {name}：仅 {share} 的模拟中得分低于上一名，与上一名的差距在模拟误差之内，不宜单独认定为末位。",
        "Last place {name}: scores below the place above in only {share} of the draws; the gap is within the "
        "simulation's error.",
    ),
    "band_of": ("名次区间 {low}–{high}，{tier}", "Rank band {low}–{high}, {tier}"),
    "applicable_note": (
        "不适用的任务不计入满分：适用满分 {applicable}（满分 {max}），得分率 {rate}，折算得分 {scaled}。",
        "Tasks that do not apply leave the denominator: {applicable} of {max} points apply, score rate {rate}, "
        "scaled score {scaled}.",
    ),
    "improvement": ("提分路径", "What it would take"),
    "improvement_help": (
        "按难易排序（规则库的难度设定，其次分值大者在前）；“可达得分/名次”为依次完成到该项、其他对象不变时的结果；"
        "“最少提升一名”标出分值最大的最少几项。",
        "Easiest first (the rulebook's effort, then the most points); the score and rank after each step, "
        "everyone else unchanged; the smallest set (largest first) that would lift it one place is marked.",
    ),
    "improvement_totals": (
        "共 {items} 项，可提 {points} 分；最少 {lift_items} 项（{lift_points} 分）即可前进至少一名。",
        "{items} items worth {points} points; {lift_items} of them ({lift_points} points) would lift it at "
        "least one place.",
    ),
    "improvement_totals_no_lift": (
        "共 {items} 项，可提 {points} 分；已居第一或无法靠这些事项前进一名。",
        "{items} items worth {points} points; already first, or these items cannot lift it a place.",
    ),
    "improvement_none": ("没有可提分的事项。", "Nothing left to gain."),
    "choose_region": ("选择县区", "Choose a region"),
    "step": ("步骤", "Step"),
    "item": ("事项", "Item"),
    "improvement_kind": ("类型", "Kind"),
    "path_kind_meeting": ("补开会议", "hold a meeting"),
    "path_kind_filing": ("报送报告", "file a report"),
    "path_kind_record": ("补交记录", "submit a record"),
    "path_kind_task": ("补齐工作", "complete the task"),
    "action": ("怎么做", "What to do"),
    "points_gained": ("可提分", "Points"),
    "score_after": ("可达得分", "Score after"),
    "rank_after": ("可达名次", "Rank after"),
    "in_smallest_lift": ("最少提升一名", "Smallest lift"),
    "circular_docx_download": ("下载正式通报（Word）", "Download the formal circular (Word)"),
    "previously_published_at": ("原发布时间（北京时间）", "Previously published (Beijing time)"),
    "restated_years": ("涉及年度", "Years"),
    "restated_changes": ("改变的分数和名次", "Scores and ranks changed"),
}

LANGS = ("zh", "en")
# The language a download is built in: set while a file is built after the script run that offered it.
_SPEAKING: ContextVar[str | None] = ContextVar("fazhi_language", default=None)


@contextmanager
def speaking(language: str) -> Iterator[None]:
    """Text made within is in `language`, outside any script run (a download built when it is clicked)."""
    token = _SPEAKING.set(language)
    try:
        yield
    finally:
        _SPEAKING.reset(token)


def lang() -> str:
    return _SPEAKING.get() or st.session_state.get("lang", "zh")


def t(key: str, **values) -> str:
    zh, en = TEXT[key]
    text = en if lang() == "en" else zh
    return text.format(**values) if values else text


def label(prefix: str, value) -> str:
    """The user's word for a coded value (role, file status, kind …); the code itself when there is none."""
    key = f"{prefix}_{value}"
    return t(key) if key in TEXT else ("" if value is None or pd.isna(value) else str(value))


def labels(prefix: str, values: pd.Series) -> pd.Series:
    """`label` of each value of a column, each distinct value looked up once (pages of hundreds of rows)."""
    words = {v: label(prefix, v) for v in values.dropna().unique()}
    return values.map(words).fillna("")


class RoleLabels(dict):
    """Role → its word; a role the rulebook does not know reads as its code, a missing one as nothing (so that
    `series.map(labels)` and `labels[role]` never fail)."""

    def __missing__(self, role) -> str:
        return "" if is_missing(role) else str(role)


def role_labels() -> RoleLabels:
    """Role → the user's word for it. Chinese: the rulebook's name of the role, less 主要负责人. English: the
    words for its level and side, unless English has none or the rulebook gives that pair to several roles
    (then the Chinese name, so that no two roles read alike)."""
    roles = data.roles()
    names = {
        r: str(r) if is_missing(n) else (str(n).removesuffix(DUTY_HOLDER) or str(n))
        for r, n in zip(roles["role"], roles["name"], strict=False)
    }
    if lang() != "en":
        return RoleLabels(names)
    pairs = roles["level"].astype(str) + "." + roles["side"].astype(str)
    shared = set(pairs[pairs.duplicated()])
    return RoleLabels(
        {
            r: names[r] if p in shared else ROLE_EN.get(p, names[r])
            for r, p in zip(roles["role"], pairs, strict=False)
        }
    )


def role_label(role: str | None) -> str:
    """One role's word (see `role_labels`)."""
    return role_labels()[role]


def region_score_label(role: str) -> str:
    """Heading of a region's score from one of its roles: 党委得分 (the role's unit type), Party committee score."""
    roles = data.roles().set_index("role")
    if lang() == "en":
        return t("role_score", role=label("side", roles.at[role, "side"]))
    return t("role_score", role=roles.at[role, "unit_type"])


def fmt_rank(rank, tied: bool) -> str:
    if is_missing(rank):
        return t("not_ranked")
    return (
        f"{int(rank)}（{t('tie')}）"
        if tied and lang() == "zh"
        else (f"{int(rank)} ({t('tie')})" if tied else str(int(rank)))
    )
