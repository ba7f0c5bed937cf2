"""Parcel import/export: the per-row report on malformed files, CRS handling, round trips."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Polygon, box

from liangshan.errors import InvalidInput
from liangshan.identity.access import SYSTEM
from liangshan.registry import io, service
from liangshan.registry.models import REGISTRY_CRS

# 赤水市 lies near 105.7° E, 28.6° N
LON, LAT = 105.70, 28.55
D = 0.001  # about 100 m


def _cell(i, j=0):
    return box(LON + i * D, LAT + j * D, LON + (i + 1) * D, LAT + (j + 1) * D)


def _frame(rows, crs="EPSG:4326"):
    geoms = [r.pop("geometry") for r in rows]
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=crs)


def _row(i, **kw):
    base = {"region": "520381", "res_type": "forest", "ownership": "collective",
            "owner": "丙安村", "geometry": _cell(i)}
    return {**base, **kw}


def test_malformed_rows_each_refused_with_a_reason(db_session, tmp_path):
    bow = Polygon([(LON, LAT), (LON + D, LAT + D), (LON + D, LAT), (LON, LAT + D)])
    rows = [
        _row(0, code="520381000000JL00100"),
        _row(1, code="520381000000JL00100"),  # duplicate code
        _row(2, geometry=bow),  # self-intersection
        _row(3, geometry=LineString([(LON, LAT), (LON + D, LAT)])),
        _row(4, owner=None),
        _row(5, res_type="沙漠"),
        _row(6, region="5203"),
        _row(0.5),  # overlaps row 1 by half a cell
        _row(7, res_type="湿地", ownership="全民所有"),  # Chinese values are understood
        _row(8, geometry=None),
    ]
    path = tmp_path / "parcels.gpkg"
    _frame(rows).to_file(path, driver="GPKG")
    report = io.import_parcels(db_session, SYSTEM, path)
    why = report.refusals()
    assert report.accepted == 2 and report.refused == 8
    assert why[2] == "duplicate code 520381000000JL00100 (also in row 1)"
    assert "Self-intersection" in why[3]
    assert "LineString" in why[4]
    assert why[5] == "missing value in field 'owner_name'"
    assert "沙漠" in why[6] and "5203" in why[7]
    assert why[8].startswith("overlaps row 1 (520381000000JL00100)")
    assert "no geometry" in why[10]
    wet = service.current_parcel(db_session, report.rows[8].code)
    assert wet.resource_type == "wetland" and wet.ownership == "state"
    assert wet.code == "520381000000GS00001"


def test_missing_crs_and_wrong_crs_refused(db_session, tmp_path):
    path = tmp_path / "nocrs.geojson"
    gpd.GeoDataFrame([{"region": "520381", "res_type": "forest", "ownership": "state",
                       "owner": "林场"}], geometry=[_cell(0)],
                     crs="EPSG:4326").to_file(path, driver="GeoJSON")
    # GeoJSON always means WGS84, so strip the CRS after reading to emulate a bare file
    frame = gpd.read_file(path).set_crs(None, allow_override=True)
    report = io.import_parcel_frame(db_session, SYSTEM, frame)
    assert report.accepted == 0 and "declares no CRS" in report.rows[0].reason
    fixed = io.import_parcel_frame(db_session, SYSTEM, frame, assume_crs="EPSG:4326")
    assert fixed.accepted == 1
    # metres labelled as degrees: the parcel lands far outside China
    metric = _frame([_row(3)]).to_crs(REGISTRY_CRS).set_crs("EPSG:4326", allow_override=True)
    wrong = io.import_parcel_frame(db_session, SYSTEM, metric)
    assert wrong.accepted == 0 and "outside China" in wrong.rows[0].reason


def test_missing_column_refuses_every_row(db_session):
    frame = _frame([_row(0), _row(1)]).drop(columns=["owner"])
    report = io.import_parcel_frame(db_session, SYSTEM, frame)
    assert report.refused == 2 and "missing field(s) owner_name" in report.rows[1].reason


def test_overlap_with_registered_parcel_and_existing_code(db_session):
    first = io.import_parcel_frame(db_session, SYSTEM, _frame([_row(0, code="520381X1")]))
    assert first.accepted == 1
    again = io.import_parcel_frame(db_session, SYSTEM, _frame([
        _row(0.25), _row(5, code="520381X1"), _row(0.25, res_type="water")]))
    why = again.refusals()
    assert why[1].startswith("overlaps registered parcel 520381X1")
    assert "already registered" in why[2] and 3 not in why


@pytest.mark.parametrize("suffix", [".gpkg", ".shp", ".geojson"])
def test_export_import_round_trip_in_another_crs(db_session, tmp_path, suffix):
    src = io.import_parcel_frame(db_session, SYSTEM, _frame([_row(0), _row(1)]).to_crs("EPSG:4547"))
    assert src.accepted == 2
    out = io.export_parcels(db_session, tmp_path / f"out{suffix}", crs="EPSG:4490")
    back = gpd.read_file(out)
    assert len(back) == 2 and set(back["code"]) == {r.code for r in src.rows}
    assert back.crs.to_epsg() == 4490
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export-")]
    area = back.to_crs(REGISTRY_CRS).area.sum()
    assert area == pytest.approx(sum(service.current_parcel(db_session, r.code).area_m2
                                     for r in src.rows), rel=1e-6)


def test_unknown_format_refused(tmp_path):
    with pytest.raises(InvalidInput, match="unknown format"):
        io.read_parcel_file(tmp_path / "x.kml")
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    with pytest.raises(InvalidInput, match="cannot be read"):
        io.read_parcel_file(bad)
