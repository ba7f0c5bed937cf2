"""CSRF protection of the web forms: a signed double-submit token.

Every page sets a random nonce in the ``ls_csrf`` cookie (HttpOnly, SameSite=Lax)
and puts ``HMAC-SHA256(secret_key, nonce | session cookie)`` in each form that
changes state (login, logout, publish, run an account) as the hidden field
``csrf_token`` — or, for HTMX and scripts, in the ``X-CSRF-Token`` header. A POST
whose token does not match its own cookies is refused with 403 before the page
runs. Another site can make a browser send our cookies, but it can neither read
them nor compute the HMAC (it needs ``LIANGSHAN_SECRET_KEY``), and binding the
token to the session cookie means a nonce planted from a sibling host does not
help either (OWASP "signed double-submit cookie").

Only the browser pages need this: they authenticate with a cookie. The API reads
``Authorization: Bearer`` or ``X-API-Key`` headers only, which a browser never
adds to a cross-site request, so API calls are exempt by construction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

from liangshan.config import get_settings
from liangshan.errors import Forbidden

CSRF_COOKIE = "ls_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _sign(nonce: str, session_token: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, f"{nonce}|{session_token}".encode(), hashlib.sha256).hexdigest()


def _nonce(request: Request) -> str:
    """This browser's nonce: the cookie's, or a new one for this response to set."""
    nonce = getattr(request.state, "csrf_nonce", None) or request.cookies.get(CSRF_COOKIE)
    if not nonce:
        nonce = secrets.token_urlsafe(32)
    request.state.csrf_nonce = nonce
    return nonce


def token_for(request: Request, session_token: str | None = None) -> str:
    """The token the forms of this page carry (bound to the current session cookie)."""
    from liangshan.web.auth import SESSION_COOKIE

    session = request.cookies.get(SESSION_COOKIE, "") if session_token is None else session_token
    return _sign(_nonce(request), session)


def set_cookie(request: Request, response: Response) -> None:
    """Send the nonce cookie when the browser does not have it yet."""
    nonce = getattr(request.state, "csrf_nonce", None)
    if nonce and request.cookies.get(CSRF_COOKIE) != nonce:
        response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="lax", path="/",
                            secure=get_settings().mode == "production")


async def check(request: Request) -> None:
    """Refuse a state-changing request whose CSRF token is missing or wrong (403).

    Used as a dependency of the page routers; safe methods pass untouched.
    """
    if request.method in SAFE_METHODS:
        return
    from liangshan.web.auth import SESSION_COOKIE

    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()  # Starlette keeps the parsed form for the route
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    nonce = request.cookies.get(CSRF_COOKIE)
    if not sent or not nonce:
        raise Forbidden(
            "this form was sent without its security token (CSRF), so it was refused",
            hint="reload the page and send the form again; cookies must be enabled")
    expected = _sign(nonce, request.cookies.get(SESSION_COOKIE, ""))
    if not hmac.compare_digest(sent, expected):
        raise Forbidden(
            "the form's security token (CSRF) does not match this browser's session, so it "
            "was refused", hint="reload the page and send the form again (the page may be "
            "older than your last login or logout)")
