"""The chain: study area → physical account → value → ``Account``, with provenance.

:func:`run_gep` is the one entry point the CLI, API and demo call. It imports nothing
from the platform (DESIGN §3 rule 1).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from liangshan.accounting import cultural, double_counting, provisioning
from liangshan.accounting.account import Account
from liangshan.accounting.manifest import build_manifest, frame_sha256, study_file_hashes
from liangshan.accounting.params import PriceBook
from liangshan.accounting.profiles import Profile, load_profile
from liangshan.accounting.valuation import ValuationContext, check_physical, value_physical
from liangshan.errors import ConfigurationError, InvalidInput

Progress = Callable[[str, float], None]

#: RUSLE's slope length is the overland-flow path until flow concentrates; its tables end at
#: 1,000 ft ≈ 305 m (Renard et al. 1997, USDA Agriculture Handbook 703, ch. 4) [K]. Upslope
#: areas beyond that are channels, where the MFD upslope area grows to km² and the uncapped
#: Desmet–Govers L (GEP_METHOD §6.3) reached 50–100, so sample soil retention came out at
#: 2–7×10⁵ t/km²/yr, 10–25× the Garzê per-area anchor (GEP_METHOD §11). The cap is L of a
#: 305 m slope on the steepest class (m = 0.5): (305/22.13)^0.5 = 3.712.
RUSLE_SLOPE_LENGTH_MAX_M = 305.0
DEFAULT_PHYSICAL_OPTIONS: dict[str, Any] = {
    "l_max": round((RUSLE_SLOPE_LENGTH_MAX_M / 22.13) ** 0.5, 3)}


def physical_defaults(physical_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The defaults of :data:`DEFAULT_PHYSICAL_OPTIONS` the caller did not set (an explicit
    ``l_max=None`` keeps L uncapped)."""
    given = physical_options or {}
    return {k: v for k, v in DEFAULT_PHYSICAL_OPTIONS.items() if k not in given}
TABLES = ("products", "water_use", "hydropower", "emissions", "tourism", "socioeconomic",
          "landscape")


def table_getter(study: Any) -> Callable[[str], pd.DataFrame | None]:
    """``name -> DataFrame | None`` over a StudyArea (``.table(name)``), a mapping or None.

    A table the study does not have is None (the accounting steps turn that into gaps);
    any other error reading it propagates.
    """
    cache: dict[str, pd.DataFrame | None] = {}

    def get(name: str) -> pd.DataFrame | None:
        if name in cache:
            return cache[name]
        df: pd.DataFrame | None
        if study is None:
            df = None
        elif isinstance(study, Mapping):
            df = study.get(name)
        else:
            names = getattr(study, "table_names", None)
            # A StudyArea raises for tables it does not list; absence becomes a gap.
            df = study.table(name) if names is None or name in names else None
        cache[name] = df
        return df

    return get


def _physical(study: Any, year: int, progress: Progress | None,
              physical_options: dict[str, Any]) -> pd.DataFrame:
    if study is None:
        raise InvalidInput("run_gep: no study area and no physical account given",
                           hint="pass a StudyArea, or physical=<DataFrame>")
    try:
        from liangshan.accounting.physical import physical_account
    except ImportError as e:
        raise ConfigurationError(
            "the physical accounting engine (liangshan.accounting.physical) is not available",
            hint="pass physical=<DataFrame> to run_gep, or install the complete package") from e
    params = inspect.signature(physical_account).parameters
    unknown = [k for k in physical_options if k not in params]
    if unknown:
        raise InvalidInput(f"run_gep: physical option(s) {unknown} not accepted by "
                           "physical_account", hint=f"accepted: {', '.join(params)}")
    kwargs: dict[str, Any] = dict(physical_options)
    if progress is not None and "progress" in params:
        # The physical stage takes the first 60 % of the run's progress bar.
        kwargs["progress"] = lambda stage, f: progress(f"physical: {stage}", 0.6 * f)
    return physical_account(study, year, **kwargs)


def compute_physical(study: Any, year: int, progress: Progress | None = None,
                     physical_options: dict[str, Any] | None = None) -> pd.DataFrame:
    """The physical account :func:`run_gep` would compute (same defaults, options checked
    the same way); for callers that need it themselves (the uncertainty analysis)."""
    opts = dict(physical_options or {})
    defaults = physical_defaults(opts)
    table = _physical(study, year, progress, {**defaults, **opts})
    table.attrs["physical_defaults"] = defaults  # run_gep records them in the manifest
    return table


def socioeconomic_frame(get: Callable[[str], pd.DataFrame | None], year: int,
                        warnings: list[str]) -> pd.DataFrame:
    """region_code, gdp_yuan, population, area_km2 for the year (empty if no table)."""
    se = provisioning.table_for_year(get, "socioeconomic", year)
    if se is None or se.empty:
        warnings.append(f"no socioeconomic table rows for {year}: GEP/GDP, per-capita and "
                        "per-km² GEP are not computed")
        return pd.DataFrame(columns=["region_code", "gdp_yuan", "population", "area_km2"])
    return pd.DataFrame({
        "region_code": se["region_code"].astype(str),
        "gdp_yuan": pd.to_numeric(se["gdp_10k_yuan"], errors="coerce") * 1e4,
        "population": pd.to_numeric(se["population_10k"], errors="coerce") * 1e4,
        "area_km2": pd.to_numeric(se["area_km2"], errors="coerce")})


STATISTICS_TABLE = {"material_agriculture": "products", "material_forestry": "products",
                    "material_livestock": "products", "material_fishery": "products",
                    "material_other": "products", "water_supply": "water_use",
                    "hydropower": "hydropower", "recreation": "tourism"}


def missing_region_rows(records: pd.DataFrame, get: Callable[[str], pd.DataFrame | None],
                        year: int, regions: set[str], ctx: ValuationContext) -> None:
    """Gap for a region of the account that has no row of the year in a table the profile
    uses (a region without, say, hydropower rows is 'not accounted', not a silent zero;
    write an explicit 0 row when the true value is zero)."""
    have = set(zip(records["region_code"].astype(str), records["indicator"], strict=True))
    gapped = {(g["region_code"], g["indicator"]) for g in ctx.gaps}
    for ind, table in STATISTICS_TABLE.items():
        if ctx.spec(ind) is None:
            continue
        if ind.startswith("material_") and ind[9:] not in ctx.profile.setting(
                "material_categories"):
            continue
        df = provisioning.table_for_year(get, table, year)
        if df is None:
            continue  # the whole table is already a gap
        for reg in sorted(regions):
            if (reg, ind) not in have and (reg, ind) not in gapped:
                ctx.gap(reg, ind, f"no rows for region {reg} in table {table} for {year}")


def region_names(study: Any) -> dict[str, str]:
    """region_code -> name from the study's zones, when it has them (else empty)."""
    try:
        zones = getattr(study, "zones", None)
    except Exception:  # names are cosmetic; a zones problem surfaces in the physical step
        return {}
    if zones is None or "region_code" not in getattr(zones, "columns", []):
        return {}
    names = zones["name"] if "name" in zones.columns else zones["region_code"]
    return {str(c): str(n) for c, n in zip(zones["region_code"], names, strict=True)}


def physical_gaps(physical: pd.DataFrame) -> list[dict[str, Any]]:
    """The physical engine's ``attrs["gaps"]`` as account gaps (``not accounted: …``)."""
    out = []
    for g in physical.attrs.get("gaps", []) or []:
        reason = str(g.get("reason", ""))
        out.append({"region_code": str(g.get("region_code") or "*"),
                    "indicator": str(g.get("indicator", "")), "item": "",
                    "reason": reason if reason.startswith("not accounted")
                    else f"not accounted: {reason}"})
    return out


def run_gep(study: Any, year: int, profile: str | Path | Profile = "ndrc-2022", *,
            physical: pd.DataFrame | None = None,
            overrides: str | Path | pd.DataFrame | None = None,
            progress: Progress | None = None,
            prices: str | Path | None = None,
            price_indices: str | Path | None = None,
            physical_options: dict[str, Any] | None = None,
            options: dict[str, Any] | None = None) -> Account:
    """Account GEP for ``year`` under ``profile``; returns an :class:`Account`.

    ``study``: a StudyArea (``.table(name)``), a mapping table name -> DataFrame, or None.
    ``physical``: the physical account (region_code, ecosystem_code, indicator, quantity,
    unit, method); computed with ``physical_account(study, year)`` when None.
    ``overrides``: a price file (path or DataFrame) in ``params/prices.csv`` format whose
    rows replace or add prices; recorded in the manifest. ``prices`` / ``price_indices``
    replace the shipped files. ``physical_options`` are passed to ``physical_account``
    (e.g. ``{"hot_days": 60, "lake_region": "eastern_plain"}``) and recorded; the
    :data:`DEFAULT_PHYSICAL_OPTIONS` they do not set (the RUSLE slope-length cap) are applied
    and recorded as ``physical_defaults``.
    ``progress(stage, fraction)`` is called between stages (fraction 0–1).
    Values are CNY/yr at accounting-year prices.
    """
    def tick(stage: str, f: float) -> None:
        if progress is not None:
            progress(stage, f)

    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    kw: dict[str, Any] = {}
    if prices is not None:
        kw["prices"] = prices
    if price_indices is not None:
        kw["indices"] = price_indices
    book = PriceBook.load(overrides=overrides, **kw)
    ctx = ValuationContext(profile=prof, book=book, year=int(year))
    ctx.warnings.extend(prof.warnings)
    get = table_getter(study)

    tick("physical", 0.0)
    if physical is None:
        physical = compute_physical(study, year, progress, physical_options)
    defaults = dict(physical.attrs.get("physical_defaults") or {})
    phys = check_physical(physical)
    tick("valuation", 0.6)
    emissions = provisioning.table_for_year(get, "emissions", int(year))
    phys = double_counting.cap_purification_at_emissions(phys, emissions, ctx)
    regulating = value_physical(phys, ctx)
    tick("provisioning", 0.75)
    prov = provisioning.provisioning_records(get, ctx)
    tick("cultural", 0.85)
    cult = cultural.cultural_records(get, ctx)
    frames = [f for f in (prov, regulating, cult) if len(f)]
    records = pd.concat(frames, ignore_index=True) if frames else regulating
    records = double_counting.final_products_only(records, ctx)
    records = double_counting.water_supply_overlap(records, ctx)
    records = double_counting.origin_rule(
        records, provisioning.table_for_year(get, "water_use", int(year)), ctx)

    tick("account", 0.95)
    socio = socioeconomic_frame(get, int(year), ctx.warnings)
    regions = set(phys["region_code"]) | set(socio["region_code"])
    missing_region_rows(records, get, int(year), regions, ctx)
    inputs: dict[str, str | None] = {"physical": frame_sha256(physical)}
    inputs.update(study_file_hashes(study))
    for name in TABLES:
        inputs[f"table:{name}"] = frame_sha256(get(name))
    manifest = build_manifest(year=int(year), profile=prof, book=book, inputs=inputs,
                              kind=str((options or {}).get("kind", "gep")),
                              options={"profile_arg": str(profile) if not isinstance(
                                  profile, Profile) else prof.id,
                                  "physical_options": physical_options or {},
                                  **({"physical_defaults": defaults} if defaults else {}),
                                  **(options or {})})
    acc = Account(records, int(year), prof.id, gaps=pd.DataFrame(ctx.gaps + physical_gaps(physical)),
                  rules=ctx.rules, socioeconomic=socio, manifest=manifest,
                  warnings=ctx.warnings)
    acc.region_names = region_names(study)
    tick("done", 1.0)
    return acc
