"""Errors a Provider raises; the server turns each into a metav1.Status with its code."""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """An answer that is not a success. `reason` and `code` are metav1.Status' fields."""

    code = 500
    reason = "InternalError"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(APIError):
    code = 400
    reason = "BadRequest"


class NotFound(APIError):
    code = 404
    reason = "NotFound"


class InternalError(APIError):
    """apierrors.NewInternalError: the cause in the message and in details.causes."""

    code = 500
    reason = "InternalError"

    def __init__(self, cause: str) -> None:
        super().__init__(f"Internal error occurred: {cause}", {"causes": [{"message": cause}]})


class ServiceUnavailable(APIError):
    """The backend is unreachable, timed out, or the last snapshot is too old: the HPA holds."""

    code = 503
    reason = "ServiceUnavailable"


def metric_not_found(metric: str, resource: str, name: str = "") -> NotFound:
    """prometheus-adapter's NewMetricNotFoundError(ForSelector) message, word for word."""
    if name:
        return NotFound(f"the server could not find the metric {metric} for {resource} {name}")
    return NotFound(f"the server could not find the metric {metric} for {resource}")
