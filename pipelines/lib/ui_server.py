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
from urllib.parse import parse_qs, unquote

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
