"""Rendering: the Jinja2 environment, the page context, HTML error pages, security headers.

Every HTML response carries a Content-Security-Policy that allows scripts,
styles, images, fonts and connections from this server only — the browser
itself then refuses anything from the internet, which is what offline
government networks need (DESIGN §6).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Coroutine
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

import liangshan
from liangshan.errors import LiangshanError, NotAuthenticated
from liangshan.identity.access import Principal
from liangshan.web import auth, csrf
from liangshan.web.i18n import (
    LANG_COOKIE,
    LANGS,
    fen_to_wan,
    format_money,
    format_quantity,
    format_time,
    pick_lang,
    translate,
)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals["version"] = liangshan.__version__
templates.env.filters["money"] = format_money
templates.env.filters["wan"] = fen_to_wan
templates.env.filters["quantity"] = format_quantity
templates.env.filters["time"] = format_time

#: Nothing but this server: the page cannot reach the internet even by mistake.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-ancestors 'self'; "
       "form-action 'self'; base-uri 'self'")


def secure_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def remember_lang(request: Request, response: Response) -> None:
    """Keep an explicit ``?lang=`` choice in a cookie for the next pages (one year)."""
    lang = request.query_params.get("lang")
    if lang in LANGS and request.cookies.get(LANG_COOKIE) != lang:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax", path="/")


def page(request: Request, template: str, principal: Principal | None,
         status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with the shared context: language, ``t``, the user, nav flags."""
    lang = pick_lang(request)
    other = "en" if lang == "zh" else "zh"
    # a relative link (same path and query, the other language): never an absolute URL
    switch = request.url.include_query_params(lang=other)
    lang_url = switch.path + (f"?{switch.query}" if switch.query else "")
    response = templates.TemplateResponse(request, template, {
        "lang": lang,
        "other_lang": other,
        "lang_url": lang_url,
        "t": lambda key: translate(lang, key),
        "user": principal,
        "can_read_drafts": auth.can_read_drafts(principal),
        "can_write": auth.can_write(principal),
        "path": request.url.path,
        "trace_available": trace_available(),
        "csrf_token": csrf.token_for(request),
        **context,
    }, status_code=status_code)
    remember_lang(request, response)
    csrf.set_cookie(request, response)
    return secure_headers(response)  # type: ignore[return-value]


@cache
def trace_available() -> bool:
    """Whether the traceability domain (and its public page ``/t/{code}``) is in this build."""
    return importlib.util.find_spec("liangshan.trace.codes") is not None


def error_page(request: Request, exc: LiangshanError) -> Response:
    """A domain error as an HTML page with its status; a missing login → the login page."""
    if isinstance(exc, NotAuthenticated):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/web/login?next={quote(target, safe='')}", status_code=303)
    return page(request, "error.html", getattr(request.state, "principal", None),
                status_code=exc.http_status, error=exc)


class HtmlErrorRoute(APIRoute):
    """Routes whose domain errors render as HTML pages instead of the API's JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LiangshanError as exc:
                return error_page(request, exc)

        return route
