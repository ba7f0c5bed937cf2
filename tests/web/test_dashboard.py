"""Dashboard data: which accounts count, per-county metrics, drill-down charts, CSV.

Hand-computed from the seeded lines (tests/web/conftest.py): 赤水市 (index 0) 2022 GEP
335,855,520,000 fen, of which provisioning (36e9 + 12e9) × 1.05 = 50,400,000,000,
cultural 72e9 × 1.05 = 75,600,000,000 and regulating the rest, 209,855,520,000 fen.
GDP in its summary: 2,000,000,000,000 fen → GEP/GDP = 0.16792776.
"""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from liangshan.accounts import service as accounts
from liangshan.accounts.schemas import AccountIn
from liangshan.db import session_factory
from liangshan.errors import InvalidInput, NotFound
from liangshan.identity.access import SYSTEM
from liangshan.web import dashboard, geo
from tests.web._web_seed import account_in, publish


@pytest.fixture
def session(db_engine, seeded):
    s = session_factory(db_engine)()
    yield s
    s.rollback()
    s.close()


def test_years_are_the_published_ones(session):
    assert dashboard.years(session) == [2022, 2021]     # 2023 is only a draft


def test_composition_of_chishui(session):
    rows = {r["service_class"]: r["value_fen"]
            for r in dashboard.composition(session, "520381", 2022).rows}
    assert rows == {"provisioning": 50_400_000_000, "regulating": 209_855_520_000,
                    "cultural": 75_600_000_000}


def test_map_metrics(session):
    gep = {r["region_code"]: r for r in dashboard.map_chart(session, 2022, "gep").rows}
    assert set(gep) == {"520381", "520521", "520621", "522634", "522701"}
    assert gep["520381"]["value_fen"] == 335_855_520_000 and gep["520381"]["pilot"]
    ratio = {r["region_code"]: r for r in dashboard.map_chart(session, 2022, "gep_gdp").rows}
    assert ratio["520381"]["value"] == pytest.approx(0.16792776)
    assert ratio["520381"]["text"] == "0.168"
    dense = {r["region_code"]: r for r in dashboard.map_chart(session, 2022, "gep_per_km2").rows}
    area = geo.county_properties()["520381"]["area_km2"]
    assert dense["520381"]["value"] == pytest.approx(335_855_520_000 / 1e6 / area)
    one = dashboard.map_chart(session, 2022, "ind:recreation").rows
    assert {r["region_code"]: r["value_fen"] for r in one}["520381"] == 75_600_000_000


def test_unknown_metric_is_refused(session):
    with pytest.raises(InvalidInput, match="ind:<indicator>"):
        dashboard.map_chart(session, 2022, "ind:no_such_indicator")


def test_ecosystem_chart_keeps_untyped_lines_apart(session):
    rows = {r["ecosystem_level1"]: r["value_fen"]
            for r in dashboard.by_ecosystem(session, "520381", 2022).rows}
    # forest: water 183,321,000,000 + carbon 4,000,000,000 (× 1.05); cropland: water
    # 12,221,400,000 × 1.05; grassland: carbon 320,000,000 × 1.05; untyped: the rest
    assert rows[11] == 196_687_050_000 and rows[15] == 12_832_470_000
    assert rows[13] == 336_000_000 and rows[""] == 126_000_000_000


def test_trend_and_comparison(session):
    trend = dashboard.trend(session, "520381").rows
    assert [r["year"] for r in trend] == [2021, 2022]
    assert [r["total_fen"] for r in trend] == [319_862_400_000, 335_855_520_000]
    comparison = dashboard.comparison(session, "520381", 2022).rows
    assert [r["region_code"] for r in comparison if r["selected"]] == ["520381"]
    assert [r["value_fen"] for r in comparison] == sorted(
        (r["value_fen"] for r in comparison), reverse=True)


def test_top_indicators_are_sorted(session):
    rows = dashboard.top_indicators(session, "520381", 2022).rows
    assert rows[0]["indicator"] == "water_conservation"
    assert rows[0]["value_fen"] == 205_319_520_000
    assert [r["value_fen"] for r in rows] == sorted((r["value_fen"] for r in rows), reverse=True)


def test_county_without_data_is_not_found(session):
    with pytest.raises(NotFound, match="520102"):
        dashboard.composition(session, "520102", 2022)


def test_superseded_account_no_longer_counts(session):
    before = {r["region_code"]: r["value_fen"] for r in dashboard.map_chart(session, 2022).rows}
    assert before["520381"] == 335_855_520_000     # also fills the per-session cache
    old = account_in("520381", 0, 2022)
    lines = old.lines.copy()
    lines["value_fen"] = 100                       # 7 lines of 1 yuan each
    correction = AccountIn(**{**old.model_dump(exclude={"lines"}), "lines": lines,
                              "id": "c" * 64, "supersedes_id": old.id})
    accounts.store(session, SYSTEM, correction)
    publish(session, correction.id)
    session.flush()
    gep = {r["region_code"]: r["value_fen"] for r in dashboard.map_chart(session, 2022).rows}
    assert gep["520381"] == 700


def test_county_account_wins_over_a_province_account(session):
    """A province account covering 赤水市 must not be added on top of 赤水市's own account."""
    lines = pd.DataFrame({"region_code": ["520381", "520102"], "service_class": ["cultural"] * 2,
                          "indicator": ["recreation"] * 2, "value_fen": [5, 7]})
    accounts.store(session, SYSTEM, AccountIn(id="p" * 64, title="贵州省", region_code="52",
                                              year=2022, profile="ndrc-2022", lines=lines,
                                              manifest={}))
    publish(session, "p" * 64)
    session.flush()
    gep = {r["region_code"]: r["value_fen"] for r in dashboard.map_chart(session, 2022).rows}
    assert gep["520381"] == 335_855_520_000 and gep["520102"] == 7


def test_chart_csv_has_exact_fen(session):
    chart = dashboard.composition(session, "520381", 2022)
    rows = list(csv.DictReader(io.StringIO(chart.to_csv().decode("utf-8-sig"))))
    assert sum(int(r["value_fen"]) for r in rows) == 335_855_520_000
    assert rows[0]["value_wan_yuan"] == "50400.00"


def test_chart_endpoints(client):
    body = client.get("/web/api/county/520381/composition?year=2022").json()
    assert [r["service_class"] for r in body["rows"]] == ["provisioning", "regulating", "cultural"]
    csv_response = client.get("/web/api/map?year=2022&metric=gep&format=csv")
    assert csv_response.headers["content-disposition"].endswith('.csv"')
    assert client.get("/web/api/map?year=2022&metric=nope").status_code == 422
    assert client.get("/web/api/county/520381/nope?year=2022").status_code == 404
    assert client.get("/web/api/years").json() == [2022, 2021]
    listed = client.get("/web/api/indicators?year=2022").json()
    assert [i["indicator"] for i in listed] == ["material_agriculture", "hydropower",
                                                "water_conservation", "carbon_sequestration",
                                                "recreation"]       # national list order
    assert listed[-1] == {"metric": "ind:recreation", "indicator": "recreation",
                          "label": "休闲旅游"}
    assert len(client.get("/web/api/geo/guizhou-counties.json").json()["features"]) == 88


def test_engine_summary_ratio_is_used_when_gdp_is_absent(session):
    """The engine's Account.summary() carries gep_gdp_ratio (and per-km² GEP), not GDP."""
    lines = pd.DataFrame({"region_code": ["520102"], "service_class": ["cultural"],
                          "indicator": ["recreation"], "value_fen": [1234]})
    accounts.store(session, SYSTEM, AccountIn(
        id="e" * 64, title="南明区", region_code="520102", year=2022, profile="ndrc-2022",
        lines=lines, manifest={}, summary={"gep_gdp_ratio": 0.25, "gep_per_km2_yuan": 12.5}))
    publish(session, "e" * 64)
    session.flush()
    ratio = {r["region_code"]: r for r in dashboard.map_chart(session, 2022, "gep_gdp").rows}
    assert ratio["520102"]["value"] == 0.25 and ratio["520102"]["text"] == "0.250"
    assert ratio["520381"]["text"] == "0.168"          # GDP given: computed from fen
