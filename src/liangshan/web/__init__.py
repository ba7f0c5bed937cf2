"""Web pages: server-rendered Jinja2 + HTMX, ECharts for the one map and charts.

Wire into an app with :func:`mount_web` (``create_app`` calls it). Front-end
libraries are vendored under ``static/vendor/`` (see scripts/build_web_assets.sh):
no page loads anything from the internet.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def mount_web(app: FastAPI) -> None:
    """Add the pages (``/``, ``/web/...``), their JSON data (``/web/api/...``) and ``/static``."""
    from liangshan.web import data_api, domain_pages, pages

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(data_api.router)
    app.include_router(pages.router)
    app.include_router(domain_pages.router)
