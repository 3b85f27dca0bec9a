"""The one map from the domain's errors to HTTP statuses, for the API's error answers and
the CLI's messages (kept free of FastAPI, so a CLI command does not import the web stack)."""

from __future__ import annotations

from payouts.domain.errors import (
    Conflict,
    Forbidden,
    Gone,
    InvalidInput,
    NotFound,
    PayoutsError,
    Unauthorized,
)

ERROR_STATUS: dict[type[PayoutsError], int] = {
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Gone: 410,
    InvalidInput: 422,
}


def status_of(error: PayoutsError) -> int:
    return ERROR_STATUS.get(type(error), 400)
