"""Who may read open data, how often, and the request log.

* Anonymous clients read public data (``read:public``), limited per client address.
* API keys need the endpoint's scope or ``read:public``, and are limited to their
  ``rate_limit_per_minute`` over a sliding 60-second window (kept in process: a
  multi-process deployment limits per process).
* Every request is logged (who, what, status, time taken) in ``opendata_requests``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.routing import APIRoute

from liangshan.api.deps import OptionalPrincipalDep, SessionDep
from liangshan.catalog.models import OpenDataRequest
from liangshan.db import utcnow
from liangshan.errors import Forbidden, LiangshanError, RateLimited
from liangshan.identity.access import Principal

#: Requests per minute allowed to one anonymous client address.
ANONYMOUS_PER_MINUTE = 60
WINDOW_S = 60.0


class SlidingWindow:
    """Per-caller request times over the last ``window`` seconds."""

    def __init__(self, window: float = WINDOW_S) -> None:
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, caller: str, limit: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(caller, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(now)
            return True


def _limiter(request: Request) -> SlidingWindow:
    state = request.app.state
    if not hasattr(state, "opendata_limiter"):
        state.opendata_limiter = SlidingWindow()
    limiter: SlidingWindow = state.opendata_limiter
    return limiter


def reader(scope: str) -> Callable[..., Principal | None]:
    """Dependency: check scope and rate limit; returns the principal (None: anonymous)."""

    def dependency(request: Request, session: SessionDep,
                   actor: OptionalPrincipalDep) -> Principal | None:
        request.state.open_actor = actor
        if actor is not None and actor.api_key_id is not None:
            if scope not in actor.scopes and "read:public" not in actor.scopes:
                raise Forbidden(f"API key {actor.api_key_id} lacks scope '{scope}' or "
                                f"'read:public' (it has: {', '.join(sorted(actor.scopes))})",
                                hint=f"create a key with scope {scope}")
            caller = f"key:{actor.api_key_id}"
            limit = actor.rate_limit_per_minute or ANONYMOUS_PER_MINUTE
        elif actor is not None:
            caller, limit = f"user:{actor.user_id}", 10 * ANONYMOUS_PER_MINUTE
        else:
            host = request.client.host if request.client else "unknown"
            caller, limit = f"ip:{host}", ANONYMOUS_PER_MINUTE
        if not _limiter(request).allow(caller, limit):
            raise RateLimited(f"rate limit of {limit} requests per minute reached for {caller}",
                              hint="wait a minute, or ask for a key with a higher limit")
        return actor

    return dependency


def ReaderDep(scope: str) -> Any:
    return Annotated[Principal | None, Depends(reader(scope))]


class LoggedRoute(APIRoute):
    """A route that writes one ``opendata_requests`` row per request, whatever the outcome."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def logged(request: Request) -> Response:
            start = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status_code
                return response
            except LiangshanError as exc:
                status = exc.http_status
                raise
            except HTTPException as exc:
                status = exc.status_code
                raise
            except RequestValidationError:
                status = 422
                raise
            finally:
                _log(request, status, (time.perf_counter() - start) * 1000)

        return logged


def _log(request: Request, status: int, duration_ms: float) -> None:
    actor: Principal | None = getattr(request.state, "open_actor", None)
    row = OpenDataRequest(
        at=utcnow(), api_key_id=actor.api_key_id if actor else None,
        user_id=actor.user_id if actor else None,
        client=request.client.host if request.client else None, method=request.method,
        path=request.url.path[:300], query=str(request.url.query) or None, status=status,
        duration_ms=duration_ms)
    with request.app.state.sessionmaker() as session:
        session.add(row)
        session.commit()
