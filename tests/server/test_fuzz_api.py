"""Schemathesis against the OpenAPI document the collector serves: no request it can
generate, valid or not, gets a 5xx, on either database.

Writes go with the host token of ``web-1`` and every generated record's ``host`` set to
``web-1`` first, so that they get past authorization and reach the store; reads go with a
read token, and once more without one to an app made with ``local=True``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err

from kexec_lineage.fleet.store import Store
from kexec_lineage.server.app import create_app
from tests.server.conftest import Tokens, bearer

# Examples per operation and generation mode: the two databases in well under a minute.
MAX_EXAMPLES = {"sqlite": 60, "postgresql": 40}


def own_host(body: Any, host: str) -> None:
    """Point every record of a generated batch at ``host``, in place."""
    if isinstance(body, dict):
        for records in body.values():
            if isinstance(records, list):
                for record in records:
                    if isinstance(record, dict):
                        record["host"] = host


class Fuzzer:
    """Runs one operation's generated cases against the app and tallies the answers."""

    def __init__(self, tokens: Tokens, local_app: FastAPI, max_examples: int) -> None:
        self.tokens = tokens
        self.local_app = local_app
        self.max_examples = max_examples
        self.statuses: Counter[tuple[str, str, int]] = Counter()

    def run(self, operation: Any, mode: GenerationMode) -> None:
        @settings(
            max_examples=self.max_examples,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def fuzz(case: Any) -> None:
            if case.method.upper() == "POST":
                own_host(case.body, "web-1")
                calls: list[dict[str, Any]] = [{"headers": bearer(self.tokens.web1)}]
            else:
                calls = [{"headers": bearer(self.tokens.read)}, {"app": self.local_app}]
            for kwargs in calls:
                response = case.call(**kwargs)
                self.statuses[(operation.label, mode.value, response.status_code)] += 1
                case.validate_response(response, checks=[not_a_server_error])

        fuzz()

    def count(self, *, write: bool, mode: str | None = None, status: int | None = None) -> int:
        return sum(
            n
            for (label, m, s), n in self.statuses.items()
            if label.startswith("POST") == write and mode in (None, m) and status in (None, s)
        )


def test_fuzzed_requests_get_no_server_error(
    db_url: str,
    app: FastAPI,
    store: Store,
    tokens: Tokens,
    capsys: pytest.CaptureFixture[str],
) -> None:
    database = db_url.split(":", 1)[0].split("+", 1)[0]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    fuzzer = Fuzzer(tokens, create_app(store, local=True), MAX_EXAMPLES[database])
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            pytest.fail(f"the served OpenAPI document is invalid: {result.err()}")
        operations.append(result.ok())
    assert {op.label for op in operations} == {
        "POST /v1/boots",
        "POST /v1/crashes",
        "GET /v1/hosts/{host}/chain",
        "GET /v1/transitions",
        "GET /v1/analysis",
        "GET /healthz",
        "GET /metrics",
    }
    for operation in operations:
        fuzzer.run(operation, GenerationMode.POSITIVE)
        # Negative cases need something to break: a body or a path parameter.
        if operation.method.upper() == "POST" or "{" in operation.path:
            fuzzer.run(operation, GenerationMode.NEGATIVE)

    stored = fuzzer.count(write=True, status=200)
    with capsys.disabled():
        total = fuzzer.count(write=True) + fuzzer.count(write=False)
        print(f"\nschemathesis ({database}): {total} requests, {stored} writes stored")
        for (label, mode, status), n in sorted(fuzzer.statuses.items()):
            print(f"  {label} [{mode}] {status}: {n}")
    # Not a run of 403s and 422s: most valid writes reach the store.
    assert stored >= fuzzer.count(write=True, mode="positive") // 2
