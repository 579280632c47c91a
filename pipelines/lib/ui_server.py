"""The Dagster webserver behind the product's sign-in, for `fazhi ui`.

Dagster's webserver has no sign-in and answers GraphQL mutations from any origin, even sent as GET: any
web page open in the clerk's browser could start runs on it. Here the same webserver app is wrapped in
a guard (an ASGI middleware, so plain requests and the UI's websocket alike pass through it) that:
- asks for an account of the dashboard (HTTP Basic, checked against access/accounts.py) whose role holds
  the `recompute` capability, and remembers a checked credential for a few minutes (argon2 is slow on
  purpose);
- refuses a request whose Origin is not this server's own (cross-site POSTs and websockets);
- refuses a GraphQL mutation sent as GET (a link or an <img> could otherwise send one);
- records in the audit trail each request that launches or re-executes a run, with the user.
The daemon (schedule, sensor, run queue) runs beside it as a child process that dies with it.

The instance's configuration, DAGSTER_HOME/dagster.yaml, is made in one place (`prepare_instance`):
the repository's dagster.yaml, linked as it is (run history, event log and schedule state in SQLite
files under DAGSTER_HOME), or, when FAZHI_PG_HOST is set, a copy of it with a `storage: postgres:`
block whose every setting is an `env:` reference to the FAZHI_PG_* variables (no password is ever
written to the file).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote

REPO_CONFIG = Path(__file__).resolve().parents[2] / "dagster.yaml"
# The instance's PostgreSQL connection: Dagster's postgres_db setting → the variable it is read from.
PG_SETTINGS = {
    "hostname": "FAZHI_PG_HOST",
    "port": "FAZHI_PG_PORT",
    "username": "FAZHI_PG_USER",
    "password": "FAZHI_PG_PASSWORD",
    "db_name": "FAZHI_PG_DB",
}
PG_REQUIRED = ("FAZHI_PG_HOST", "FAZHI_PG_USER", "FAZHI_PG_DB")
GENERATED = "# Written by `fazhi ui` from the repository's dagster.yaml"

CAPABILITY = "recompute"
LAUNCH = re.compile(rb"launch(Run|PipelineExecution|RunReexecution|MultipleRuns|PartitionBackfill)\b")
REMEMBER_SECONDS = 300.0
REALM = 'Basic realm="fazhi-dagster", charset="UTF-8"'


def refusal(
    method: str, path: str, query: bytes, headers: Mapping[str, str], own_origins: set[str]
) -> str | None:
    """Why a request must be refused before it reaches Dagster, or None. Pure: the tests call it directly."""
    origin = headers.get("origin")
    if origin is not None and origin not in own_origins:
        return "cross-origin"
    if method == "GET" and path.rstrip("/").endswith("/graphql"):
        params = parse_qs(unquote(query.decode("latin-1")))
        text = " ".join(params.get("query", [])).lower()
        if "mutation" in text:
            return "mutation-over-get"
    return None


class Guard:
    """ASGI middleware in front of the Dagster webserver app."""

    def __init__(self, app, accounts, own_origins: set[str]):
        self.app = app
        self.accounts = accounts
        self.own_origins = own_origins
        self._checked: dict[str, tuple[float, str, str]] = {}

    def _signed_in(self, headers: Mapping[str, str]) -> tuple[str, str] | None:
        """(user, role) of a valid credential holding the capability, or None."""
        value = headers.get("authorization", "")
        if not value.lower().startswith("basic "):
            return None
        key = hashlib.sha256(value.encode()).hexdigest()
        until, user, role_key = self._checked.get(key, (0.0, "", ""))
        if until > time.monotonic():
            return user, role_key
        try:
            name, _, password = base64.b64decode(value[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        result = self.accounts.sign_in(name, password)
        if result.account is None:
            return None
        from access.policy import load_policy

        role = load_policy().roles.get(result.account.role)
        if role is None or CAPABILITY not in role.can:
            return None
        if len(self._checked) > 1000:
            self._checked.clear()
        self._checked[key] = (time.monotonic() + REMEMBER_SECONDS, result.account.name, role.key)
        return result.account.name, role.key

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method = scope.get("method", "GET") if scope["type"] == "http" else "WEBSOCKET"
        why = refusal(
            method, scope.get("path", ""), scope.get("query_string", b""), headers, self.own_origins
        )
        who = self._signed_in(headers) if why is None else None
        if why is None and who is None:
            why = "sign-in"
        if why is None and who is not None:
            if method == "POST" and scope.get("path", "").rstrip("/").endswith("/graphql"):
                receive = await self._audit_launches(receive, *who)
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return None
        status = 401 if why == "sign-in" else 403
        body = json.dumps({"refused": why}).encode()
        extra = [(b"www-authenticate", REALM.encode())] if status == 401 else []
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *extra],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return None

    @staticmethod
    async def _audit_launches(receive, user: str, role: str):
        """Read the request body (GraphQL requests are small), record a run launch, hand the body on."""
        messages, more = [], True
        while more:
            message = await receive()
            messages.append(message)
            more = message.get("type") == "http.request" and message.get("more_body", False)
        body = b"".join(m.get("body", b"") for m in messages)
        launch = LAUNCH.search(body)
        if launch and b"mutation" in body.lower():
            from access import audit

            audit.record("recompute", user, role, via="dagster_ui", mutation=launch.group(0).decode())

        async def replay():
            return messages.pop(0) if messages else await receive()

        return replay


class InstanceConfigError(ValueError):
    """The instance cannot be configured as asked: one sentence for the operator."""


@dataclass(frozen=True)
class Storage:
    """Where the instance keeps run history, the event log and schedule and sensor state."""

    postgres: bool
    where: str  # for the operator: user@host:port/db, or the SQLite folder

    def describe(self) -> str:
        return f"PostgreSQL {self.where}" if self.postgres else f"SQLite（{self.where}）"


def postgres_settings(env: Mapping[str, str]) -> dict[str, str] | None:
    """The FAZHI_PG_* variables that are set (port 5432 when not given), or None when FAZHI_PG_HOST
    is not set: the instance then stays on SQLite."""
    if not env.get("FAZHI_PG_HOST"):
        return None
    missing = [name for name in PG_REQUIRED if not env.get(name)]
    if missing:
        raise InstanceConfigError(
            f"已设置 FAZHI_PG_HOST，但缺少 {'、'.join(missing)}：PostgreSQL 的主机、用户和数据库都必须给出"
            "（FAZHI_PG_PORT 默认 5432，FAZHI_PG_PASSWORD 可不设）。"
        )
    port = env.get("FAZHI_PG_PORT") or "5432"
    if not port.isdigit():
        raise InstanceConfigError(f"FAZHI_PG_PORT 应为端口号（如 5432），现为：{port}。")
    return {name: env[name] for name in PG_SETTINGS.values() if env.get(name)} | {"FAZHI_PG_PORT": port}


def instance_config(settings: Mapping[str, str]) -> str:
    """The repository's dagster.yaml with the instance storage on PostgreSQL, read from the FAZHI_PG_*
    variables when Dagster loads it (each process of `fazhi ui` has them in its environment)."""
    lines = [f"{GENERATED}, with storage on PostgreSQL (FAZHI_PG_*).", "# Changes go there.", ""]
    lines.append(REPO_CONFIG.read_text(encoding="utf-8").rstrip())
    lines += ["", "# Run history, event log, schedule and sensor state: PostgreSQL.", "storage:"]
    lines += ["  postgres:", "    postgres_db:"]
    for setting, variable in PG_SETTINGS.items():
        if variable in settings:
            lines.append(f"      {setting}:\n        env: {variable}")
    # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; the driver installed is psycopg2.
    lines.append("      scheme: postgresql+psycopg2")
    return "\n".join(lines) + "\n"


def prepare_instance(home: Path, env: Mapping[str, str]) -> Storage:
    """Make DAGSTER_HOME/dagster.yaml for `fazhi ui` and say where the instance keeps its storage.

    Without FAZHI_PG_HOST: a link to the repository's dagster.yaml (SQLite under DAGSTER_HOME), made when
    there is none; a dagster.yaml the operator put there is left as it is, one this function wrote for
    PostgreSQL is replaced by the link. With it: that file, written anew at every start; an operator's
    own dagster.yaml is not overwritten (InstanceConfigError)."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    ours = config.is_file() and not config.is_symlink() and _generated(config)
    settings = postgres_settings(env)
    if settings is None:
        if ours:
            config.unlink()
        if not config.exists() and not config.is_symlink():
            config.symlink_to(REPO_CONFIG)
        return Storage(False, str(home))
    if config.exists() and not ours and not (config.is_symlink() and config.resolve() == REPO_CONFIG):
        raise InstanceConfigError(
            f"{config} 是另行编写的实例配置，未改动；要用 FAZHI_PG_* 设置的 PostgreSQL，请先移走该文件。"
        )
    text = instance_config(settings)
    tmp = config.with_name(f".dagster.yaml.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, config)  # replaces the link itself, never the repository's file
    where = f"{settings['FAZHI_PG_USER']}@{settings['FAZHI_PG_HOST']}:{settings['FAZHI_PG_PORT']}/{settings['FAZHI_PG_DB']}"
    return Storage(True, where)


def check_postgres(env: Mapping[str, str]) -> str | None:
    """Why the instance's PostgreSQL cannot be reached with the FAZHI_PG_* settings, or None."""
    settings = postgres_settings(env)
    if settings is None:
        return None
    import psycopg2

    try:
        psycopg2.connect(
            host=settings["FAZHI_PG_HOST"],
            port=int(settings["FAZHI_PG_PORT"]),
            user=settings["FAZHI_PG_USER"],
            password=settings.get("FAZHI_PG_PASSWORD", ""),
            dbname=settings["FAZHI_PG_DB"],
            connect_timeout=10,
        ).close()
    except psycopg2.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"无法连接 PostgreSQL（{settings['FAZHI_PG_HOST']}:{settings['FAZHI_PG_PORT']}/{settings['FAZHI_PG_DB']}）：{reason}"
    return None


def _generated(config: Path) -> bool:
    with open(config, encoding="utf-8", errors="replace") as fh:
        return fh.readline().startswith(GENERATED)


def main(host: str, port: int) -> None:
    import subprocess

    import uvicorn
    from dagster import DagsterInstance
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster_webserver.app import create_app_from_workspace_process_context

    from access.accounts import Accounts
    from pipelines.lib.services import die_with_parent

    daemon_cli = os.path.join(os.path.dirname(sys.executable), "dagster-daemon")
    daemon = subprocess.Popen(
        [daemon_cli, "run", "-m", "pipelines.definitions"],
        preexec_fn=die_with_parent,  # noqa: PLW1509 (one prctl call, no locks taken)
    )
    try:
        with DagsterInstance.get() as instance:
            target = ModuleTarget(
                module_name="pipelines.definitions",
                attribute=None,
                working_directory=None,
                location_name="fazhi",
            )
            with WorkspaceProcessContext(instance, workspace_load_target=target) as context:
                app = create_app_from_workspace_process_context(context, "", None)
                origins = {f"http://{host}:{port}", f"http://localhost:{port}", f"http://127.0.0.1:{port}"}
                uvicorn.run(Guard(app, Accounts(), origins), host=host, port=port, log_level="warning")
    finally:
        daemon.terminate()
        try:
            daemon.wait(15)
        except subprocess.TimeoutExpired:
            daemon.kill()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
