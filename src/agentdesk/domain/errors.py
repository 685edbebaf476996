"""Typed errors every service raises; each carries a message fit to show an agent."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every refusal a service gives; `str(error)` is the human message."""


class PermissionDenied(ServiceError):
    pass


class NotFound(ServiceError):
    pass


class Conflict(ServiceError):
    pass


class InvalidInput(ServiceError):
    """Bad input. `fields` maps each offending field to what is wrong with it."""

    def __init__(self, message: str | None = None, fields: dict[str, str] | None = None):
        self.fields = dict(fields or {})
        if message is None:
            message = "; ".join(f"{name}: {problem}" for name, problem in self.fields.items()) or "invalid input"
        super().__init__(message)


class StoreBusy(ServiceError):
    """The store stayed locked by other writers past the busy timeout; trying again later works."""

    def __init__(self, message: str = "the store is busy, try again") -> None:
        super().__init__(message)
