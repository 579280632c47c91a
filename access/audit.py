"""The audit trail: who did what, when. One JSON object per line, appended to access_dir()/audit.jsonl.

Append-only: the file is opened with O_APPEND and nothing in the product rewrites or truncates it; it
lives beside the accounts, outside the warehouse, so no publication drops it. Each entry: time (UTC),
event, user, role, and the event's details (e.g. a console query's text, row count and duration).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from access.policy import access_dir

if TYPE_CHECKING:
    import pandas as pd

# The events the product records, with their Chinese label for the audit page.
EVENTS = {
    "sign_in": "登录成功",
    "sign_in_failed": "登录失败",
    "sign_in_locked": "账户锁定",
    "sign_out": "退出登录",
    "session_expired": "会话超时",
    "export": "下载导出",
    "console_query": "SQL 查询",
    "console_refused": "SQL 查询被拒绝",
    "recompute": "重新计算",
    "upload": "上传报送文件",
    "accounts": "账户管理",
}
MAX_DETAIL_CHARS = 4000  # a console query's text is kept, up to this long


def audit_file() -> Path:
    return access_dir() / "audit.jsonl"


def record(event: str, user: str | None, role: str | None, **details) -> None:
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    entry = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "event": event,
        "user": user,
        "role": role,
        **{k: (v[:MAX_DETAIL_CHARS] if isinstance(v, str) else v) for k, v in details.items()},
    }
    line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    path = audit_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)  # one write of one line: concurrent writers never interleave within it
    finally:
        os.close(fd)


def entries(limit: int = 2000) -> pd.DataFrame:
    """The latest `limit` entries, newest first, details as one text column."""
    import pandas as pd  # here: every `fazhi` command loads this module, few read the trail

    path = audit_file()
    columns = ["at", "event", "user", "role", "details"]
    if not path.exists():
        return pd.DataFrame(columns=columns)
    rows = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = fh.readlines()[-limit:]
    for line in reversed(lines):
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
        base = {k: e.pop(k, None) for k in ("at", "event", "user", "role")}
        rows.append({**base, "details": json.dumps(e, ensure_ascii=False) if e else ""})
    return pd.DataFrame(rows, columns=columns)
