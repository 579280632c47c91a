"""The guard in front of the Dagster webserver: which requests never reach it (pipelines/lib/ui_server.py).
The real server is exercised in test_operations.py (fazhi ui)."""

from urllib.parse import urlencode

import pytest

from pipelines.lib.ui_server import refusal

OWN = {"http://127.0.0.1:3000", "http://localhost:3000"}
LAUNCH = 'mutation { launchRun(executionParams: {selector: {jobName: "refresh"}}) { __typename } }'


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "why"),
    [
        ("GET", "/graphql", urlencode({"query": LAUNCH}), {}, "mutation-over-get"),
        ("GET", "/graphql/", urlencode({"query": LAUNCH.upper()}), {}, "mutation-over-get"),
        ("GET", "/graphql", urlencode({"query": "{ version }"}), {}, None),
        ("POST", "/graphql", "", {"origin": "http://evil.example"}, "cross-origin"),
        ("POST", "/graphql", "", {"origin": "null"}, "cross-origin"),
        ("WEBSOCKET", "/graphql", "", {"origin": "http://evil.example"}, "cross-origin"),
        ("POST", "/graphql", "", {"origin": "http://127.0.0.1:3000"}, None),
        ("POST", "/graphql", "", {}, None),  # no Origin: not a browser's cross-site request
        ("GET", "/runs", "", {}, None),
    ],
)
def test_refusal(method, path, query, headers, why):
    assert refusal(method, path, query.encode(), headers, OWN) == why
