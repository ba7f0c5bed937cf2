"""InVEST-compatible models: same arguments, same output files, same numbers as InVEST 3.20.2.

``run_model(model, args)`` dispatches to ``<module>.execute(args)`` for
``annual_water_yield``, ``carbon``, ``sdr``, ``ndr`` and ``habitat_quality``. ``args`` uses
natcap.invest 3.20.2's argument names exactly (e.g. ``workspace_dir``, ``lulc_path``,
``seasonality_constant``); outputs land in ``workspace_dir`` under InVEST's file names, with
``results_suffix`` appended like InVEST ('_' prepended if missing).

Semantics follow /work/shared/reference/INVEST_NOTES.md (natcap.invest 3.20.2 source) [V];
each model module states where it deliberately differs. SDR and NDR are imported lazily
because they pull in the numba routing kernels.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from liangshan.errors import InvalidInput

__all__ = ["MODEL_ALIASES", "MODEL_ARGS", "check_args", "resolve_model", "run_model"]

_COMMON_OPTIONAL = frozenset({"results_suffix", "n_workers"})

# model -> (required, optional, conditional {arg: arg that makes it required}) [V] from the
# MODEL_SPEC inputs of natcap.invest 3.20.2.
MODEL_ARGS: dict[str, tuple[frozenset[str], frozenset[str], dict[str, str]]] = {
    "annual_water_yield": (
        frozenset({
            "workspace_dir", "lulc_path", "depth_to_root_rest_layer_path",
            "precipitation_path", "pawc_path", "eto_path", "watersheds_path",
            "biophysical_table_path", "seasonality_constant",
        }),
        frozenset({"sub_watersheds_path", "demand_table_path", "valuation_table_path"}),
        {"demand_table_path": "valuation_table_path"},
    ),
    "carbon": (
        frozenset({"workspace_dir", "lulc_bas_path", "carbon_pools_path"}),
        frozenset({
            "calc_sequestration", "lulc_alt_path", "lulc_bas_year", "lulc_alt_year",
            "do_valuation", "price_per_metric_ton_of_c", "discount_rate", "rate_change",
        }),
        {
            "calc_sequestration": "do_valuation",
            "lulc_alt_path": "calc_sequestration",
            "lulc_bas_year": "do_valuation",
            "lulc_alt_year": "do_valuation",
            "price_per_metric_ton_of_c": "do_valuation",
            "discount_rate": "do_valuation",
            "rate_change": "do_valuation",
        },
    ),
    "habitat_quality": (
        frozenset({
            "workspace_dir", "lulc_cur_path", "threats_table_path",
            "sensitivity_table_path", "half_saturation_constant",
        }),
        frozenset({"lulc_fut_path", "lulc_bas_path", "access_vector_path"}),
        {},
    ),
    "sdr": (
        frozenset({
            "workspace_dir", "dem_path", "erosivity_path", "erodibility_path", "lulc_path",
            "watersheds_path", "biophysical_table_path", "threshold_flow_accumulation",
            "k_param", "sdr_max", "ic_0_param", "l_max",
        }),
        frozenset({"drainage_path", "flow_dir_algorithm"}),
        {},
    ),
    "ndr": (
        frozenset({
            "workspace_dir", "dem_path", "lulc_path", "runoff_proxy_path", "watersheds_path",
            "biophysical_table_path", "calc_p", "calc_n", "threshold_flow_accumulation",
            "k_param",
        }),
        frozenset({
            "runoff_proxy_av", "subsurface_critical_length_n", "subsurface_eff_n",
            "flow_dir_algorithm",
        }),
        {"subsurface_critical_length_n": "calc_n", "subsurface_eff_n": "calc_n"},
    ),
}

# InVEST's own aliases (MODEL_SPEC.aliases) plus the obvious short names.
MODEL_ALIASES = {
    "awy": "annual_water_yield", "hwy": "annual_water_yield", "water_yield": "annual_water_yield",
    "hq": "habitat_quality", "sdr": "sdr", "ndr": "ndr", "carbon": "carbon",
}

_MODULES = {name: f"{__name__}.{name}" for name in MODEL_ARGS}


def _given(value: Any) -> bool:
    """InVEST treats None and '' as 'not provided'."""
    return value is not None and not (isinstance(value, str) and value.strip() == "")


def _triggered(value: Any) -> bool:
    """A boolean flag that is on, or a path/value that is given."""
    if isinstance(value, str):
        return value.strip().lower() not in {"", "0", "false", "no", "off"}
    return bool(value)


def resolve_model(model: str) -> str:
    """Canonical model name for ``model`` (case-insensitive, aliases accepted)."""
    key = str(model).strip().lower().replace("-", "_")
    key = MODEL_ALIASES.get(key, key)
    if key not in MODEL_ARGS:
        raise InvalidInput(
            f"unknown InVEST model {model!r}",
            hint=f"choose one of {sorted(MODEL_ARGS)} (aliases: {sorted(MODEL_ALIASES)})",
        )
    return key


def check_args(model: str, args: Mapping[str, Any]) -> None:
    """Raise InvalidInput for missing, conditionally missing or unknown arguments.

    Argument names are InVEST 3.20.2's; a value of None or '' counts as not given.
    """
    name = resolve_model(model)
    required, optional, conditional = MODEL_ARGS[name]
    allowed = required | optional | _COMMON_OPTIONAL
    extra = sorted(k for k in args if k not in allowed)
    if extra:
        raise InvalidInput(
            f"{name}: unknown argument(s) {extra}",
            hint=f"InVEST 3.20.2 {name} accepts {sorted(allowed)}",
        )
    missing = sorted(k for k in required if not _given(args.get(k)))
    for arg, trigger in conditional.items():
        if _triggered(args.get(trigger)) and not _given(args.get(arg)):
            missing.append(f"{arg} (required when {trigger} is given)")
    if missing:
        raise InvalidInput(
            f"{name}: missing required argument(s) {missing}",
            hint="use InVEST 3.20.2's argument names, e.g. as in an InVEST datastack (.invs.json)",
        )


def run_model(model: str, args: dict[str, Any]) -> None:
    """Run one InVEST-compatible model; outputs are written under ``args['workspace_dir']``."""
    name = resolve_model(model)
    check_args(name, args)
    module = importlib.import_module(_MODULES[name])
    module.execute(dict(args))
