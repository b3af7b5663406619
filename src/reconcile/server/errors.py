"""Failures the server answers on purpose, each with its GraphQL code and HTTP status.

Expected failures never map to 5xx or 429: W&B clients retry those many times.
"""

from __future__ import annotations


class ApiError(Exception):
    """A failure the client caused; `code` goes to `errors[].extensions.code`."""

    code = "BAD_REQUEST"
    status = 200  # GraphQL convention: most failures travel in a 200 with `errors`

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ApiError):
    """The request names or shapes something wrongly (a bad name, filter or payload)."""

    code = "BAD_USER_INPUT"


class Unauthenticated(ApiError):
    """No API key, or one this server does not know."""

    code = "UNAUTHENTICATED"
    status = 401


class Forbidden(ApiError):
    """The caller is known but its role does not allow the operation."""

    code = "FORBIDDEN"


class NotFound(ApiError):
    """The object referred to does not exist (or the caller may not see it)."""

    code = "NOT_FOUND"


class MissingTrigger(NotFound):
    """An update or delete names an automation that does not exist: HTTP 404, as W&B."""

    status = 404


class Conflict(ApiError):
    """An object with that name already exists."""

    code = "CONFLICT"


class DuplicateTrigger(Conflict):
    """An automation with that name exists in the entity: HTTP 409, as W&B."""

    status = 409
