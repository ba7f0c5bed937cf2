"""One root error and the shared leaves.

Every error a user can see derives from :class:`LiangshanError`. Leaves also
inherit the matching builtin, so ``except KeyError`` still works for library
users. Messages say what went wrong, where, what was expected, and how to fix it;
the CLI prints them on one line and the API maps them to HTTP status codes by
their ``http_status``.
"""

from __future__ import annotations


class LiangshanError(Exception):
    """Root of every Liangshan error. ``http_status`` is used by the API handler."""

    http_status: int = 400
    code: str = "liangshan_error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} — {hint}")

    def to_dict(self) -> dict[str, str]:
        out = {"error": self.code, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        return out


class InvalidInput(LiangshanError, ValueError):
    """Input that does not match what is expected (a file, a field, a value)."""

    code = "invalid_input"
    http_status = 422


class NotFound(LiangshanError, KeyError):
    """A record, file or parameter that does not exist."""

    code = "not_found"
    http_status = 404

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return Exception.__str__(self)


class ParameterNotFound(NotFound):
    """A coefficient or price the accounting engine needs is missing."""

    code = "parameter_not_found"


class Conflict(LiangshanError):
    """The request breaks a rule against existing records (overlap, double issue …)."""

    code = "conflict"
    http_status = 409


class NotAuthenticated(LiangshanError, PermissionError):
    """No credentials, or credentials that do not check out."""

    code = "not_authenticated"
    http_status = 401


class Forbidden(LiangshanError, PermissionError):
    """Valid credentials without the role, scope or region for this action."""

    code = "forbidden"
    http_status = 403


class RateLimited(LiangshanError):
    """Too many requests in the last minute for this key or client."""

    code = "rate_limited"
    http_status = 429


class ConfigurationError(LiangshanError, RuntimeError):
    """Settings that cannot work (placeholder secret, unreachable database …)."""

    code = "configuration_error"
    http_status = 500


class DatabaseError(LiangshanError, RuntimeError):
    """The database could not be reached or migrated."""

    code = "database_error"
    http_status = 503
