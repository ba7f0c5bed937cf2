"""Monte Carlo over uncertain prices and physical coefficients: 5–95 % intervals per
indicator, class, region and GEP (issue 4 item 9).

Prices: every price whose confidence tag is uncertain ([K], [D], [?], [NF], [Hyp]) and whose
price file gives a range (``low``/``high``, re-based with the same index factor as the price)
is drawn from a triangular distribution (low, mode = the price used, high). One draw per
price id per iteration is shared by every row using that price, so a price error moves all
regions together (full correlation, the conservative choice).

Physical coefficients: the ranged rows of the coefficient file, measured by
:mod:`liangshan.accounting.sensitivity` (the engine run at each range end, valued by the
same chain). One quantile per parameter per iteration is shared by all its rows (again full
correlation); each account row moves by the interpolated response. Drawn value of a row =
(value + Σ coefficient effects) × price multiplier, which is exact for a row affine in its
coefficient because the value is quantity × price.

[V] prices and coefficients, and anything without a range, are held fixed and listed in
``UncertaintyResult.parameters``. Values in CNY/yr. The generator is
``numpy.random.default_rng(seed)``; the same seed and inputs give the same intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from liangshan.accounting.account import Account
from liangshan.accounting.params.loader import UNCERTAIN_TAGS
from liangshan.accounting.sensitivity import KEY, Sensitivity, draw_deltas, sensitivities
from liangshan.errors import InvalidInput

STATUS_COLUMNS = ["parameter", "confidence", "status", "detail"]


@dataclass
class UncertaintyResult:
    """``by_indicator``: indicator rows plus class rows and a ``GEP`` row; ``by_region``:
    GEP per region. Columns: value_yuan (the account's), mean_yuan, p05_yuan, p50_yuan,
    p95_yuan. ``varied``: the prices drawn (price_id, price, low, high, confidence).
    ``parameters``: every physical coefficient with its status (varied / fixed) and why;
    ``sensitivities``: the measured responses used."""

    by_indicator: pd.DataFrame
    by_region: pd.DataFrame
    varied: pd.DataFrame
    n: int
    seed: int
    parameters: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=STATUS_COLUMNS))
    sensitivities: list[Sensitivity] = field(default_factory=list)


def _summary(point: np.ndarray, draws: np.ndarray, labels: list[str], key: str) -> pd.DataFrame:
    q = np.percentile(draws, [5, 50, 95], axis=1)
    return pd.DataFrame({key: labels, "value_yuan": point, "mean_yuan": draws.mean(axis=1),
                         "p05_yuan": q[0], "p50_yuan": q[1], "p95_yuan": q[2]})


def _price_multipliers(v: pd.DataFrame, rng: np.random.Generator,
                       n: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Per record, its price multiplier draws (records × n), and the prices varied."""
    conf = v["price_confidence"].fillna("").astype(str)
    low, high = v["price_low"].astype(float), v["price_high"].astype(float)
    ok = (conf.str.startswith(UNCERTAIN_TAGS) & np.isfinite(low) & np.isfinite(high)
          & (high > low) & (v["price"].astype(float) > 0)).to_numpy()
    varied = (v[ok].groupby("price_id")
              .agg(price=("price", "first"), low=("price_low", "first"),
                   high=("price_high", "first"), confidence=("price_confidence", "first"))
              .reset_index())
    mult = np.ones((len(varied) + 1, n))  # last row: fixed prices
    for i, r in varied.iterrows():
        lo, hi, price = float(r["low"]), float(r["high"]), float(r["price"])
        mode = min(max(price, lo), hi)
        mult[int(i)] = rng.triangular(lo, mode, hi, size=n) / price
    pos = {pid: i for i, pid in enumerate(varied["price_id"])}
    which = [pos.get(p, len(varied)) if o else len(varied)
             for p, o in zip(v["price_id"], ok, strict=True)]
    return mult[np.asarray(which, dtype=np.int64)], varied


def _coefficient_deltas(v: pd.DataFrame, sens: list[Sensitivity], rng: np.random.Generator,
                        n: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Per record, the summed coefficient effects (records × n); plus rows for keys that
    respond but have no record in the account (value 0 at the coefficient's value)."""
    keys = pd.MultiIndex.from_frame(pd.DataFrame({
        "region_code": v["region_code"].astype(str), "indicator": v["indicator"],
        "item": v["item"].fillna("").astype(str),
        "ecosystem_code": pd.to_numeric(v["ecosystem_code"], errors="coerce")
        .fillna(-1).astype(np.int64)}))
    # a key shared by several records: its change is split by their values (equally if 0)
    base = v["value_yuan"].to_numpy(dtype=float)
    tot = pd.Series(base, index=keys).groupby(level=list(range(4))).transform("sum").to_numpy()
    cnt = pd.Series(1.0, index=keys).groupby(level=list(range(4))).transform("sum").to_numpy()
    share = np.where(tot != 0, base / np.where(tot != 0, tot, 1.0), 1.0 / cnt)
    where: dict[tuple[Any, ...], list[int]] = {}
    for i, key in enumerate(keys):
        where.setdefault(key, []).append(i)
    deltas = np.zeros((len(v), n))
    extra: dict[tuple[Any, ...], np.ndarray] = {}
    for s in sens:
        u = rng.random(n)
        d = draw_deltas(s, u)
        for j, key in enumerate(pd.MultiIndex.from_frame(s.response[KEY])):
            rows = where.get(key)
            if rows:
                deltas[rows] += share[rows, None] * d[j]
            else:
                extra[key] = extra.get(key, np.zeros(n)) + d[j]
    extra_frame = pd.DataFrame([dict(zip(KEY, k, strict=True)) for k in extra], columns=KEY)
    extra_frame["_draws"] = list(extra.values())
    return deltas, extra_frame


def _draws(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | float) or int(n) != n or n < 10:
        raise InvalidInput(f"monte_carlo: n = {n!r} draws is too few or not a whole number",
                           hint="use n >= 10 (1000 for a report)")
    return int(n)


def monte_carlo(account: Account, n: int = 1000, seed: int = 0, *,
                coefficient_sensitivities: list[Sensitivity] | None = None,
                parameters: pd.DataFrame | None = None) -> UncertaintyResult:
    """Draw ``n`` price and coefficient vectors; 5/50/95 % values (CNY/yr).

    ``coefficient_sensitivities`` (from :func:`sensitivities`, or use
    :func:`account_uncertainty`) adds the physical coefficients; without it only prices vary.
    ``parameters`` is the coefficient status table to pass through to the result.
    """
    n = _draws(n)
    v = account.valued.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    mult, varied = _price_multipliers(v, rng, n)
    sens = list(coefficient_sensitivities or [])
    deltas, extra = _coefficient_deltas(v, sens, rng, n)
    base = v["value_yuan"].to_numpy(dtype=float)
    rows = (base[:, None] + deltas) * mult
    labels = v[["region_code", "class", "indicator"]].astype(str)
    if len(extra):  # rows that are zero in the account but move with a coefficient
        cls = dict(zip(account.records["indicator"], account.records["class"], strict=False))
        labels = pd.concat([labels, pd.DataFrame({
            "region_code": extra["region_code"].astype(str),
            "class": extra["indicator"].map(cls).fillna("regulating").astype(str),
            "indicator": extra["indicator"].astype(str)})], ignore_index=True)
        rows = np.vstack([rows, np.vstack(extra["_draws"].to_list())])
        base = np.concatenate([base, np.zeros(len(extra))])

    def agg(col: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        lab = labels[col].to_numpy()
        uniq = list(dict.fromkeys(lab))
        idx = pd.Index(uniq).get_indexer(lab)
        draws = np.zeros((len(uniq), n))
        np.add.at(draws, idx, rows)
        return uniq, np.bincount(idx, weights=base, minlength=len(uniq)), draws

    ind_l, ind_p, ind_d = agg("indicator")
    cls_l, cls_p, cls_d = agg("class")
    reg_l, reg_p, reg_d = agg("region_code")
    by_ind = pd.concat([
        _summary(ind_p, ind_d, ind_l, "indicator"),
        _summary(cls_p, cls_d, [f"class:{c}" for c in cls_l], "indicator"),
        _summary(np.array([base.sum()]), rows.sum(axis=0, keepdims=True), ["GEP"],
                 "indicator")], ignore_index=True)
    status = parameters if parameters is not None else pd.DataFrame(columns=STATUS_COLUMNS)
    return UncertaintyResult(by_indicator=by_ind,
                             by_region=_summary(reg_p, reg_d, reg_l, "region_code"),
                             varied=varied, n=n, seed=seed, parameters=status,
                             sensitivities=sens)


def account_uncertainty(study: Any, year: int, profile: Any = "ndrc-2022", *, n: int = 1000,
                        seed: int = 0, overrides: Any = None,
                        coefficients: str | Path | None = None,
                        physical_options: dict[str, Any] | None = None,
                        progress: Callable[[str, float], None] | None = None,
                        ) -> tuple[Account, UncertaintyResult]:
    """Account ``year`` and its Monte Carlo intervals over prices and coefficients.

    Runs the physical engine once for the account, then twice per ranged coefficient on
    the indicators it feeds (see :mod:`~liangshan.accounting.sensitivity`), then ``n``
    cheap draws. ``coefficients``: a coefficient CSV with ``low``/``high`` columns (default
    the shipped one), used both for the account and for the ranges.
    """
    from liangshan.accounting.coefficients import load_coefficients
    from liangshan.accounting.run import compute_physical, run_gep
    from liangshan.accounting.sensitivity import read_ranges

    n = _draws(n)  # before the engine runs, not after
    opts = dict(physical_options or {})
    table = load_coefficients(coefficients)
    if coefficients is not None:
        opts["coefficients"] = table
    physical = compute_physical(study, year, progress, opts)
    account = run_gep(study, year, profile, physical=physical, overrides=overrides,
                      physical_options=physical_options)

    def recompute(indicators: list[str], moved: Any) -> pd.DataFrame:
        return compute_physical(study, year, None,
                                {**opts, "coefficients": moved, "indicators": indicators})

    def revalue(whole: pd.DataFrame) -> pd.DataFrame:
        return run_gep(study, year, profile, physical=whole, overrides=overrides).records

    if progress is not None:
        progress("uncertainty: coefficient sensitivities", 0.95)
    sens, status = sensitivities(account.records, physical, recompute, revalue,
                                 coefficients=table, ranges=read_ranges(coefficients))
    result = monte_carlo(account, n, seed, coefficient_sensitivities=sens, parameters=status)
    if progress is not None:
        progress("uncertainty: done", 1.0)
    return account, result
