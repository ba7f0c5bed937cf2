"""Choosing where the engine computes."""

from __future__ import annotations

import dask
import pytest

from liangshan.accounting.scale import use_scheduler
from liangshan.errors import ConfigurationError


def test_no_address_keeps_the_local_scheduler():
    before = dask.config.get("scheduler", None)
    with use_scheduler(None):
        assert dask.config.get("scheduler", None) == before


def test_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(ConfigurationError, match=r"tcp://127\.0\.0\.1:1"), use_scheduler("tcp://127.0.0.1:1"):
        pass
