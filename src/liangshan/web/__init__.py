"""Web pages: server-rendered Jinja2 + HTMX, ECharts for the one map and charts.

Wire into an app with :func:`mount_web` (``create_app`` calls it). Front-end
libraries are vendored under ``static/vendor/`` (see scripts/build_web_assets.sh):
no page loads anything from the internet.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def mount_web(app: FastAPI) -> None:
    """Add the pages (``/``, ``/web/...``), their JSON data (``/web/api/...``) and ``/static``.

    Every page route checks the CSRF token of state-changing requests
    (:mod:`liangshan.web.csrf`). Mounting twice is a no-op.
    """
    from liangshan.web import csrf, data_api, domain_pages, pages, run_pages

    if getattr(app.state, "web_mounted", False):
        return
    app.state.web_mounted = True
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    protected = [Depends(csrf.check)]
    app.include_router(data_api.router, dependencies=protected)
    app.include_router(pages.router, dependencies=protected)
    app.include_router(domain_pages.router, dependencies=protected)
    # the size of an upload is checked before the CSRF check reads the form
    app.include_router(run_pages.router, dependencies=[Depends(run_pages.body_limit), *protected])
