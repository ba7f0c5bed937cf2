"""Monitoring ingestion on both databases: idempotency, unit checks, refusals and alerts."""

from __future__ import annotations

import pandas as pd
import pytest

from liangshan.catalog import ecochange, monitoring
from liangshan.catalog.schemas import StationIn
from liangshan.errors import Forbidden
from liangshan.identity import service as identity
from liangshan.identity.access import SYSTEM, Principal
from liangshan.identity.models import Role
from liangshan.identity.schemas import UserIn


def _station(session, code="CSH-LYX", target=2):
    return monitoring.create_station(session, SYSTEM, StationIn(
        code=code, name="鲢鱼溪", kind="water_quality", region_code="520381", basin="赤水河",
        river="赤水河", upstream_region="贵州省", downstream_region="四川省",
        target_class=target))


def _rows(*rows):
    return pd.DataFrame(rows, columns=["station", "parameter", "observed_at", "value", "unit"])


def test_same_reading_twice_is_stored_once(db_session, tmp_path):
    _station(db_session)
    path = tmp_path / "r.csv"
    _rows(("CSH-LYX", "codmn", "2024-03-01 10:00", 2.1, "mg/L"),
          ("CSH-LYX", "nh3n", "2024-03-01 10:00", 120, "ug/L")).to_csv(path, index=False)
    first = monitoring.ingest_csv(db_session, SYSTEM, path)
    again = monitoring.ingest_csv(db_session, SYSTEM, path)
    db_session.commit()
    assert (first.inserted, first.duplicates) == (2, 0)
    assert (again.inserted, again.duplicates, again.refused) == (0, 2, {})
    s = monitoring.series(db_session, "CSH-LYX", "nh3n")
    assert len(s) == 1 and s.iloc[0]["value"] == pytest.approx(0.12) and s.iloc[0]["unit"] == "mg/L"
    # 10:00 Beijing time is 02:00 UTC
    assert s.iloc[0]["observed_at"].hour == 2


def test_bad_rows_refused_with_reasons(db_session):
    _station(db_session)
    monitoring.ingest(db_session, SYSTEM, _rows(("CSH-LYX", "tp", "2024-03-01T00:00Z", 0.05,
                                                 "mg/L")))
    report = monitoring.ingest(db_session, SYSTEM, _rows(
        ("NOPE", "tp", "2024-03-01", 0.05, "mg/L"),
        ("CSH-LYX", "arsenic", "2024-03-01", 0.05, "mg/L"),
        ("CSH-LYX", "tp", "2024-03-02", 0.05, "kg"),
        ("CSH-LYX", "ph", "2024-03-02", 15, ""),
        ("CSH-LYX", "tp", "yesterday-ish", 0.05, "mg/L"),
        ("CSH-LYX", "tp", "2024-03-01T00:00Z", 0.07, "mg/L"),
        ("CSH-LYX", "do", "2024-03-03", 7, "mg/L"),
        ("CSH-LYX", "do", "2024-03-03", 8, "mg/L"),
    ))
    why = report.refused
    assert "unknown station 'NOPE'" in why[1] and "unknown parameter 'arsenic'" in why[2]
    assert "unit 'kg' is not a unit of tp" in why[3] and "impossible" in why[4]
    assert "unreadable time" in why[5] and "already stored with value 0.05" in why[6]
    assert why[8] == "row 7 gives another value for the same reading"
    assert report.inserted == 1


def test_below_target_and_implausible_alerts_once(db_session):
    _station(db_session)
    rows = _rows(("CSH-LYX", "nh3n", "2024-05-10", 0.8, "mg/L"),
                 ("CSH-LYX", "codmn", "2024-05-10", 3.0, "mg/L"),
                 ("CSH-LYX", "do", "2024-05-10", 25, "mg/L"))
    report = monitoring.ingest(db_session, SYSTEM, rows)
    kinds = sorted(a.kind for a in monitoring.alerts(db_session))
    assert kinds == ["below_target", "below_target", "implausible"]
    assert any("class III is worse than target class II" in m for m in report.alerts)
    monitoring.ingest(db_session, SYSTEM, rows)
    assert len(monitoring.alerts(db_session)) == 3
    classes = monitoring.station_classes(db_session, "CSH-LYX")
    assert classes.iloc[0]["water_class"] == 3 and classes.iloc[0]["determining"] == "nh3n"


def test_api_key_needs_write_scope_and_region(db_session):
    _station(db_session)
    user = identity.create_user(db_session, SYSTEM, UserIn(
        username="dafang", display_name="大方", password="correct horse battery",
        role=Role.COUNTY_OPERATOR, region_code="520521"))
    other = identity.principal_of(user)
    with pytest.raises(Forbidden):
        monitoring.ingest(db_session, other, _rows(("CSH-LYX", "tp", "2024-03-01", 0.1, "mg/L")))
    key = Principal(role=Role.COUNTY_OPERATOR, region_code="520381", api_key_id=1,
                    scopes=frozenset({"read:monitoring"}))
    with pytest.raises(Forbidden, match="write:monitoring"):
        monitoring.ingest(db_session, key, _rows(("CSH-LYX", "tp", "2024-03-01", 0.1, "mg/L")))


def test_ecosystem_loss_alerts_stored_once(db_session):
    import numpy as np
    before = np.array([[111, 111], [141, 141]])
    after = np.array([[111, 51], [141, 141]])
    m = ecochange.transition_matrix(before, after, np.full((2, 2), 1), pixel_area_m2=900,
                                    region_codes={1: "520381"})
    found = ecochange.loss_alerts(m, threshold=0.1)
    assert len(ecochange.store_loss_alerts(db_session, SYSTEM, found, "2020-2024")) == 1
    assert ecochange.store_loss_alerts(db_session, SYSTEM, found, "2020-2024") == []
    assert monitoring.alerts(db_session, kind="ecosystem_loss")[0].region_code == "520381"


def test_compliance_counts_months_and_annual_mean(db_session):
    """Three months of NH3-N 0.3, 0.3, 0.8 mg/L (Class II limit 0.5): months meeting 2 of 3;
    annual mean (0.3 + 0.3 + 0.8) / 3 = 0.467 ≤ 0.5, so the year meets Class II."""
    _station(db_session)
    monitoring.ingest(db_session, SYSTEM, _rows(
        ("CSH-LYX", "nh3n", "2024-01-15", 0.3, "mg/L"),
        ("CSH-LYX", "nh3n", "2024-02-15", 0.3, "mg/L"),
        ("CSH-LYX", "nh3n", "2024-03-15", 0.8, "mg/L"),
        ("CSH-LYX", "nh3n", "2023-12-31 23:00", 5.0, "mg/L")))  # another year: left out
    c = monitoring.compliance(db_session, "CSH-LYX", 2024)
    assert (c["months_assessed"], c["months_meeting"]) == (3, 2)
    assert c["annual_class"] == 2 and c["meets_annual"] is True
    assert c["monthly_fraction"] == pytest.approx(2 / 3)
