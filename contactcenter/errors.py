"""Errors actions raise; the API turns each into a 4xx JSON answer."""

from __future__ import annotations


class Unavailable(RuntimeError):
    """Storage (database or attachment files) cannot take the work now; the sender should retry (503/451)."""


class ActionError(Exception):
    """Base: a request that cannot be carried out as asked."""

    status = 400
    code = "bad_request"


class NotFound(ActionError):
    status = 404
    code = "not_found"


class Conflict(ActionError):
    status = 409
    code = "conflict"


class Forbidden(ActionError):
    status = 403
    code = "forbidden"


class Invalid(ActionError):
    status = 422
    code = "invalid"
