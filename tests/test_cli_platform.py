"""CLI commands of the platform domains, on the embedded SQLite database."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from liangshan.cli import app
from liangshan.db import get_engine, session_scope
from liangshan.migrate import upgrade

runner = CliRunner()


@pytest.fixture
def seeded_trace():
    from liangshan.trace.demo import seed_demo

    engine = get_engine()
    upgrade(engine)
    with session_scope(engine) as session:
        return seed_demo(session, seed=1)


def test_registry_import_reports_each_row(tmp_path):
    # two forest parcels in 赤水市 (WGS84), the second overlapping the first
    frame = gpd.GeoDataFrame(
        {"code": ["520381001001JA00001", "520381001001JA00002"], "region_code": "520381",
         "resource_type": "forest", "ownership": "collective", "owner_name": "丙安村"},
        geometry=[box(105.70, 28.40, 105.71, 28.41), box(105.705, 28.405, 105.715, 28.415)],
        crs="EPSG:4326")
    path = tmp_path / "parcels.geojson"
    frame.to_file(path)
    result = runner.invoke(app, ["registry", "import", str(path), "--report",
                                 str(tmp_path / "report.csv")])
    assert result.exit_code == 0, result.output
    assert "1 accepted, 1 refused" in result.output
    report = (tmp_path / "report.csv").read_text(encoding="utf-8-sig")
    assert "520381001001JA00002" in report and "overlap" in report.lower()


def test_trace_show_verifies_and_flags_a_recall(seeded_trace):
    item = next(iter(seeded_trace["items"].values()))[0]
    shown = runner.invoke(app, ["trace", "show", item])
    assert shown.exit_code == 0, shown.output
    assert "verification: verified" in shown.output
    recalled = runner.invoke(app, ["trace", "show", seeded_trace["recalled"][0]])
    assert recalled.exit_code == 3 and "recalled" in recalled.output
    as_json = runner.invoke(app, ["trace", "show", item, "--json"])
    assert json.loads(as_json.output)["verification"]["overall"] == "verified"


def test_trace_labels_writes_sheets(seeded_trace, tmp_path):
    batch = seeded_trace["batches"]["duyun_maojian"]
    result = runner.invoke(app, ["trace", "labels", batch, "--count", "3", "--out",
                                 str(tmp_path / "labels")])
    assert result.exit_code == 0, result.output
    assert "<svg" in (tmp_path / "labels" / "labels_001.svg").read_text(encoding="utf-8")


def test_market_report_on_an_empty_registry_has_a_header_only():
    result = runner.invoke(app, ["market", "report"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("instrument,")


def test_log_checkpoint_prints_a_signed_note_and_gep_list_is_empty_at_first():
    checkpoint = runner.invoke(app, ["log", "checkpoint"])
    assert checkpoint.exit_code == 0, checkpoint.output
    lines = checkpoint.output.splitlines()
    assert lines[0] == "liangshan.local/log" and lines[1] == "0"
    assert any(line.startswith("— liangshan.local/log ") for line in lines)
    listed = runner.invoke(app, ["gep", "list"])
    assert listed.exit_code == 0 and "id" in listed.output
