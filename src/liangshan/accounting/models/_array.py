"""Array helpers shared by the models: one ``where`` for numpy, dask and xarray inputs."""

from __future__ import annotations

from typing import Any

import numpy as np


def where(cond: Any, a: Any, b: Any) -> Any:
    """``np.where`` that keeps xarray and dask inputs lazy and labelled."""
    import xarray as xr

    if any(isinstance(v, xr.DataArray) for v in (cond, a, b)):
        return xr.where(cond, a, b)
    try:
        import dask.array as da

        if any(isinstance(v, da.Array) for v in (cond, a, b)):
            return da.where(cond, a, b)
    except ImportError:  # pragma: no cover - dask is a dependency
        pass
    return np.where(cond, a, b)
