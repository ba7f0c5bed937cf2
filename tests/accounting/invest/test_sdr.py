"""SDR: golden numbers, hand-computed kernels, and parity with natcap.invest 3.20.2.

Parity tests run InVEST's own ``sdr.execute`` on generated inputs (conftest
``make_invest_inputs``) and compare: watershed totals within 0.5 % and ≥ 99 % of valid
pixels within 1 %. They are skipped when natcap.invest is not importable.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from liangshan.accounting.invest import sdr
from liangshan.errors import InvalidInput

PIXEL_OUTPUTS = ["rkls", "usle", "sed_export", "sed_deposition", "avoided_erosion",
                 "avoided_export"]
FIELDS = ["usle_tot", "sed_export", "sed_dep", "avoid_exp", "avoid_eros"]


def test_ls_factor_matches_invest_golden_numbers():
    """natcap.invest tests/test_sdr.py::test_ls_factor (INVEST_NOTES §3.7): cell 30 m,
    l_max 25, slope % [1.5, 4, 8, 10, 15], FA [100, 100, 100, 100, 1e7]."""
    ls = sdr.ls_factor(np.array([1.5, 4, 8, 10, 15.0]),
                       np.array([100, 100, 100, 100, 1e7]), 30.0, 25.0)
    np.testing.assert_allclose(
        ls, [0.253996, 0.657229, 1.345856, 1.776729, 49.802994], rtol=2e-6)


def test_sediment_deposition_hand_case():
    """1×3 row draining east; SDR [0.2, 0.5, 1.0], E' [10, 4, 0] t/ha.

    Pixel 0: no inflow, F = E' = 10. Pixel 1: inflow 10, downslope SDR 1.0, so
    dT = (1 − 0.5)/(1 − 0.5) = 1: T = 10, F = 0 + 4. Pixel 2 (SDR 1, flows off the
    raster): dT = 1, T = 4, F = 0. Mass balance: Σ E' = 14 = Σ T (INVEST_NOTES §3.3).
    """
    e = 15  # all weight east
    fd = np.array([[e, e, e]], dtype=np.int32)
    sdr_f = np.array([[0.2, 0.5, 1.0]], dtype=np.float32)
    e_prime = np.array([[10.0, 4.0, 0.0]], dtype=np.float32)
    dep, flux = sdr.sediment_deposition(fd, e_prime, sdr_f, 256)
    np.testing.assert_allclose(dep, [[0.0, 10.0, 4.0]], rtol=1e-6)
    np.testing.assert_allclose(flux, [[10.0, 4.0, 0.0]], rtol=1e-6)


def test_sediment_deposition_partial_trapping():
    """SDR [0.2, 0.6]: pixel 0 has s̄ = 0.6, dT = (0.6 − 0.2)/0.8 = 0.5 but no inflow;
    pixel 1 receives F0 = E'0 = 8; its downslope leaves the raster so s̄ = SDR1 and
    dT = 0: T1 = 0, F1 = 8 + 2 = 10."""
    fd = np.array([[15, 15]], dtype=np.int32)
    dep, flux = sdr.sediment_deposition(
        fd, np.array([[8.0, 2.0]], np.float32), np.array([[0.2, 0.6]], np.float32), 256)
    np.testing.assert_allclose(dep, [[0.0, 0.0]], atol=1e-7)
    np.testing.assert_allclose(flux, [[8.0, 10.0]], rtol=1e-6)


def test_missing_argument_is_invalid_input(tmp_path: Path):
    with pytest.raises(InvalidInput, match="dem_path"):
        sdr.execute({"workspace_dir": str(tmp_path)})


def test_lulc_code_missing_from_table(invest_inputs_factory, tmp_path: Path):
    """A LULC code absent from the biophysical table is an error naming the code, as in
    InVEST's ``utils.reclassify_raster`` (INVEST_NOTES §3.1)."""
    inp = invest_inputs_factory(n=30, seed=1)
    table = tmp_path / "bio.csv"
    lines = Path(inp.sdr_biophysical_table_path).read_text().splitlines()
    table.write_text("\n".join(ln for ln in lines if not ln.startswith("1,")) + "\n")
    args = _args(inp, "MFD") | {"biophysical_table_path": str(table),
                                "workspace_dir": str(tmp_path / "ws")}
    with pytest.raises(InvalidInput, match=r"\[1\]"):
        sdr.execute(args)
    assert not (tmp_path / "ws" / "sed_export.tif").exists()


def _args(inp, algo: str) -> dict:
    return dict(
        dem_path=str(inp.dem_path), erosivity_path=str(inp.erosivity_path),
        erodibility_path=str(inp.erodibility_path), lulc_path=str(inp.lulc_path),
        watersheds_path=str(inp.watersheds_path),
        biophysical_table_path=str(inp.sdr_biophysical_table_path),
        threshold_flow_accumulation=150, k_param=2, sdr_max=0.8, ic_0_param=0.5,
        l_max=122, flow_dir_algorithm=algo, results_suffix="", n_workers=-1,
    )


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import rasterio

    with rasterio.open(path) as src:
        a = src.read(1).astype(np.float64)
        nd = src.nodata
    valid = ~np.isclose(a, nd) if nd is not None else np.ones(a.shape, bool)
    return a, valid


def compare_outputs(ours: Path, theirs: Path, names, vector: str, fields) -> dict:
    """Per raster: valid-mask mismatches, share of pixels within 1 %, max relative diff;
    per vector field: max relative difference of the totals."""
    import geopandas as gpd

    report = {}
    for name in names:
        a, va = _read(theirs / f"{name}.tif")
        b, vb = _read(ours / f"{name}.tif")
        both = va & vb
        diff = np.abs(a - b)[both]
        rel = diff / np.maximum(np.abs(a[both]), 1e-12)
        ok = (rel <= 0.01) | (diff <= 1e-6)
        report[name] = dict(mask_mismatch=int((va != vb).sum()), within=float(ok.mean()),
                            max_rel=float(rel.max()) if rel.size else 0.0)
    g1 = gpd.read_file(theirs / vector)
    g2 = gpd.read_file(ours / vector)
    for f in fields:
        t, o = g1[f].to_numpy(float), g2[f].to_numpy(float)
        report[f"total:{f}"] = float(np.max(np.abs(o - t) / np.maximum(np.abs(t), 1e-9)))
    return report


@pytest.mark.invest
@pytest.mark.slow  # runs natcap.invest and, in a fresh process, compiles the numba kernels
@pytest.mark.parametrize(("algo", "holes"), [("MFD", False), ("D8", False), ("MFD", True)])
def test_parity_with_invest(invest_inputs_factory, tmp_path: Path, algo: str, holes: bool):
    """Our SDR against natcap.invest 3.20.2's ``sdr.execute`` on a 120×120 synthetic
    county (4 watersheds, 8 LULC classes, a doline): totals within 0.5 %, ≥ 99 % of
    valid pixels within 1 %, identical nodata masks. ``holes`` punches nodata into LULC and
    precipitation (the NDR runoff proxy) to exercise the nodata rules."""
    invest_sdr = pytest.importorskip(
        "natcap.invest.sdr.sdr", reason="natcap.invest 3.20.2 is not installed "
        "(scripts/install_invest.sh)")
    inp = invest_inputs_factory(n=120, seed=5, holes=holes)
    args = _args(inp, algo)
    invest_sdr.execute(dict(args, workspace_dir=str(tmp_path / "invest")))
    sdr.execute(dict(args, workspace_dir=str(tmp_path / "ours")))
    rep = compare_outputs(tmp_path / "ours", tmp_path / "invest",
                          [*PIXEL_OUTPUTS, "stream"], "watershed_results_sdr.shp", FIELDS)
    for name in [*PIXEL_OUTPUTS, "stream"]:
        assert rep[name]["mask_mismatch"] == 0, (name, rep[name])
        assert rep[name]["within"] >= 0.99, (name, rep[name])
    for f in FIELDS:
        assert rep[f"total:{f}"] <= 0.005, (f, rep)
    assert math.isfinite(rep["total:sed_export"])
