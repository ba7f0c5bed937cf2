"""A generated sample study area shared by the dataset tests (coarse: 1000 m)."""

from __future__ import annotations

from pathlib import Path

import pytest

from liangshan.datasets.sample import write_sample_study_area

COARSE_M = 1000.0


@pytest.fixture(scope="session")
def sample_area(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "pilots"
    return write_sample_study_area(out, resolution_m=COARSE_M, seed=42)
