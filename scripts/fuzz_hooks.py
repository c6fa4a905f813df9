"""Schemathesis hooks for scripts/fuzz: headers whose valid values depend on server state.

A generated `Idempotency-Key` is drawn from its schema, so the same value comes back with other
requests, which the server rightly refuses (422: a key names one request). Before each call, a
valid key is replaced by a fresh one, so every request the fuzzer means as valid is; an invalid
one (the negative cases) is sent as drawn, to be refused. A drawn `If-Match` names no tag the
server ever sent (412, rightly): `*` is sent instead. Replays and stale tags have their own
tests (tests/api/test_idempotency.py, tests/api/test_conditional_requests.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import jsonschema
import schemathesis
from schemathesis.generation.meta import CoveragePhaseData, CoverageScenario

from src.api.idempotency_docs import PARAMETER
from src.services.idempotency import KEY_FIELD

_KEY_SCHEMA = jsonschema.Draft202012Validator(PARAMETER["schema"])


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:  # noqa: ARG001 - the spec's names
    headers = case.headers
    # A case meant to miss a parameter (the check that a missing Authorization is refused)
    # stays exactly as drawn: an edit makes schemathesis revalidate it as a complete request,
    # and it then sends the configured credential after all.
    if not headers or _misses_a_parameter(case):
        return
    key = headers.get(KEY_FIELD)
    if key is not None and _KEY_SCHEMA.is_valid(key):
        headers[KEY_FIELD] = str(uuid.uuid4())
    if "If-Match" in headers:
        headers["If-Match"] = "*"


def _misses_a_parameter(case: Any) -> bool:
    data = getattr(getattr(getattr(case, "meta", None), "phase", None), "data", None)
    return (
        isinstance(data, CoveragePhaseData) and data.scenario == CoverageScenario.MISSING_PARAMETER
    )
