"""Who is signed in to the admin UI, and the checks every form post passes.

A form post must carry the session's CSRF token (an HMAC of the session token, so it needs
no server state and dies with the session) and must not come from another origin. Only an
admin token may act; a viewer token may look.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Request

from payouts.domain.errors import Forbidden, PayoutsError
from payouts.services import tokens
from payouts.web import cookie
from payouts.web.deps import AppSettings, Db, Principal, is_env_token, note_use, token_principal

_CSRF_CONTEXT = b"payouts admin ui: form posts"


class SignInRequired(PayoutsError):
    """No session, or its token is no longer valid: the page answers with the sign-in form."""


@dataclass(frozen=True, slots=True)
class AdminSession:
    role: str  # admin | viewer
    csrf: str
    name: str = ""  # the token's name, for the audit log

    @property
    def can_act(self) -> bool:
        return self.role == "admin"

    @property
    def principal(self) -> Principal:
        return Principal(self.name, self.role)


def csrf_for(token: str) -> str:
    return hmac.new(token.encode(), _CSRF_CONTEXT, hashlib.sha256).hexdigest()


def signed_in(request: Request, db: Db, settings: AppSettings) -> AdminSession:
    token = cookie.session_token(request)
    if token is None:
        raise SignInRequired("")
    principal = token_principal(token, db, settings)
    if principal is None:
        raise SignInRequired("Your session ended: its token is no longer valid. Sign in again.")
    if not is_env_token(token, settings):
        note_use(request, tokens.hash_token(token))
    request.state.principal = principal  # for the audit log
    return AdminSession(role=principal.role, csrf=csrf_for(token), name=principal.name)


Session = Annotated[AdminSession, Depends(signed_in)]


def check_same_origin(request: Request) -> None:
    """Refuse a post that a browser says came from another site (defence in depth:
    SameSite=Strict already keeps the cookie off cross-site requests)."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin is not None and origin != own:
        raise Forbidden(f"refused a form posted from another origin ({origin})")
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise Forbidden("refused a form posted from another site")


def posted(
    request: Request, session: Session, csrf: Annotated[str, Form(max_length=200)] = ""
) -> AdminSession:
    """A form post from this UI in this session (any role: a viewer may sign out)."""
    check_same_origin(request)
    if not hmac.compare_digest(csrf.encode(), session.csrf.encode()):
        raise Forbidden("this form is stale or did not come from this admin UI; reload and retry")
    return session


Posted = Annotated[AdminSession, Depends(posted)]


def acting(session: Posted) -> AdminSession:
    """A form post that changes something: admins only."""
    if not session.can_act:
        raise Forbidden(f"a {session.role} token may look but not act; sign in with an admin token")
    return session


Acting = Annotated[AdminSession, Depends(acting)]
