"""Monte Carlo over the physical coefficients: the engine measured at the range ends.

Hand-computed case: the fixture study (tests/accounting/_study_fixture.py) with one
ecosystem type (111) everywhere, P = 1200 mm, AET = 700 mm, 100 m cells. Water
conservation is Q = Σ (P − AET − α·P)·A (GEP_METHOD §6.2 water balance), affine in the
runoff coefficient α, so under α ~ Triangular(1.0 %, 2.67 %, 6.0 %) the value interval is
the image of α's quantiles: F⁻¹(u) = a + √(u(b−a)(c−a)) for u < (c−a)/(b−a) = 0.334, else
b − √((1−u)(b−a)(b−c)). p05(α) = 1 + √(0.05·5·1.67) = 1.64614 %,
p95(α) = 6 − √(0.05·5·3.33) = 5.08759 %; Q decreases with α, so p05(value) ↔ p95(α).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liangshan.accounting.coefficients import DEFAULT_PATH, load_coefficients
from liangshan.accounting.physical import physical_account
from liangshan.accounting.run import run_gep
from liangshan.accounting.sensitivity import draw_deltas, read_ranges
from liangshan.accounting.uncertainty import account_uncertainty
from liangshan.datasets.study import StudyArea
from liangshan.errors import InvalidInput
from tests.accounting._study_fixture import COLS, ROWS, make_study

PROFILE = "ouyang-research"  # water conservation at the Garzê [V] reservoir cost: fixed


def _coefficients(tmp_path, low="1.0", high="6.0"):
    """The shipped coefficients with one range only: runoff_coefficient of type 111."""
    df = pd.read_csv(DEFAULT_PATH, dtype=str, keep_default_na=False)
    df[["low", "high", "range_basis"]] = ""
    row = (df["parameter"] == "runoff_coefficient") & (df["ecosystem_code"] == "111")
    df.loc[row, ["low", "high", "range_basis"]] = [low, high, "[K] test range"]
    path = tmp_path / "coef.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def forest_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("forest")
    eco = np.full((ROWS, COLS), 111, dtype=np.uint16)
    return StudyArea.open(make_study(root / "s", layers={"ecosystem": eco})), root


@pytest.mark.slow
def test_linear_indicator_matches_the_analytic_quantiles(forest_study):
    study, root = forest_study
    coef = _coefficients(root)
    acc, res = account_uncertainty(study, 2022, PROFILE, n=20000, seed=3, coefficients=coef)
    wc = acc.valued[acc.valued["indicator"] == "water_conservation"]
    price = float(wc["price"].iloc[0])
    area_m2 = 2 * 14 * 10 * 100.0 * 100.0  # two zones of 14 × 10 cells of 100 m

    def value(alpha_pct: float) -> float:  # (P − AET − αP) [m] × A [m²] × CNY/m³
        return (1.2 - 0.7 - alpha_pct / 100 * 1.2) * area_m2 * price

    assert wc["value_yuan"].sum() == pytest.approx(value(2.67), rel=1e-6)
    row = res.by_indicator.set_index("indicator").loc["water_conservation"]
    width = value(1.0) - value(6.0)
    assert row["p05_yuan"] == pytest.approx(value(5.08759), abs=0.01 * width)
    assert row["p95_yuan"] == pytest.approx(value(1.64614), abs=0.01 * width)
    assert row["mean_yuan"] == pytest.approx(value((1.0 + 2.67 + 6.0) / 3), abs=0.01 * width)
    status = res.parameters.set_index("parameter")
    assert status.loc["runoff_coefficient", "status"] == "varied"
    assert "exact" in status.loc["runoff_coefficient", "detail"]
    assert status.loc["rh_coef_a", "status"] == "fixed"  # [V]
    assert "no range" in status.loc["storm_runoff_coefficient", "detail"]


@pytest.mark.slow
def test_interpolation_is_exact_against_an_engine_run(forest_study):
    """The response at α = 4 % predicted from the two end runs equals a direct run."""
    study, root = forest_study
    coef = _coefficients(root)
    acc, res = account_uncertainty(study, 2022, PROFILE, n=10, seed=0, coefficients=coef)
    df = pd.read_csv(coef, dtype=str, keep_default_na=False)
    df.loc[(df["parameter"] == "runoff_coefficient") & (df["ecosystem_code"] == "111"),
           "value"] = "4.0"
    df.to_csv(root / "coef4.csv", index=False)
    direct = run_gep(study, 2022, PROFILE, physical=physical_account(
        study, 2022, coefficients=load_coefficients(root / "coef4.csv")))
    at4 = direct.valued.query("indicator == 'water_conservation'")["value_yuan"].sum()
    base = acc.valued.query("indicator == 'water_conservation'")["value_yuan"].sum()
    s = next(x for x in res.sensitivities if x.parameter == "runoff_coefficient")
    # u such that the triangular quantile is 4.0: 1 − (6 − 4)²/((6 − 1)(6 − 2.67))
    u = np.array([1 - 4.0 / (5 * 3.33)])
    predicted = base + draw_deltas(s, u).sum()
    assert predicted == pytest.approx(at4, rel=1e-9)


@pytest.mark.slow
def test_same_seed_same_result_and_confirmed_values_fixed(forest_study):
    study, root = forest_study
    coef = _coefficients(root)
    _, a = account_uncertainty(study, 2022, PROFILE, n=200, seed=11, coefficients=coef)
    _, b = account_uncertainty(study, 2022, PROFILE, n=200, seed=11, coefficients=coef)
    _, c = account_uncertainty(study, 2022, PROFILE, n=200, seed=12, coefficients=coef)
    pd.testing.assert_frame_equal(a.by_indicator, b.by_indicator)
    pd.testing.assert_frame_equal(a.by_region, b.by_region)
    wc = lambda r: r.by_indicator.set_index("indicator").loc["water_conservation", "p95_yuan"]  # noqa: E731
    assert wc(a) != wc(c)
    # Indicators fed only by [V] coefficients and priced at [V] prices do not move.
    t = a.by_indicator.set_index("indicator")
    for ind in ("carbon_sequestration", "oxygen_release"):
        assert t.loc[ind, "p05_yuan"] == t.loc[ind, "p95_yuan"] == pytest.approx(
            t.loc[ind, "value_yuan"])
    assert a.varied.empty  # the ouyang-research prices are all [V]


def test_a_range_on_a_confirmed_value_is_refused(tmp_path):
    df = pd.read_csv(DEFAULT_PATH, dtype=str, keep_default_na=False)
    row = df["parameter"] == "sediment_deposition_ratio"  # [V] Garzê
    df.loc[row, ["low", "high", "range_basis"]] = ["0.1", "0.4", "[K] test"]
    df.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(InvalidInput, match="never vary"):
        read_ranges(tmp_path / "c.csv")


def test_shipped_ranges_are_well_formed():
    r = read_ranges()
    assert set(r["parameter"]) >= {"runoff_coefficient", "storm_runoff_coefficient",
                                   "so2_purification_capacity", "dust_retention_capacity"}
    assert (r["low"] <= r["value"]).all() and (r["value"] <= r["high"]).all()
    assert r["confidence"].str.startswith("[").all() and not r["confidence"].str.startswith(
        "[V").any()
    assert r["range_basis"].str.startswith("[").all()  # the range carries its own tag


@pytest.mark.slow
def test_cli_gep_run_with_uncertainty_writes_intervals(tmp_path):
    from typer.testing import CliRunner

    from liangshan.cli import app

    study = make_study(tmp_path / "s")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["gep", "run", str(study), "--year", "2022", "--out", str(out),
                                   "--no-store", "--uncertainty", "200", "--seed", "5"])
    assert res.exit_code == 0, res.output
    assert "GEP 5–95 %" in res.output
    t = pd.read_csv(out / "uncertainty_by_indicator.csv").set_index("indicator")
    assert t.loc["GEP", "p05_yuan"] < t.loc["GEP", "p95_yuan"]
    wc = t.loc["water_conservation"]
    assert wc["p05_yuan"] < wc["p95_yuan"]
    params = pd.read_csv(out / "uncertainty_parameters.csv").set_index("parameter")
    assert params.loc["runoff_coefficient", "status"] == "varied"
    assert "exact" in params.loc["runoff_coefficient", "detail"]
    assert params.loc["sediment_deposition_ratio", "status"] == "fixed"
    assert "不确定性" in (out / "report.html").read_text(encoding="utf-8")
    from openpyxl import load_workbook

    sheet = load_workbook(out / "gep_tables.xlsx")["不确定性"]
    header = [c.value for c in sheet[3]]
    assert header[:2] == ["指标", "value (万元)"] and "p95 (万元)" in header


def test_too_few_draws_refused_before_the_engine_runs():
    with pytest.raises(InvalidInput, match="too few"):
        account_uncertainty(None, 2022, PROFILE, n=5)
