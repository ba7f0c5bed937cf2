"""The ``run_model`` dispatcher: model names, argument checks, InVEST's argument names."""

from __future__ import annotations

import pytest

from liangshan.accounting.invest import MODEL_ARGS, check_args, resolve_model, run_model
from liangshan.errors import InvalidInput


def test_unknown_model():
    with pytest.raises(InvalidInput, match="unknown InVEST model 'pollination'"):
        run_model("pollination", {})


def test_aliases():
    assert resolve_model("AWY") == "annual_water_yield"
    assert resolve_model("hq") == "habitat_quality"


def test_missing_and_extra_arguments():
    with pytest.raises(InvalidInput, match=r"missing required argument\(s\).*lulc_bas_path"):
        check_args("carbon", {"workspace_dir": "w", "carbon_pools_path": "p.csv"})
    with pytest.raises(InvalidInput, match=r"unknown argument\(s\) \['lulc_cur_path'\]"):
        check_args("carbon", {"workspace_dir": "w", "carbon_pools_path": "p.csv",
                              "lulc_bas_path": "b.tif", "lulc_cur_path": "x"})


def test_conditional_requirements():
    base = {"workspace_dir": "w", "carbon_pools_path": "p.csv", "lulc_bas_path": "b.tif"}
    check_args("carbon", base | {"calc_sequestration": False})
    with pytest.raises(InvalidInput, match="lulc_alt_path"):
        check_args("carbon", base | {"calc_sequestration": True})
    with pytest.raises(InvalidInput, match="subsurface_eff_n"):
        check_args("ndr", {"workspace_dir": "w", "dem_path": "d", "lulc_path": "l",
                           "runoff_proxy_path": "r", "watersheds_path": "v",
                           "biophysical_table_path": "b", "calc_p": False, "calc_n": True,
                           "threshold_flow_accumulation": 1000, "k_param": 2,
                           "subsurface_critical_length_n": 200})


@pytest.mark.invest
@pytest.mark.parametrize("model", sorted(MODEL_ARGS))
def test_argument_names_are_invests(model):
    """Our accepted names equal natcap.invest 3.20.2's MODEL_SPEC input ids."""
    pytest.importorskip("natcap.invest")
    import importlib

    module = {"annual_water_yield": "annual_water_yield.annual_water_yield",
              "carbon": "carbon.carbon", "habitat_quality": "habitat_quality.habitat_quality",
              "sdr": "sdr.sdr", "ndr": "ndr.ndr"}[model]
    spec = importlib.import_module(f"natcap.invest.{module}").MODEL_SPEC
    theirs = {i.id for i in spec.inputs}
    required, optional, _ = MODEL_ARGS[model]
    assert required | optional | {"results_suffix", "n_workers"} == theirs
