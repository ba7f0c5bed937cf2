"""Ecosystem change between two ecosystem maps: transition matrices and loss alerts.

Inputs are two co-registered integer arrays (numpy or xarray, same grid) of
ecosystem codes (the engine's three-digit codes, e.g. 111 evergreen broadleaf
forest; the first two digits are the level-1 class, 11 forest, 14 wetland) and
optionally a region array of the same shape. Areas are km² from the pixel area
in m².
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from liangshan.errors import InvalidInput
from liangshan.identity.access import Principal
from liangshan.identity.service import record

#: Level-1 classes watched for loss by default (ecosystem_types.csv level1_code) [K].
WATCHED = {"forest": (11,), "wetland": (14,)}


def _array(a: Any, name: str) -> np.ndarray:
    values = getattr(a, "values", a)  # xarray.DataArray → numpy
    arr = np.asarray(values)
    if arr.ndim != 2:
        raise InvalidInput(f"{name} must be a 2-D map, got shape {arr.shape}",
                           hint="pass one band of the ecosystem raster")
    return arr


def level1(codes: np.ndarray) -> np.ndarray:
    """Level-1 class of three-digit codes (111 → 11); two-digit codes pass through."""
    codes = np.asarray(codes)
    return np.where(codes >= 100, codes // 10, codes)


def transition_matrix(before: Any, after: Any, regions: Any | None = None, *,
                      pixel_area_m2: float, nodata: int = 0,
                      region_codes: Mapping[int, str] | None = None,
                      to_level1: bool = True) -> pd.DataFrame:
    """Area (km²) going from each class to each class, per region.

    Pixels that are ``nodata`` in either map, or 0 in ``regions``, are left out.
    ``region_codes`` maps region ids in the ``regions`` array to GB/T 2260 codes.
    Returns columns region, from_code, to_code, pixels, area_km2.
    """
    a, b = _array(before, "before"), _array(after, "after")
    if a.shape != b.shape:
        raise InvalidInput(f"the maps differ in shape: before {a.shape}, after {b.shape}",
                           hint="align both maps to the same grid first")
    r = np.ones(a.shape, dtype=np.int64) if regions is None else _array(regions, "regions")
    if r.shape != a.shape:
        raise InvalidInput(f"regions shape {r.shape} differs from the maps' {a.shape}",
                           hint="rasterise the zones on the maps' grid")
    if pixel_area_m2 <= 0:
        raise InvalidInput(f"pixel_area_m2 = {pixel_area_m2}", hint="give the pixel area in m²")
    valid = (a != nodata) & (b != nodata) & (r != 0)
    fa, fb, fr = a[valid].astype(np.int64), b[valid].astype(np.int64), r[valid].astype(np.int64)
    if to_level1:
        fa, fb = level1(fa), level1(fb)
    frame = pd.DataFrame({"region": fr, "from_code": fa, "to_code": fb})
    out = frame.value_counts().rename("pixels").reset_index()
    out["area_km2"] = out["pixels"] * pixel_area_m2 / 1e6
    if region_codes is not None:
        out["region"] = out["region"].map(lambda v: region_codes.get(int(v), str(v)))
    elif regions is None:
        out["region"] = "all"
    return out.sort_values(["region", "from_code", "to_code"]).reset_index(drop=True)


def loss_table(matrix: pd.DataFrame,
               watched: Mapping[str, Sequence[int]] = WATCHED) -> pd.DataFrame:
    """Per region and watched class: area before, after, net loss (km²) and loss fraction."""
    rows = []
    for region, part in matrix.groupby("region"):
        for name, codes in watched.items():
            before = part.loc[part["from_code"].isin(codes), "area_km2"].sum()
            after = part.loc[part["to_code"].isin(codes), "area_km2"].sum()
            loss = before - after
            rows.append({"region": region, "class": name, "before_km2": before,
                         "after_km2": after, "net_loss_km2": loss,
                         "loss_fraction": loss / before if before > 0 else 0.0})
    return pd.DataFrame(rows)


def loss_alerts(matrix: pd.DataFrame, threshold: float = 0.01,
                watched: Mapping[str, Sequence[int]] = WATCHED) -> list[dict[str, Any]]:
    """Regions where a watched class lost more than ``threshold`` (fraction) of its area."""
    table = loss_table(matrix, watched)
    hits = table[table["loss_fraction"] > threshold]
    return [{**row, "message": (f"region {row['region']}: {row['class']} area fell from "
                                f"{row['before_km2']:.3f} to {row['after_km2']:.3f} km² "
                                f"({row['loss_fraction']:.1%} loss > {threshold:.1%})")}
            for row in hits.to_dict("records")]


def store_loss_alerts(session: Session, actor: Principal, found: list[dict[str, Any]],
                      period: str) -> list[str]:
    """Store loss alerts (idempotent per region, class and period); returns the new messages."""
    from liangshan.catalog.monitoring import raise_alert

    out: list[str] = []
    for hit in found:
        new = raise_alert(session, "ecosystem_loss", None, period, hit["class"], hit["message"],
                          region_code=str(hit["region"]))
        if new:
            record(session, actor, "raise", "alert", None, region_code=str(hit["region"]),
                   detail={"kind": "ecosystem_loss", "class": hit["class"], "period": period})
        out += new
    return out
