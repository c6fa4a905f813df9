"""Domain errors. The API layer maps each one to a status code and the error envelope."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: `field` names what the error is about (`body` when nothing in particular)."""

    def __init__(self, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """The thing asked for does not exist."""


class Forbidden(DomainError):
    """The caller is known but may not do this."""


class Unauthorized(DomainError):
    """The caller could not be identified (bad credentials, unusable token)."""


class Invalid(DomainError):
    """The request is well-formed but breaks a rule (a taken username, following yourself)."""


class Conflict(DomainError):
    """The request collides with the current state and may succeed if retried."""


class RateLimited(DomainError):
    """Too many requests of this kind in the current window; retry after `retry_after` s."""

    def __init__(self, message: str, retry_after: int, field: str = "body") -> None:
        super().__init__(message, field)
        self.retry_after = retry_after
