"""The admin UI's session cookie: it holds the admin token itself, HttpOnly and
SameSite=Strict, so page scripts never see the token and other sites never send it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "payouts_admin"
SAFE_METHODS = ("GET", "HEAD")


def session_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE_NAME) or None


def read_only_session_token(request: Request) -> str | None:
    """The cookie's token for reads only: the JSON API accepts it on GET so the jobs page
    can poll job status; it never authorises a write, so the API needs no CSRF defence."""
    return session_token(request) if request.method in SAFE_METHODS else None


def set_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
