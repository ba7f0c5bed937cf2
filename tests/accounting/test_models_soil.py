"""Soil retention by RUSLE and its factors (GEP_METHOD §6.3)."""

import numpy as np
import pytest

from liangshan.accounting.models import (
    cover_management_cai,
    sediment_avoided,
    soil_erodibility_epic,
    soil_nutrient_retained,
    soil_retention_rusle,
)


def test_epic_k_hand_case() -> None:
    """Williams EPIC K with the SI correction (GEP_METHOD §6.3; 陈召亚 et al. 2016).

    Sand 30 %, silt 40 %, clay 30 %, SOC 1.5 %:
    f_csand = 0.2 + 0.3·exp(−0.0256·30·0.6) = 0.389234; f_cl-si = (40/70)^0.3 = 0.845451;
    f_orgc = 1 − 0.25·1.5/(1.5 + exp(3.72 − 4.425)) = 0.811946; f_hisand ≈ 0.999987;
    K_EPIC = 0.267190; K = (−0.01383 + 0.51575·0.267190)·0.1317 = 0.0163273.
    """
    k = soil_erodibility_epic(np.array([30.0]), np.array([40.0]), np.array([30.0]),
                              np.array([1.5]))
    assert k[0] == pytest.approx(0.0163273, rel=1e-5)


def test_epic_k_no_fines_is_nan() -> None:
    """Silt + clay = 0 makes the silt term undefined: NaN, not a number that looks valid."""
    k = soil_erodibility_epic(np.array([100.0]), np.array([0.0]), np.array([0.0]),
                              np.array([1.0]))
    assert np.isnan(k[0])


def test_cai_cover_factor_hand_case() -> None:
    """C = 1 (f = 0); 0.6508 − 0.3436·lg f (0 < f < 78.3 %); 0 (f ≥ 78.3 %) (蔡崇法 2000).

    f = 10 % → 0.6508 − 0.3436 = 0.3072; f = 50 % → 0.6508 − 0.3436·1.69897 = 0.0670339;
    f = 0.1 % → 0.6508 + 0.3436·1 = 0.9944; f = 90 % → 0.
    """
    c = cover_management_cai(np.array([0.0, 0.001, 0.1, 0.5, 0.9, np.nan]))
    np.testing.assert_allclose(c[:5], [1.0, 0.9944, 0.3072, 0.0670339, 0.0], atol=1e-6)
    assert np.isnan(c[5])


def test_cai_cover_factor_clipped_to_one() -> None:
    """Below f ≈ 0.13 % the log form exceeds 1; RUSLE's C cannot, so it is clipped."""
    assert cover_management_cai(np.array([0.00001]))[0] == 1.0


def test_rusle_hand_case() -> None:
    """Q_sr = R·K·LS·(1 − C·P)·A (GEP_METHOD §6.3).

    R = 4000 MJ·mm/(ha·h·yr), K = 0.02, LS = 2, 30 m cells (0.09 ha):
    potential = 4000·0.02·2·0.09 = 14.4 t/yr. C·P = 0.3·1 → actual 4.32, retained 10.08;
    C·P = 0.5·0.4 = 0.2 → actual 2.88, retained 11.52.
    """
    res = soil_retention_rusle(4000.0, 0.02, 2.0, np.array([0.3, 0.5]), np.array([1.0, 0.4]),
                               900.0)
    np.testing.assert_allclose(res.potential_t, [14.4, 14.4])
    np.testing.assert_allclose(res.actual_t, [4.32, 2.88])
    np.testing.assert_allclose(res.retained_t, [10.08, 11.52])


def test_sediment_and_nutrients_hand_case() -> None:
    """Garzê chain (GEP_METHOD §6.3): sediment = λ·Q/ρ, N = Q·C_N, P = Q·C_P.

    Q = 1000 t, λ = 0.24, ρ = 0.93 t/m³ → 258.0645 m³; N 0.37 % → 3.7 t; P 0.108 % → 1.08 t.
    """
    assert sediment_avoided(1000.0, 0.93, 0.24) == pytest.approx(258.0645, rel=1e-6)
    assert soil_nutrient_retained(1000.0, 0.37) == pytest.approx(3.7)
    assert soil_nutrient_retained(1000.0, 0.108) == pytest.approx(1.08)


def test_rusle_chain_stays_lazy_on_dask() -> None:
    """The whole chain keeps dask-backed xarray lazy (np.clip would load it into memory) and
    equals the numpy result: 4 × 4 cells, K from texture, C from FVC."""
    import xarray as xr

    rng = np.random.default_rng(1)
    fvc = rng.random((4, 4))
    sand, silt, clay, soc = 30.0 + 10 * rng.random((4, 4)), 40.0, 30.0, 1.5
    lazy = xr.DataArray(fvc, dims=("y", "x")).chunk(2)
    c_lazy = cover_management_cai(lazy)
    k_lazy = soil_erodibility_epic(xr.DataArray(sand, dims=("y", "x")).chunk(2), silt, clay, soc)
    res = soil_retention_rusle(4000.0, k_lazy, 2.0, c_lazy, 1.0, 900.0)
    assert res.retained_t.chunks is not None
    expected = soil_retention_rusle(4000.0, soil_erodibility_epic(sand, silt, clay, soc), 2.0,
                                    cover_management_cai(fvc), 1.0, 900.0)
    np.testing.assert_allclose(res.retained_t.values, expected.retained_t)


def test_fractional_vegetation_cover_hand_case() -> None:
    """f = (NDVI − 0.1)/(0.8 − 0.1) (dimidiate pixel model, GEP_METHOD §6.3): NDVI 0.45 → 0.5;
    0.05 → 0 (clipped); 0.9 → 1 (clipped)."""
    from liangshan.accounting.models import fractional_vegetation_cover

    f = fractional_vegetation_cover(np.array([0.45, 0.05, 0.9]), 0.1, 0.8)
    np.testing.assert_allclose(f, [0.5, 0.0, 1.0])


def test_ndvi_percentiles_from_histogram() -> None:
    """NDVI 0.000, 0.001, …, 0.999 inside the zones: the 5 % and 95 % percentiles are 0.05 and
    0.95 to within one 0.001 bin; cells outside the zones (NDVI 0.9) do not count."""
    import xarray as xr

    from liangshan.accounting.physical_terms import ndvi_percentiles

    values = np.concatenate([np.arange(1000) / 1000.0, np.full(1000, 0.9)]).reshape(40, 50)
    inside = xr.DataArray(np.arange(2000).reshape(40, 50) < 1000, dims=("y", "x"))
    lo, hi = ndvi_percentiles(xr.DataArray(values, dims=("y", "x")).chunk(10), inside)
    assert lo == pytest.approx(0.05, abs=0.0015)
    assert hi == pytest.approx(0.95, abs=0.0015)
