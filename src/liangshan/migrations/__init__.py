"""Alembic migrations (run with ``liangshan db upgrade``)."""
