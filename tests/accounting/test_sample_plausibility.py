"""Soil retention per km² on the generated sample stays of a plausible magnitude.

Anchor: Garzê 2010, 38.86 亿 t soil retained (白玛卓嘎 et al., 生态学报 2017, 37(19):
6302-6312, §3.2.2) over 149,687.70 km² (its Table 1) = 25,961 t/km²/yr [V]; GEP_METHOD §11.
Guizhou's rainfall erosivity is higher (south-west China mean 4,093 MJ·mm/(hm²·h·a), a third of it
4,500–5,500: 操玥 et al., 生态学报 2018, 38(24): 8766-8773 [V]; the Garzê plateau is
drier), so the band allows 8× above the anchor and 4× below [D]. Before the RUSLE
slope-length cap (run.DEFAULT_PHYSICAL_OPTIONS) the sample came out at 2.2–7×10⁵ t/km²/yr.
"""

from __future__ import annotations

import pytest

from liangshan.accounting.run import DEFAULT_PHYSICAL_OPTIONS, compute_physical
from liangshan.datasets.boundaries import PILOT_COUNTIES
from liangshan.datasets.sample import write_sample_study_area
from liangshan.datasets.study import StudyArea

GARZE_T_PER_KM2 = 38.86e8 / 149_687.70
BAND = (GARZE_T_PER_KM2 / 4, GARZE_T_PER_KM2 * 8)


def _per_km2(physical) -> dict[str, float]:
    area: dict[str, float] = {}
    for e in physical.attrs["extent"]:
        area[e["region_code"]] = area.get(e["region_code"], 0.0) + e["area_km2"]
    soil = physical[physical["indicator"] == "soil_retention"]
    return {r: q / area[r] for r, q in soil.groupby("region_code")["quantity"].sum().items()}


@pytest.fixture(scope="module")
def pilots(tmp_path_factory):
    # 250 m keeps the test quick; the demo's 90 m grid gives 6.6–16.6×10⁴ t/km²/yr.
    path = write_sample_study_area(tmp_path_factory.mktemp("pilots") / "s", years=[2022],
                                   resolution_m=250.0)
    return StudyArea.open(path)


@pytest.mark.slow
def test_sample_soil_retention_per_km2_is_plausible(pilots):
    phys = compute_physical(pilots, 2022, None, {"indicators": ["soil_retention"]})
    assert phys.attrs["physical_defaults"] == DEFAULT_PHYSICAL_OPTIONS
    per_km2 = _per_km2(phys)
    assert set(per_km2) == set(PILOT_COUNTIES)
    for county, t in per_km2.items():
        assert BAND[0] < t < BAND[1], (county, t, BAND)
    # the band has teeth: without the slope-length cap most counties leave it
    free = _per_km2(compute_physical(pilots, 2022, None, {"indicators": ["soil_retention"],
                                                          "l_max": None}))
    assert sum(t > BAND[1] for t in free.values()) >= 3
