"""Monte Carlo over uncertain price ranges: seeded, hand-checked on a triangular case."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from liangshan.accounting.run import run_gep
from liangshan.accounting.uncertainty import monte_carlo
from liangshan.errors import InvalidInput
from tests.accounting import _garze_data as gz
from tests.accounting import _small_case as sc


def _one_row_account():
    """One oxygen row priced by a [K] price with a symmetric range [5, 15] around 10."""
    ov = pd.DataFrame([{
        "price_id": "oxygen_price.lyt1721_2007", "indicator": "oxygen_release", "item": "*",
        "ecosystem_level1": "*", "value": 10.0, "unit": "CNY/t", "price_year": 2010,
        "low": 5.0, "high": 15.0, "range_basis": "test", "index_id": "none", "region": "CN",
        "reference": "test", "confidence": "[K]"}])
    phys = pd.DataFrame([{"region_code": "520381", "ecosystem_code": 111,
                          "indicator": "oxygen_release", "quantity": 1.0, "unit": "t/yr",
                          "method": "m"}])
    return run_gep(None, 2010, "mee-2020", physical=phys, overrides=ov)


def test_triangular_percentiles_hand_computed():
    """Triangular(5, 10, 15): F(x) = (x-5)²/50 below 10, so p05 = 5 + √2.5 = 6.581."""
    acc = _one_row_account()
    res = monte_carlo(acc, n=40000, seed=1)
    gep = res.by_indicator.set_index("indicator").loc["GEP"]
    assert gep["value_yuan"] == pytest.approx(10.0)
    assert gep["p05_yuan"] == pytest.approx(5 + math.sqrt(2.5), abs=0.08)
    assert gep["p95_yuan"] == pytest.approx(15 - math.sqrt(2.5), abs=0.08)
    assert gep["mean_yuan"] == pytest.approx(10.0, abs=0.05)
    assert list(res.varied["price_id"]) == ["oxygen_price.lyt1721_2007"]


def test_seeded_and_bracketing():
    acc = run_gep(sc.tables(), 2022, "ndrc-2022", physical=sc.physical())
    a = monte_carlo(acc, n=300, seed=7)
    b = monte_carlo(acc, n=300, seed=7)
    pd.testing.assert_frame_equal(a.by_indicator, b.by_indicator)
    c = monte_carlo(acc, n=300, seed=8)
    assert not np.allclose(a.by_indicator["p95_yuan"], c.by_indicator["p95_yuan"])
    t = a.by_indicator
    assert (t["p05_yuan"] <= t["p95_yuan"] + 1e-9).all()
    # Environmental-tax prices range from the statutory minimum up: the interval lies above.
    cod = t.set_index("indicator").loc["water_purification_cod"]
    assert cod["p05_yuan"] >= cod["value_yuan"] - 1e-6 and cod["p95_yuan"] > cod["value_yuan"]
    assert a.by_region["p50_yuan"].sum() > 0


def test_confirmed_prices_are_held_fixed():
    acc = run_gep(gz.tables(), 2010, "ouyang-research", physical=gz.physical_frame())
    res = monte_carlo(acc, n=50, seed=0)
    # electricity_price.garze2010 has a range but is tagged [V]: [V] prices never vary.
    assert res.varied.empty
    gep = res.by_indicator.set_index("indicator").loc["GEP"]
    assert gep["p05_yuan"] == pytest.approx(gep["p95_yuan"])
    with pytest.raises(InvalidInput):
        monte_carlo(acc, n=2)
