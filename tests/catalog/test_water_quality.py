"""GB 3838-2002 single-factor classes, checked against hand-worked cases.

Limits used (GB 3838-2002 Table 1; Class II/III of CODMn, NH3-N, TP confirmed in
MECHANISMS.md §3.4): CODMn ≤ 2/4/6/10/15, NH3-N ≤ 0.15/0.5/1.0/1.5/2.0,
TP (river) ≤ 0.02/0.1/0.2/0.3/0.4, DO ≥ 7.5/6/5/3/2 mg/L.
"""

from __future__ import annotations

import pandas as pd
import pytest

from liangshan.catalog import water_quality as wq


@pytest.mark.parametrize(("param", "value", "expected"), [
    ("codmn", 2.0, 1), ("codmn", 2.01, 2), ("codmn", 4.0, 2), ("codmn", 6.5, 4),
    ("nh3n", 0.5, 2), ("nh3n", 0.6, 3), ("nh3n", 2.5, 6),
    ("tp", 0.12, 3), ("do", 6.5, 2), ("do", 1.0, 6),
])
def test_parameter_class_at_and_around_limits(param, value, expected):
    assert wq.parameter_class(param, value) == expected


def test_lake_tp_is_stricter_than_river():
    assert wq.parameter_class("tp", 0.05, "river") == 2
    assert wq.parameter_class("tp", 0.05, "lake") == 3


def test_water_class_is_worst_parameter():
    """MECHANISMS.md §3.4 worked example: CODMn 3.5, NH3-N 0.60, TP 0.12 — CODMn meets II,
    NH3-N and TP exceed the Class II limits (0.5, 0.1) and meet III (1.0, 0.2): class III."""
    cls, determining = wq.water_class({"codmn": 3.5, "nh3n": 0.60, "tp": 0.12, "ph": 7.2})
    assert cls == 3 and determining == ["nh3n", "tp"]


def test_monthly_and_annual_means():
    """Jan mean NH3-N (0.4+0.8)/2 = 0.6 → III; Feb 0.3 → II; year mean (0.4+0.8+0.3)/3 = 0.5 → II."""
    readings = pd.DataFrame({
        "station": ["S"] * 3, "parameter": ["nh3n"] * 3,
        "observed_at": pd.to_datetime(["2024-01-05T02:00Z", "2024-01-20T02:00Z",
                                       "2024-02-10T02:00Z"]),
        "value": [0.4, 0.8, 0.3]})
    monthly = wq.classify_periods(readings, "month").set_index("period")
    assert monthly.loc["2024-01", "water_class"] == 3
    assert monthly.loc["2024-02", "class_label"] == "II"
    annual = wq.classify_periods(readings, "year")
    assert annual.iloc[0]["water_class"] == 2 and annual.iloc[0]["nh3n"] == pytest.approx(0.5)


def test_every_limit_row_is_referenced_and_monotone():
    for (param, _body), lim in wq.limits_table().items():
        assert lim.reference and lim.confidence in ("[V]", "[K]")
        steps = lim.limits if lim.bound == "max" else tuple(-v for v in lim.limits)
        assert list(steps) == sorted(steps), param
