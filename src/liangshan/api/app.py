"""Application factory: wiring of the domain routers and the one error handler."""

from __future__ import annotations

import logging
from importlib import import_module

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

import liangshan
from liangshan.db import get_engine, session_factory
from liangshan.errors import LiangshanError

log = logging.getLogger(__name__)

#: Domain routers, as "module:attribute"; a domain that has not landed is skipped.
ROUTERS = (
    "liangshan.identity.api:router",
    "liangshan.ledger.api:router",
    "liangshan.accounts.api:router",
    "liangshan.registry.api:router",
    "liangshan.catalog.api:router",
    "liangshan.opendata.api:router",
    "liangshan.trace.api:router",
    "liangshan.market.api:router",
)


def _include_routers(app: FastAPI) -> None:
    for spec in ROUTERS:
        module_name, attr = spec.split(":")
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that domain is not part of this build yet
            raise
        app.include_router(getattr(module, attr))


def create_app(engine: Engine | None = None) -> FastAPI:
    """Build the API on ``engine`` (default: the configured database)."""
    app = FastAPI(
        title="Liangshan 两山 API",
        version=liangshan.__version__,
        description="生态产品价值实现平台 — ecological product value realization platform",
    )
    app.state.engine = engine or get_engine()
    app.state.sessionmaker = session_factory(app.state.engine)

    @app.exception_handler(LiangshanError)
    async def _domain_error(_request: Request, exc: LiangshanError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        ]
        return JSONResponse(
            {"error": "invalid_input", "message": "; ".join(problems),
             "hint": "see the OpenAPI schema at /docs for the expected fields"},
            status_code=422,
        )

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": liangshan.__version__}

    _include_routers(app)
    from liangshan.web import mount_web

    mount_web(app)
    return app
