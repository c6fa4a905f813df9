"""Query parameters, declared once: a route's FastAPI signature and the hot path's parser both
come from the same declaration, so neither door can read a parameter the other ignores.

FastAPI keeps the last of a repeated scalar parameter (`?offset=5&offset=0` reads as 0) and
Pydantic's lax integers accept `0.0`, ` 7` or `1_000`. A client that sends either has a bug
it should hear about: the FastAPI side answers both with a 422, and the hot parser hands exactly
these requests (and every other one that is not plainly valid) to FastAPI, so both doors answer
them alike (docs/performance.md, "The request path").
"""

from __future__ import annotations

import inspect
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from src.services import cursors

MAX_TEXT_LENGTH = 255
PLAIN_DIGITS = re.compile(r"-?[0-9]+")  # a sign so that -5 is "too small", not "not a number"

# Every declared parameter by name, its default when the request leaves it out.
QueryValues = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class IntParam:
    """An integer within [ge, le], written as plain digits; `default` None: absent means no
    bound at all (comments' `limit`). `past_le`: the message for a number above `le`, when
    it should say more than the bound."""

    name: str
    description: str
    default: int | None
    ge: int
    le: int
    past_le: str | None = None

    def of(self, values: QueryValues) -> int:
        number: int = values[self.name]
        return number

    def given(self, values: QueryValues) -> int | None:
        number: int | None = values[self.name]
        return number


@dataclass(frozen=True, slots=True)
class TextParam:
    """Optional text of at most `max_length` characters."""

    name: str
    description: str
    max_length: int = MAX_TEXT_LENGTH

    def of(self, values: QueryValues) -> str | None:
        text: str | None = values[self.name]
        return text


@dataclass(frozen=True, slots=True)
class CursorParam:
    """An opaque cursor (src/services/cursors.py), bounded in length before anything decodes it."""

    name: str
    description: str
    max_length: int

    def of(self, values: QueryValues) -> str | None:
        text: str | None = values[self.name]
        return text


Param = IntParam | TextParam | CursorParam


class NotPlain(Exception):
    """The request's parameters are not plainly valid: FastAPI answers it."""


def _digits_within(param: IntParam) -> BeforeValidator:
    """Plain digits only, and a number with more digits than the bounds refused by its bound
    before int() or Pydantic reads it (its cost and Pydantic's message grow with the input)."""
    width = len(str(max(abs(param.ge), abs(param.le))))

    def too_large() -> PydanticCustomError:
        if param.past_le is not None:  # the errors' envelope shows a custom type's message
            return PydanticCustomError("past_maximum", param.past_le)
        return PydanticCustomError("less_than_equal", "too large", {"le": param.le})

    def check(value: object) -> object:
        if not isinstance(value, str):
            return value
        if not PLAIN_DIGITS.fullmatch(value):
            raise PydanticCustomError("int_parsing", "must be an integer")
        negative = value.startswith("-")
        digits = value.removeprefix("-").lstrip("0") or "0"
        if len(digits) > width:
            if negative:
                raise PydanticCustomError("greater_than_equal", "too small", {"ge": param.ge})
            raise too_large()
        number = -int(digits) if negative else int(digits)
        if number > param.le and param.past_le is not None:
            raise too_large()
        return number

    return BeforeValidator(check)


def _annotation(param: Param) -> Any:
    """The parameter's FastAPI annotation: its type, bounds and documentation."""
    if isinstance(param, IntParam):
        query = Query(ge=param.ge, le=param.le, description=param.description)
        if param.default is None:
            return Annotated[int | None, query, _digits_within(param)]
        return Annotated[int, query, _digits_within(param)]
    query = Query(max_length=param.max_length, description=param.description)
    return Annotated[str | None, query]


def _default(param: Param) -> int | None:
    return param.default if isinstance(param, IntParam) else None


Reader = Callable[[str], Any]


def _reader(param: Param) -> Reader:
    """The hot path's reading of one value: the value when plainly valid, else NotPlain."""
    if isinstance(param, IntParam):
        digits = re.compile(rf"[0-9]{{1,{len(str(param.le))}}}")
        lowest, highest = param.ge, param.le

        def integer(value: str) -> int:
            if not digits.fullmatch(value):
                raise NotPlain
            number = int(value)
            if not lowest <= number <= highest:
                raise NotPlain
            return number

        return integer
    longest = param.max_length

    def text(value: str) -> str:
        if len(value) > longest:
            raise NotPlain
        return value

    return text


class QueryParams:
    """One route's query parameters: `depends` goes into the route's signature (FastAPI's
    validation, OpenAPI and docs), `parse` is the hot path's reading of the same parameters."""

    def __init__(self, *params: Param) -> None:
        self.params = params
        self.names = frozenset(param.name for param in params)
        self._defaults: dict[str, Any] = {param.name: _default(param) for param in params}
        self._readers: dict[str, Reader] = {param.name: _reader(param) for param in params}
        self.depends: Any = Depends(self._dependency())

    def parse(self, query_string: bytes) -> dict[str, Any]:
        """The declared parameters as the route receives them, parsed as Starlette does;
        NotPlain for a repeated or empty one, or one FastAPI would refuse."""
        values = dict(self._defaults)
        if not query_string:
            return values
        seen: set[str] = set()
        for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            read = self._readers.get(name)
            if read is None:  # not declared: ignored, as FastAPI ignores it
                continue
            if name in seen or not value:
                raise NotPlain
            seen.add(name)
            values[name] = read(value)
        return values

    def _dependency(self) -> Callable[..., Any]:
        """A dependency whose signature is the declared parameters, after a check that none
        is repeated (a sub-dependency, so it runs before they are validated)."""
        names = self.names

        async def each_once(request: Request) -> None:
            _refuse_repeated(request, names)

        async def values(**given: Any) -> dict[str, Any]:
            given.pop("_once", None)
            return given

        once = inspect.Parameter(
            "_once",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[None, Depends(each_once)],
        )
        declared = [
            inspect.Parameter(
                param.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=_default(param),
                annotation=_annotation(param),
            )
            for param in self.params
        ]
        values.__signature__ = inspect.Signature([once, *declared])  # type: ignore[attr-defined]
        return values


def _refuse_repeated(request: Request, names: frozenset[str]) -> None:
    """422 naming every declared query parameter the request repeats."""
    counts = Counter(name for name, _ in request.query_params.multi_items() if name in names)
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


# The parameters of a route that declares none.
NO_PARAMS = QueryParams()

# Where a page starts in a newest-first list (the article lists, the feed, comments): the
# previous page's `nextCursor`, declared once for every list that takes it.
CURSOR = CursorParam(
    "cursor",
    "Where the page starts: the previous page's `nextCursor` (opaque, valid only for the same "
    "list and filters). Not together with `offset`.",
    max_length=cursors.MAX_LENGTH,
)
