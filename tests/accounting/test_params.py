"""Price and index files: every default has a unit and a reference; bad files fail clearly."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from liangshan.accounting.params import (
    PriceBook,
    check_unit,
    read_indicators,
    read_price_indices,
    read_prices,
    read_valuation_params,
)
from liangshan.accounting.params.loader import CONFIDENCE_TAGS, PRICES_FILE
from liangshan.errors import InvalidInput, ParameterNotFound


def test_every_shipped_price_has_unit_reference_and_tag():
    df = read_prices()
    assert len(df) > 20
    for _, r in df.iterrows():
        assert r["unit"].startswith("CNY/"), r["price_id"]
        assert len(r["reference"]) > 10, r["price_id"]
        assert r["confidence"].startswith(CONFIDENCE_TAGS), r["price_id"]
        if r["confidence"] in ("[K]", "[?]", "[D]") and not math.isnan(r["low"]):
            assert r["low"] <= r["value"] <= r["high"]


def test_every_index_valuation_param_and_indicator_has_unit_and_reference():
    for df in (read_price_indices(), read_valuation_params(), read_indicators()):
        for col in ("reference", "confidence"):
            assert df[col].astype(str).str.strip().ne("").all()
    assert read_price_indices()["unit"].eq("preceding year=100").all()
    assert read_valuation_params()["unit"].astype(str).str.strip().ne("").all()


def _write(tmp_path, df):
    p = tmp_path / "prices.csv"
    df.to_csv(p, index=False)
    return p


def test_missing_unit_or_reference_is_an_error(tmp_path):
    df = pd.read_csv(PRICES_FILE, dtype=str, keep_default_na=False)
    bad = df.copy()
    bad.loc[3, "reference"] = ""
    with pytest.raises(InvalidInput, match=r"line 5: column 'reference' is empty"):
        read_prices(_write(tmp_path, bad))
    bad = df.copy()
    bad.loc[0, "unit"] = ""
    with pytest.raises(InvalidInput, match="'unit' is empty"):
        read_prices(_write(tmp_path, bad))
    with pytest.raises(InvalidInput, match="missing column"):
        read_prices(_write(tmp_path, df.drop(columns="reference")))
    bad = df.copy()
    bad.loc[0, "confidence"] = "confirmed"
    with pytest.raises(InvalidInput, match="not a tag"):
        read_prices(_write(tmp_path, bad))


@pytest.mark.parametrize("found,expected,fix", [
    ("CNY/t C", "CNY/t CO2", "3.667"), ("CNY/kg", "CNY/t", "1000"),
    ("CNY/10k m3", "CNY/m3", "10000")])
def test_unit_mismatch_is_an_error_with_the_fix(found, expected, fix):
    with pytest.raises(InvalidInput, match=fix):
        check_unit(found, expected, where="test")
    check_unit(expected, expected, where="test")


def test_carbon_price_per_tonne_c_refused_where_co2_expected():
    book = PriceBook.load()
    with pytest.raises(InvalidInput, match="CNY/t CO2"):
        book.price("carbon_price.lyt1721_2007", indicator="carbon_sequestration", year=2010,
                   expected_unit="CNY/t CO2")


def test_rebasing_hand_computed():
    """P_2012 = 875 × CPI_2011/100 × CPI_2012/100 = 875 × 1.054 × 1.026 (GEP_METHOD §7)."""
    book = PriceBook.load()
    pr = book.price("n_treatment_cost.garze2010", indicator="nitrogen_retained", year=2012,
                    expected_unit="CNY/t")
    assert pr.value == pytest.approx(875 * 1.054 * 1.026)
    assert pr.base_value == 875 and pr.base_year == 2010 and pr.index_id == "cpi"
    back = book.price("n_treatment_cost.garze2010", indicator="nitrogen_retained", year=2009,
                      expected_unit="CNY/t")
    assert back.value == pytest.approx(875 / 1.033)


def test_year_without_index_is_a_clear_error():
    book = PriceBook.load()
    with pytest.raises(ParameterNotFound, match=r"no value for year\(s\) \[2020"):
        book.price("reservoir_capacity_cost.garze2010", indicator="water_conservation",
                   year=2021, expected_unit="CNY/m3")
    book.index_substitutes = {"fai": "ppi"}
    pr = book.price("reservoir_capacity_cost.garze2010", indicator="water_conservation",
                    year=2021, expected_unit="CNY/m3")
    assert "ppi:CN 2020-2021" in pr.index_series
    with pytest.raises(ParameterNotFound, match="2030"):
        book.price("n_treatment_cost.garze2010", indicator="nitrogen_retained", year=2030,
                   expected_unit="CNY/t")


def test_override_file_replaces_and_is_recorded(tmp_path):
    df = pd.read_csv(PRICES_FILE, dtype=str, keep_default_na=False)
    ov = df[df["price_id"] == "oxygen_price.garze2010"].copy()
    ov["value"] = "800"
    p = _write(tmp_path, ov)
    book = PriceBook.load(overrides=p)
    assert book.overrides_info["replaced"] == ["oxygen_price.garze2010"]
    assert len(book.overrides_info["sha256"]) == 64
    pr = book.price("oxygen_price.garze2010", indicator="oxygen_release", year=2010,
                    expected_unit="CNY/t")
    assert pr.value == 800.0


def test_price_for_wrong_indicator_or_unknown_id():
    book = PriceBook.load()
    with pytest.raises(InvalidInput, match="declared for"):
        book.price("oxygen_price.garze2010", indicator="water_conservation", year=2010,
                   expected_unit="CNY/t")
    with pytest.raises(ParameterNotFound, match="not in the price table"):
        book.find("nope", indicator="water_conservation")
