"""The main job end to end, at a coarse grid so it runs in CI in reasonable time."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from liangshan import config
from liangshan.accounts import service as accounts
from liangshan.db import session_factory
from liangshan.demo import YEARS, run_demo
from liangshan.ledger import service as ledger


@pytest.mark.slow
def test_demo_publishes_two_years_with_reports(tmp_path, db_engine, monkeypatch):
    monkeypatch.setenv("LIANGSHAN_DATABASE_URL",
                       db_engine.url.render_as_string(hide_password=False))
    config.get_settings.cache_clear()
    out = tmp_path / "demo"
    result = run_demo(out, resolution_m=1000.0, console=Console(file=io.StringIO()))

    assert sorted(result.account_ids) == list(YEARS)
    for year in YEARS:
        folder = out / "accounts" / str(year)
        for name in ("gep_tables.xlsx", "gep_account.csv", "gep_account.json", "report.html",
                     "manifest.json", "gep_tables_520381.xlsx"):
            assert (folder / name).stat().st_size > 0, name
        assert "SAMPLE" in (folder / "report.html").read_text(encoding="utf-8").upper()
    assert (out / "accounts" / "compare_2022_2023" / "comparison_by_indicator.csv").exists()
    assert result.seeded["registry"]["parcels"] > 1000
    assert result.seeded["trace"]["recalled"]
    assert result.seeded["market"]["closing_prices"] > 0
    assert "赤水市" in (out / "summary.txt").read_text(encoding="utf-8")

    with session_factory(db_engine)() as session:
        stored = accounts.list_accounts(session, published_only=True)
        assert {a.year for a in stored} == set(YEARS)
        # each pilot county publishes its own account for each year
        assert {(a.region_code, a.year) for a in stored} == {
            (c, y) for c in ("520381", "520521", "520621", "522634", "522701") for y in YEARS}
        for row in stored:
            # GEP per km² of a Guizhou county is of the order of 10⁷ 元/km² (GEP_METHOD §11).
            assert row.sample_data and row.gep_fen > 0
            per_km2 = row.summary["gep_per_km2_yuan"]
            assert 1e6 < per_km2 < 1e8, per_km2
            assert 0.5 < row.summary["gep_gdp_ratio"] < 20  # Guizhou 2010: 4.3 × GDP
        assert ledger.verify_log(session) == []
        assert ledger.log_size(session) >= 2 * 5

    again = run_demo(out, resolution_m=1000.0, console=Console(file=io.StringIO()))
    assert again.account_ids == result.account_ids  # same inputs, same account IDs
    with session_factory(db_engine)() as session:
        assert len(accounts.list_accounts(session)) == 5 * len(YEARS)
