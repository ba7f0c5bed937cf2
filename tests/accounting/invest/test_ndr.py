"""NDR: hand-computed effective retention and parity with natcap.invest 3.20.2.

Parity runs InVEST's own ``ndr.execute`` on generated inputs (conftest
``make_invest_inputs``); skipped when natcap.invest is not importable.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from liangshan.accounting.invest import ndr
from liangshan.errors import InvalidInput

from .test_sdr import compare_outputs

PIXEL_OUTPUTS = ["n_surface_export", "n_subsurface_export", "n_total_export",
                 "p_surface_export"]
FIELDS = ["n_surface_load", "n_surface_export", "n_subsurface_export", "n_total_export",
          "n_subsurface_load", "p_surface_load", "p_surface_export"]


def test_effective_retention_hand_case():
    """1×3 row draining east, stream at the last pixel, cell 30 m, eff [0.8, 0.5, 0],
    crit_len [100, 100, 0] m (INVEST_NOTES §3.4). f = exp(−5·30/100) = e^−1.5.
    Pixel 1 drains to the stream: eff' = 0.5(1 − f) = 0.388435.
    Pixel 0: eff 0.8 > 0.388435, so eff' = 0.388435·f + 0.8(1 − f) = 0.708168."""
    fd = np.array([[15, 15, 15]], dtype=np.int32)
    stream = np.array([[0, 0, 1]], dtype=np.uint8)
    eff = np.array([[0.8, 0.5, 0.0]], dtype=np.float32)
    crit = np.array([[100.0, 100.0, 0.0]], dtype=np.float32)
    valid = np.ones((1, 3), bool)
    out = ndr.effective_retention(fd, stream, eff, crit, valid, 30.0, 256)
    f = math.exp(-1.5)
    e1 = 0.5 * (1 - f)
    np.testing.assert_allclose(out, [[e1 * f + 0.8 * (1 - f), e1, 0.0]], rtol=1e-6)


def test_effective_retention_keeps_downstream_value_when_higher():
    """eff_i ≤ eff'_j: the downstream retention passes through unchanged (eff' = eff'_j)."""
    fd = np.array([[15, 15, 15]], dtype=np.int32)
    stream = np.array([[0, 0, 1]], dtype=np.uint8)
    eff = np.array([[0.1, 0.9, 0.0]], dtype=np.float32)
    crit = np.array([[50.0, 50.0, 0.0]], dtype=np.float32)
    out = ndr.effective_retention(fd, stream, eff, crit, np.ones((1, 3), bool), 30.0, 256)
    e1 = 0.9 * (1 - math.exp(-3.0))
    np.testing.assert_allclose(out, [[e1, e1, 0.0]], rtol=1e-6)


def test_requires_a_nutrient(tmp_path: Path):
    with pytest.raises(InvalidInput, match="calc_n"):
        ndr.execute({
            "workspace_dir": str(tmp_path), "dem_path": "x", "lulc_path": "x",
            "runoff_proxy_path": "x", "watersheds_path": "x",
            "biophysical_table_path": "x", "threshold_flow_accumulation": 100,
            "k_param": 2,
        })


@pytest.mark.invest
@pytest.mark.slow  # runs natcap.invest and, in a fresh process, compiles the numba kernels
@pytest.mark.parametrize(("algo", "holes"), [("MFD", False), ("D8", False), ("MFD", True)])
def test_parity_with_invest(invest_inputs_factory, tmp_path: Path, algo: str, holes: bool):
    """Our NDR against natcap.invest 3.20.2's ``ndr.execute`` on a 120×120 synthetic county
    (N and P, subsurface N): totals within 0.5 %, ≥ 99 % of valid pixels within 1 %.
    ``holes`` punches nodata into LULC and the runoff proxy (precipitation)."""
    invest_ndr = pytest.importorskip(
        "natcap.invest.ndr.ndr", reason="natcap.invest 3.20.2 is not installed "
        "(scripts/install_invest.sh)")
    inp = invest_inputs_factory(n=120, seed=7, holes=holes)
    args = dict(
        dem_path=str(inp.dem_path), lulc_path=str(inp.lulc_path),
        runoff_proxy_path=str(inp.runoff_proxy_path),
        watersheds_path=str(inp.watersheds_path),
        biophysical_table_path=str(inp.ndr_biophysical_table_path),
        threshold_flow_accumulation=150, k_param=2, calc_n=True, calc_p=True,
        subsurface_critical_length_n=200, subsurface_eff_n=0.8, flow_dir_algorithm=algo,
        results_suffix="", n_workers=-1,
    )
    ours_args = dict(args, intermediate_outputs="key")
    invest_ndr.execute(dict(args, workspace_dir=str(tmp_path / "invest")))
    ndr.execute(dict(ours_args, workspace_dir=str(tmp_path / "ours")))
    names = [*PIXEL_OUTPUTS, "intermediate_outputs/effective_retention_n",
             "intermediate_outputs/ndr_p"]
    rep = compare_outputs(tmp_path / "ours", tmp_path / "invest", names,
                          "watershed_results_ndr.gpkg", FIELDS)
    for name in names:
        assert rep[name]["mask_mismatch"] == 0, (name, rep[name])
        assert rep[name]["within"] >= 0.99, (name, rep[name])
    for f in FIELDS:
        assert rep[f"total:{f}"] <= 0.005, (f, rep)
