"""Domain errors. The API layer maps each one to a status code and the error envelope."""

from __future__ import annotations

from typing import Self


class DomainError(Exception):
    """Base class: `field` names what the error is about (`body` when nothing in particular);
    `errors` holds the messages of every field refused (several when built by `of_fields`)."""

    def __init__(self, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.errors: dict[str, list[str]] = {field: [message]}

    @classmethod
    def of_fields(cls, errors: dict[str, list[str]]) -> Self:
        """One error about several fields at once (an email and a username both taken)."""
        field = next(iter(errors))
        error = cls(errors[field][0], field)
        error.errors = errors
        return error


class NotFound(DomainError):
    """The thing asked for does not exist."""


class Forbidden(DomainError):
    """The caller is known but may not do this."""


class Unauthorized(DomainError):
    """The caller could not be identified (bad credentials, unusable token)."""


class Invalid(DomainError):
    """The request is well-formed but breaks a rule (following yourself, an update to a taken
    email)."""


class Conflict(DomainError):
    """The request collides with the current state (a taken username at registration, a slug
    that could not be allocated)."""


class UnsupportedMediaType(DomainError):
    """The body is not of a kind the operation takes (an upload that is not a picture we
    accept, or not the type it was declared as)."""


class PreconditionFailed(DomainError):
    """The client's precondition (If-Match) no longer holds: the resource changed since it read
    it."""


class RateLimited(DomainError):
    """Too many requests of this kind in the current window; retry after `retry_after` s."""

    def __init__(self, message: str, retry_after: int, field: str = "body") -> None:
        super().__init__(message, field)
        self.retry_after = retry_after
