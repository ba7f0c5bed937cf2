"""Monte Carlo price uncertainty: 5–95 % intervals per indicator, class, region and GEP.

Every price whose confidence tag is uncertain ([K], [D], [?], [NF], [Hyp]) and whose
price file gives a range (``low``/``high``, re-based with the same index factor as the
price) is drawn from a triangular distribution (low, mode = the price used, high). One
draw per price id per iteration is shared by every row using that price, so a price
error moves all regions together (full correlation, the conservative choice). Prices
tagged [V], or without a range, are held fixed. Physical-model parameters are not
varied here: that needs re-running the physical engine per draw (left to a later step).

Values in CNY/yr. The generator is ``numpy.random.default_rng(seed)``; the same seed
gives the same intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from liangshan.accounting.account import Account
from liangshan.accounting.params.loader import UNCERTAIN_TAGS
from liangshan.errors import InvalidInput


@dataclass
class UncertaintyResult:
    """``by_indicator``: indicator rows plus class rows and a ``GEP`` row; ``by_region``:
    GEP per region. Columns: value_yuan (the account's), mean_yuan, p05_yuan, p50_yuan,
    p95_yuan. ``varied``: the prices drawn (price_id, price, low, high, confidence)."""

    by_indicator: pd.DataFrame
    by_region: pd.DataFrame
    varied: pd.DataFrame
    n: int
    seed: int


def _summary(point: np.ndarray, draws: np.ndarray, labels: list[str], key: str) -> pd.DataFrame:
    q = np.percentile(draws, [5, 50, 95], axis=1)
    return pd.DataFrame({key: labels, "value_yuan": point, "mean_yuan": draws.mean(axis=1),
                         "p05_yuan": q[0], "p50_yuan": q[1], "p95_yuan": q[2]})


def monte_carlo(account: Account, n: int = 1000, seed: int = 0) -> UncertaintyResult:
    """Draw ``n`` price vectors and return 5/50/95 % values (CNY/yr)."""
    if n < 10:
        raise InvalidInput(f"monte_carlo: n = {n} draws is too few", hint="use n >= 10")
    v = account.valued.copy()
    v["price_confidence"] = v["price_confidence"].fillna("").astype(str)
    ok = (v["price_confidence"].str.startswith(UNCERTAIN_TAGS)
          & np.isfinite(v["price_low"].astype(float)) & np.isfinite(v["price_high"].astype(float))
          & (v["price_high"].astype(float) > v["price_low"].astype(float))
          & (v["price"].astype(float) > 0))
    varied = (v[ok].groupby("price_id")
              .agg(price=("price", "first"), low=("price_low", "first"),
                   high=("price_high", "first"), confidence=("price_confidence", "first"))
              .reset_index())
    rng = np.random.default_rng(seed)
    mult = np.ones((len(varied) + 1, n))  # last row: fixed prices
    for i, r in varied.iterrows():
        lo, hi, mode = float(r["low"]), float(r["high"]), float(r["price"])
        mode = min(max(mode, lo), hi)
        mult[int(i)] = rng.triangular(lo, mode, hi, size=n) / float(r["price"])
    pos = {pid: i for i, pid in enumerate(varied["price_id"])}
    v["_m"] = [pos.get(p, len(varied)) if o else len(varied)
               for p, o in zip(v["price_id"], ok, strict=True)]
    g = v.groupby(["region_code", "class", "indicator", "_m"], as_index=False)["value_yuan"].sum()
    rows = g["value_yuan"].to_numpy(dtype=float)[:, None] * mult[g["_m"].to_numpy()]

    def agg(keys: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
        labels = g[keys].astype(str).agg("|".join, axis=1) if len(keys) > 1 else g[keys[0]]
        uniq = list(dict.fromkeys(labels))
        idx = pd.Index(uniq).get_indexer(labels)
        draws = np.zeros((len(uniq), n))
        np.add.at(draws, idx, rows)
        point = np.bincount(idx, weights=g["value_yuan"].to_numpy(dtype=float),
                            minlength=len(uniq))
        return uniq, point, draws

    ind_l, ind_p, ind_d = agg(["indicator"])
    cls_l, cls_p, cls_d = agg(["class"])
    by_ind = pd.concat([
        _summary(ind_p, ind_d, ind_l, "indicator"),
        _summary(cls_p, cls_d, [f"class:{c}" for c in cls_l], "indicator"),
        _summary(np.array([g["value_yuan"].sum()]), rows.sum(axis=0, keepdims=True), ["GEP"],
                 "indicator")], ignore_index=True)
    reg_l, reg_p, reg_d = agg(["region_code"])
    return UncertaintyResult(by_indicator=by_ind,
                             by_region=_summary(reg_p, reg_d, reg_l, "region_code"),
                             varied=varied, n=n, seed=seed)
