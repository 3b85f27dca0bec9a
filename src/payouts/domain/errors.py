"""Errors the services raise; the API maps each kind to one HTTP status."""


class PayoutsError(Exception):
    """Base class: the message is safe to show to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(PayoutsError):
    """The object does not exist (404)."""


class Conflict(PayoutsError):
    """The request is valid but the current state forbids it (409)."""


class InvalidInput(PayoutsError):
    """The request itself is wrong, whatever the state (422)."""


class Unauthorized(PayoutsError):
    """No credentials, or not live ones (401)."""


class Forbidden(PayoutsError):
    """The caller is known but may not do this (403)."""


class Gone(PayoutsError):
    """What the request points at existed but is no longer kept (410)."""
