"""Ecosystem transitions and loss alerts on a hand-counted 3×4 map."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from liangshan.catalog import ecochange
from liangshan.errors import InvalidInput

BEFORE = np.array([[111, 111, 113, 141],
                   [111, 111, 131, 141],
                   [0, 51, 51, 145]])
AFTER = np.array([[111, 51, 113, 141],
                  [111, 111, 131, 51],
                  [111, 51, 51, 145]])
REGIONS = np.array([[1, 1, 2, 2],
                    [1, 1, 2, 2],
                    [1, 1, 2, 2]])


def test_transition_matrix_counts_by_region():
    """Region 1: forest 4 px → 3 stay, 1 to 51 (two-digit codes pass through); pixel (2, 0)
    is nodata before and is left out."""
    m = ecochange.transition_matrix(xr.DataArray(BEFORE), AFTER, REGIONS, pixel_area_m2=900,
                                    region_codes={1: "520381", 2: "520521"})
    r1 = m[m["region"] == "520381"].set_index(["from_code", "to_code"])["pixels"]
    assert r1[(11, 11)] == 3 and r1[(11, 51)] == 1 and r1[(51, 51)] == 1 and r1.sum() == 5
    r2 = m[m["region"] == "520521"].set_index(["from_code", "to_code"])["pixels"]
    assert r2[(14, 14)] == 2 and r2[(14, 51)] == 1
    assert m["area_km2"].sum() == pytest.approx(11 * 900 / 1e6)


def test_loss_alerts_above_threshold():
    """Forest in region 1 lost 1 of 4 px (25 %); wetland in region 2 lost 1 of 3 (33 %)."""
    m = ecochange.transition_matrix(BEFORE, AFTER, REGIONS, pixel_area_m2=900)
    hits = {(h["region"], h["class"]): h for h in ecochange.loss_alerts(m, threshold=0.2)}
    assert set(hits) == {(1, "forest"), (2, "wetland")}
    assert hits[(2, "wetland")]["loss_fraction"] == pytest.approx(1 / 3)
    assert ecochange.loss_alerts(m, threshold=0.4) == []


def test_shape_mismatch_refused():
    with pytest.raises(InvalidInput, match="differ in shape"):
        ecochange.transition_matrix(BEFORE, AFTER[:2], pixel_area_m2=900)
