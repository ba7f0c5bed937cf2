"""VEP: the GEP chain on a polygon inside a study area, with the origin rule."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box

from liangshan.accounting.run import run_gep
from liangshan.accounting.vep import run_vep
from liangshan.datasets.study import StudyArea
from liangshan.errors import InvalidInput
from tests.accounting._study_fixture import CRS, RES, X0, Y0, YEAR, make_study


@pytest.mark.slow
def test_vep_footprint_inside_a_county(tmp_path):
    study = StudyArea.open(make_study(tmp_path / "s"))
    # Columns 2..6 and rows 2..8 of zone 520381 (which spans columns 2..12, rows 2..16).
    fp = gpd.GeoDataFrame({"unit_id": ["forest-lot-1"]},
                          geometry=[box(X0 + 2 * RES, Y0 - 8 * RES, X0 + 6 * RES, Y0 - 2 * RES)],
                          crs=CRS)
    seen = []
    vep = run_vep(study, YEAR, fp, "ndrc-2022", physical_options={"hot_days": 60},
                  progress=lambda stage, f: seen.append(f))
    gep = run_gep(study, YEAR, "ndrc-2022")
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert "climate_regulation_transpiration" in set(vep.valued["indicator"])
    assert "climate_regulation_transpiration" in set(gep.gaps["indicator"])
    assert vep.manifest["options"]["physical_options"] == {"hot_days": 60}
    with pytest.raises(InvalidInput, match="not accepted"):
        run_gep(study, YEAR, physical_options={"hot_dayz": 60})
    assert vep.regions == ["forest-lot-1"]
    assert gep.region_names and set(gep.region_names) == {"520381", "520521"}
    assert 0 < vep.gep() < gep.totals().set_index("region_code").loc["520381", "gep_yuan"]
    # Statistics of the county are not apportioned to the unit: gaps, not zeros.
    assert vep.valued["source"].eq("physical").all()
    assert any(r["rule"] == "origin_rule_vep" for r in vep.rules)
    assert vep.manifest["kind"] == "vep" and vep.id != gep.id
    wc_vep = vep.valued[vep.valued["indicator"] == "water_conservation"]["quantity"].sum()
    wc_gep = gep.valued[(gep.valued["indicator"] == "water_conservation")
                        & (gep.valued["region_code"] == "520381")]["quantity"].sum()
    assert 0 < wc_vep < wc_gep
