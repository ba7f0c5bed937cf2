"""Fixtures of the trace tests (helpers live in trace_helpers.py)."""

from trace_helpers import world  # noqa: F401  (the fixture)
