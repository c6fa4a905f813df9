"""Query parameters taken as written: one value each, integers as plain digits.

FastAPI keeps the last of a repeated scalar parameter (`?offset=5&offset=0` reads as 0) and
Pydantic's lax integers accept `0.0`, ` 7` or `1_000`. A client that sends either has a bug
it should hear about, and the hot reads (src/api/hot_reads.py) hand exactly these requests
to FastAPI, so both paths answer them with the same 422.
"""

from __future__ import annotations

import re
from collections import Counter

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

PLAIN_DIGITS = re.compile(r"-?[0-9]+")  # a sign so that -5 is "too small", not "not a number"


def _plain_digits(value: object) -> object:
    if isinstance(value, str) and not PLAIN_DIGITS.fullmatch(value):
        raise PydanticCustomError("int_parsing", "must be an integer")
    return value


# Metadata for an `Annotated[int, Query(...), DIGITS_ONLY]` query parameter.
DIGITS_ONLY = BeforeValidator(_plain_digits)


async def _each_parameter_once(request: Request) -> None:
    """422 naming every declared query parameter the request repeats."""
    declared = _declared_names(request)
    counts = Counter(name for name, _ in request.query_params.multi_items() if name in declared)
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        raise RequestValidationError(
            [
                {
                    "type": "repeated_parameter",
                    "loc": ("query", name),
                    "msg": "must be given only once",
                    "input": request.query_params.getlist(name),
                }
                for name in repeated
            ]
        )


def _declared_names(request: Request) -> frozenset[str]:
    """The query parameters the matched route declares (FastAPI puts the route in the scope)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    params = getattr(dependant, "query_params", ())
    return frozenset(param.alias for param in params)


# Put on a route with `dependencies=[EACH_PARAMETER_ONCE]`.
EACH_PARAMETER_ONCE = Depends(_each_parameter_once)
