"""Errors the domain raises. Each has a stable `code` the API returns with a clear message."""

from __future__ import annotations


class DomainError(Exception):
    """A refused request. `status` is the HTTP status the API maps it to."""

    code = "invalid"
    status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class Invalid(DomainError):
    code = "invalid"
    status = 400


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status = 401


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


class TooLarge(DomainError):
    code = "too_large"
    status = 413


class Unavailable(DomainError):
    code = "unavailable"
    status = 503
