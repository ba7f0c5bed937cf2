"""The HTTP API: :func:`create_app` builds the FastAPI application."""

from liangshan.api.app import create_app

__all__ = ["create_app"]
