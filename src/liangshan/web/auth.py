"""The web session: the login token of :func:`liangshan.identity.service.login` in a cookie.

The cookie is HttpOnly (scripts cannot read it), SameSite=Lax (other sites
cannot post forms with it) and Secure in production mode. Its lifetime is the
token's (``LIANGSHAN_TOKEN_TTL_MINUTES``). A stale or revoked token makes the
visitor anonymous again; it is never an error on a public page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from liangshan.config import get_settings
from liangshan.errors import NotAuthenticated
from liangshan.identity import service as identity
from liangshan.identity.access import READER_ROLES, WRITER_ROLES, Principal

SESSION_COOKIE = "ls_session"


def web_session(request: Request) -> Iterator[Session]:
    """One database session per page; nothing is committed unless the page commits.

    Pages turn domain errors into HTML and return normally, so an automatic commit
    at the end (as in the API) could keep half of a failed write; here a page that
    writes calls ``session.commit()`` itself and everything else is rolled back.
    """
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        session.close()  # closing rolls back whatever was not committed


WebSession = Annotated[Session, Depends(web_session)]


def set_session_cookie(response: Response, token: str) -> None:
    settings = get_settings()
    response.set_cookie(SESSION_COOKIE, token, max_age=settings.token_ttl_minutes * 60,
                        httponly=True, samesite="lax", secure=settings.mode == "production",
                        path="/")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def web_principal(request: Request, session: WebSession) -> Principal | None:
    """The logged-in user of this browser, or None (anonymous, expired or revoked)."""
    token = request.cookies.get(SESSION_COOKIE)
    principal = None
    if token:
        try:
            principal = identity.principal_from_token(session, token)
        except NotAuthenticated:
            principal = None
    request.state.principal = principal  # for the navigation of error pages
    return principal


WebPrincipal = Annotated[Principal | None, Depends(web_principal)]


def require_user(principal: Principal | None) -> Principal:
    """The principal, or NotAuthenticated (the pages turn it into a redirect to the login)."""
    if principal is None:
        raise NotAuthenticated("this page needs a login", hint="log in first")
    return principal


def can_read_drafts(principal: Principal | None) -> bool:
    """Drafts are visible to government roles and auditors — the rule of the accounts API."""
    return principal is not None and principal.role in READER_ROLES


def can_write(principal: Principal | None) -> bool:
    """Whether to show management links at all; each write still calls ``require_write``."""
    return principal is not None and principal.role in WRITER_ROLES
