"""How an account's values respond to its uncertain physical coefficients.

Re-running the raster engine once per Monte Carlo draw is out of the question, but most
indicators are affine in a coefficient once the engine's per-(region, ecosystem) sums are
known: water conservation is Σ(P − ET − αP)·A, storm storage Σ α·P_storm·A, purification
capacity rate × area. So each coefficient with a range is measured by the engine itself,
twice: every row of the parameter moved to its ``low`` end, then to its ``high`` end (the
other parameters at their values), only the indicators that parameter feeds recomputed,
then valued by the same chain. A draw then costs one interpolation per account row:

    value(v) = value(mode) + t · (value(high) − value(mode))      t = (v − mode)/(high − mode) ≥ 0
    value(v) = value(mode) + |t| · (value(low) − value(mode))     t = (v − mode)/(mode − low) < 0

This is exact where the value is affine in the coefficient (checked: the two half-slopes
agree), and a three-point piecewise-linear approximation otherwise (purification capped at
the emitted load, min(emission, capacity), is piecewise linear with one kink per region);
:class:`Sensitivity` says which. Effects of different parameters are added, which is exact
when each account row depends on one uncertain parameter (true of the shipped coefficients).

Ranges live in ``params/physical_coefficients.csv`` (optional columns ``low``, ``high``,
``range_basis``, in the row's unit). Only rows tagged uncertain ([K], [D], [?], [NF],
[Hyp]) may carry a range; a [V] row with a range is refused, so confirmed values never vary.
Parameters without a range, or with a range but no route to an indicator below, are held
fixed and listed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from liangshan.accounting.coefficients import (
    DEFAULT_PATH,
    Coefficient,
    CoefficientTable,
    load_coefficients,
)
from liangshan.accounting.params.loader import UNCERTAIN_TAGS
from liangshan.accounting.physical_terms import PURIFICATION
from liangshan.errors import InvalidInput

#: coefficient → the indicators whose physical quantity it enters (GEP_METHOD §6).
ROUTES: dict[str, tuple[str, ...]] = {
    "runoff_coefficient": ("water_conservation",),
    "storm_runoff_coefficient": ("flood_regulation",),
    **{param: (ind,) for ind, param, _ in PURIFICATION.values()},
}

#: coefficients whose indicator is capped (purified = min(emission, capacity), §6.7–6.8):
#: piecewise linear, so the three-point interpolation is an approximation near the kink.
CAPPED = frozenset(param for _, param, _ in PURIFICATION.values())

KEY = ["region_code", "indicator", "item", "ecosystem_code"]


@dataclass
class Sensitivity:
    """The measured response of the account's rows to one parameter.

    ``rows``: the parameter's ranged rows (ecosystem_code or None for '*', value, low,
    high, in the CSV's unit). ``response``: one row per account row key (region_code,
    indicator, item, ecosystem_code) with value_low, value_base, value_high (CNY/yr).
    ``linear``: True if every row's two half-slopes agree (exact), False if some differ
    (piecewise-linear through three runs), None if no row could be checked.
    """

    parameter: str
    indicators: tuple[str, ...]
    rows: pd.DataFrame
    response: pd.DataFrame
    linear: bool | None

    def row_for(self, codes: np.ndarray) -> np.ndarray:
        """Index into ``rows`` of the row applying to each ecosystem code (−1: none)."""
        codes_of_rows = list(self.rows["ecosystem_code"])
        specific = {int(c): i for i, c in enumerate(codes_of_rows) if not pd.isna(c)}
        star = next((i for i, c in enumerate(codes_of_rows) if pd.isna(c)), -1)
        out = np.full(len(codes), star, dtype=np.int64)
        for j, c in enumerate(codes):
            try:
                out[j] = specific.get(int(c), star)
            except (TypeError, ValueError):
                out[j] = star
        return out


def read_ranges(path: str | Path | None = None) -> pd.DataFrame:
    """The ranged rows of a coefficient CSV: parameter, ecosystem_code (None = '*'), value,
    low, high, unit, confidence, range_basis. Refuses a range on a [V] row, a range that
    does not contain the value, or low ≥ high (naming file and line)."""
    src = Path(path) if path is not None else DEFAULT_PATH
    if not src.is_file():
        raise InvalidInput(f"coefficient file {src} does not exist",
                           hint="pass the CSV the physical account used")
    frame = pd.read_csv(src, dtype=str, keep_default_na=False, encoding="utf-8")
    cols = ["parameter", "ecosystem_code", "value", "low", "high", "unit", "confidence",
            "range_basis"]
    if "low" not in frame.columns or "high" not in frame.columns:
        return pd.DataFrame(columns=cols)
    out = []
    for i, rec in enumerate(frame.to_dict("records")):
        lo, hi = str(rec["low"]).strip(), str(rec["high"]).strip()
        if not lo and not hi:
            continue
        where = f"{src.name} line {i + 2} ({rec['parameter']!r})"
        conf = str(rec["confidence"]).strip()
        if not conf.startswith(UNCERTAIN_TAGS):
            raise InvalidInput(f"{where}: a range on a row tagged {conf!r}",
                               hint="confirmed [V] values never vary: remove the range, or "
                               "retag the value [K] with the reason")
        try:
            value, low, high = float(rec["value"]), float(lo), float(hi)
        except ValueError:
            raise InvalidInput(f"{where}: low {lo!r} / high {hi!r} are not both numbers",
                               hint="give both ends of the range, in the row's unit") from None
        if not (low <= value <= high and low < high):
            raise InvalidInput(f"{where}: range [{low}, {high}] does not contain the value "
                               f"{value} with low < high", hint="fix the range or the value")
        if not str(rec.get("range_basis", "")).strip():
            raise InvalidInput(f"{where}: the range has no basis",
                               hint="say where the range comes from in range_basis, with its "
                               "own confidence tag")
        code = str(rec["ecosystem_code"]).strip()
        out.append({"parameter": str(rec["parameter"]).strip(),
                    "ecosystem_code": None if code == "*" else int(code), "value": value,
                    "low": low, "high": high, "unit": str(rec["unit"]).strip(),
                    "confidence": conf, "range_basis": str(rec["range_basis"]).strip()})
    df = pd.DataFrame(out, columns=cols)
    # '*' stays None (not NaN) so it matches Coefficient.ecosystem_code
    df["ecosystem_code"] = pd.Series([r["ecosystem_code"] for r in out], dtype=object)
    return df


def _moved(table: CoefficientTable, rows: pd.DataFrame, end: str) -> CoefficientTable:
    """``table`` with the parameter's ranged rows set to their ``end`` (low or high)."""
    moved = {(r.parameter, None if pd.isna(r.ecosystem_code) else int(r.ecosystem_code)):
             float(getattr(r, end)) for r in rows.itertuples()}
    new: list[Coefficient] = []
    for p in table.parameters:
        for c in table.rows(p):
            v = moved.get((c.parameter, c.ecosystem_code))
            new.append(c if v is None else dataclasses.replace(c, value=v))
    return CoefficientTable(new, source=f"{table.source} ({rows['parameter'].iloc[0]} at {end})")


def keyed_values(records: pd.DataFrame) -> pd.Series:
    """value_yuan summed per account row key (region, indicator, item, ecosystem)."""
    r = records[records["value_yuan"].notna()].copy()
    r["item"] = r["item"].fillna("").astype(str)
    r["ecosystem_code"] = pd.to_numeric(r["ecosystem_code"], errors="coerce").fillna(-1)
    r["ecosystem_code"] = r["ecosystem_code"].astype(np.int64)
    return r.groupby(KEY)["value_yuan"].sum()


def _linear(resp: pd.DataFrame, rows: pd.DataFrame, idx: np.ndarray) -> bool | None:
    ok = idx >= 0
    if not ok.any():
        return None
    r = rows.iloc[idx[ok]]
    v, lo, hi = (r[c].to_numpy(dtype=float) for c in ("value", "low", "high"))
    sub = resp[ok]
    two_sided = (v > lo) & (hi > v)
    if not two_sided.any():
        return None
    up = (sub["value_high"].to_numpy() - sub["value_base"].to_numpy())[two_sided] / \
        (hi - v)[two_sided]
    down = (sub["value_base"].to_numpy() - sub["value_low"].to_numpy())[two_sided] / \
        (v - lo)[two_sided]
    scale = max(1.0, float(np.abs(sub["value_base"]).max()))
    return bool(np.allclose(up, down, rtol=1e-6, atol=1e-9 * scale))


def sensitivities(
    account_records: pd.DataFrame,
    physical: pd.DataFrame,
    recompute: Callable[[list[str], CoefficientTable], pd.DataFrame],
    revalue: Callable[[pd.DataFrame], pd.DataFrame],
    *,
    coefficients: CoefficientTable | None = None,
    ranges: pd.DataFrame | None = None,
) -> tuple[list[Sensitivity], pd.DataFrame]:
    """Measure every ranged parameter; return the sensitivities and the parameter status.

    ``recompute(indicators, table)`` returns the physical rows of those indicators computed
    with coefficient table ``table``; ``revalue(physical)`` returns the records of the
    account valued from a whole physical account. ``account_records`` are the base
    account's records. Status columns: parameter, confidence, status, detail.
    """
    table = coefficients if coefficients is not None else load_coefficients()
    ranged = ranges if ranges is not None else read_ranges()
    base = keyed_values(account_records)
    present = set(physical["indicator"])
    out: list[Sensitivity] = []
    status: list[dict[str, Any]] = []
    for param in table.parameters:
        conf = "; ".join(sorted({r.confidence for r in table.rows(param)}))
        rows = ranged[ranged["parameter"] == param].reset_index(drop=True)
        route = ROUTES.get(param)
        if all(r.confidence.startswith("[V") for r in table.rows(param)):
            status.append({"parameter": param, "confidence": conf, "status": "fixed",
                           "detail": "confirmed [V]: never varied"})
            continue
        if rows.empty:
            status.append({"parameter": param, "confidence": conf, "status": "fixed",
                           "detail": "uncertain but no range in the coefficient file"})
            continue
        if route is None:
            status.append({"parameter": param, "confidence": conf, "status": "fixed",
                           "detail": "has a range but no sensitivity route (not linear in "
                           "a per-zone sum, e.g. an exponent); held at its value"})
            continue
        inds = [i for i in route if i in present]
        if not inds:
            status.append({"parameter": param, "confidence": conf, "status": "fixed",
                           "detail": f"its indicators {list(route)} are not in this account"})
            continue
        ends = {}
        for end in ("low", "high"):
            moved = recompute(inds, _moved(table, rows, end))
            whole = pd.concat([physical[~physical["indicator"].isin(inds)], moved],
                              ignore_index=True)
            whole.attrs = dict(physical.attrs)
            ends[end] = keyed_values(revalue(whole))
        keys = base.index.union(ends["low"].index).union(ends["high"].index)
        resp = pd.DataFrame({"value_low": ends["low"].reindex(keys, fill_value=0.0),
                             "value_base": base.reindex(keys, fill_value=0.0),
                             "value_high": ends["high"].reindex(keys, fill_value=0.0)})
        moving = ~(np.isclose(resp["value_low"], resp["value_base"], rtol=1e-12, atol=0)
                   & np.isclose(resp["value_high"], resp["value_base"], rtol=1e-12, atol=0))
        resp = resp[moving].reset_index()
        sens = Sensitivity(param, tuple(inds), rows, resp, None)
        sens.linear = _linear(resp, rows, sens.row_for(resp["ecosystem_code"].to_numpy()))
        out.append(sens)
        kind = {True: "exact (affine: half-slopes agree)",
                False: "piecewise linear through low/value/high (not affine)",
                None: "one-sided ranges: linear between the value and the measured end, "
                "affinity not checked"}[sens.linear]
        if param in CAPPED:
            kind += "; capped at the emitted load (min), so approximate near the cap"
        status.append({"parameter": param, "confidence": conf, "status": "varied",
                       "detail": f"{len(rows)} row(s), {len(resp)} account row(s) respond; "
                       f"{kind}"})
    return out, pd.DataFrame(status, columns=["parameter", "confidence", "status", "detail"])


def triangular_ppf(u: np.ndarray, low: np.ndarray, mode: np.ndarray,
                   high: np.ndarray) -> np.ndarray:
    """Quantile function of the triangular distribution (low, mode, high) at ``u``."""
    span = high - low
    cut = (mode - low) / span
    left = low + np.sqrt(u * span * (mode - low))
    right = high - np.sqrt((1.0 - u) * span * (high - mode))
    return np.where(u < cut, left, right)


def draw_deltas(sens: Sensitivity, u: np.ndarray) -> np.ndarray:
    """Change of each response row's value (CNY/yr) for the draws ``u`` (shape n): every row
    of the parameter takes the same quantile (full correlation, as for prices)."""
    r = sens.rows
    low, mode, high = (r[c].to_numpy(dtype=float) for c in ("low", "value", "high"))
    v = triangular_ppf(u[None, :], low[:, None], mode[:, None], high[:, None])  # rows × n
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(v >= mode[:, None],
                     np.where(high[:, None] > mode[:, None],
                              (v - mode[:, None]) / (high - mode)[:, None], 0.0),
                     np.where(mode[:, None] > low[:, None],
                              (v - mode[:, None]) / (mode - low)[:, None], 0.0))
    idx = sens.row_for(sens.response["ecosystem_code"].to_numpy())
    resp = sens.response
    up = (resp["value_high"] - resp["value_base"]).to_numpy()[:, None]
    down = (resp["value_low"] - resp["value_base"]).to_numpy()[:, None]
    tr = np.where(idx[:, None] >= 0, t[np.maximum(idx, 0)], 0.0)
    return np.where(tr >= 0, tr * up, -tr * down)
