"""A client's precondition on a write (HTTP's If-Match, read by the route): the write goes on
only if the resource is still as the client last saw it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from src.services import messages
from src.services.errors import PreconditionFailed

Current = TypeVar("Current")


@dataclass(frozen=True)
class Precondition(Generic[Current]):
    """`holds(current)`: whether the resource as it is now is one the client named."""

    holds: Callable[[Current], bool]
    about: str

    def require(self, current: Current) -> None:
        if not self.holds(current):
            raise PreconditionFailed(messages.PRECONDITION_FAILED, field=self.about)


def require(precondition: Precondition[Current] | None, current: Current) -> None:
    """No precondition sent: nothing to check."""
    if precondition is not None:
        precondition.require(current)
