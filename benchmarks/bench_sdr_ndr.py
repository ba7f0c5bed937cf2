"""Where does our SDR/NDR time go? Stage timings of the routing kernels, warm process.

Usage:
    python benchmarks/bench_sdr_ndr.py [--size 1000] [--out /tmp/bench_sdr_ndr]

Generates (or reuses) the synthetic benchmark inputs of ``make_inputs.py``, warms numba on
a 120² set, then times each stage of the SDR chain (fill, slope, MFD direction, one-sweep
accumulation of FA/ΣW/ΣS, streams, distance to stream, deposition) and whole ``execute``
calls of our SDR and NDR. For the side-by-side comparison with natcap.invest (child
processes, peak memory, output agreement) use ``bench_invest.py --models sdr,ndr``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _inputs(out: Path, n: int) -> dict[str, str]:
    from make_inputs import generate

    d = out / f"inputs_{n}"
    if not (d / "paths.json").exists():
        generate(d, n)
    return json.loads((d / "paths.json").read_text())


def stage_times(paths: dict[str, str]) -> dict[str, float]:
    """Seconds per routing stage on the benchmark DEM (whole grid valid)."""
    from liangshan.accounting.invest import io
    from liangshan.accounting.invest.sdr import sediment_deposition
    from liangshan.accounting.kernels import routing as rt

    t: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        t[name] = now - t0
        t0 = now

    dem = io.read_raster(paths["dem"])
    valid = dem.valid_mask()
    z = np.where(valid, dem.array.astype(np.float64), 0.0)
    lap("read DEM")
    filled = rt.fill_pits(z, valid)
    lap("fill pits")
    slope = rt.calculate_slope(filled, valid, 30.0, -30.0)
    lap("slope")
    fd = rt.flow_dir_mfd(filled, valid)
    lap("MFD direction")
    w = np.stack([np.ones_like(slope), np.clip(slope / 100, 0.005, 1.0)])
    fa = rt.flow_accumulation_many(fd, w)
    lap("accumulation ×3")
    stream = rt.extract_streams_mfd(fa[0], fd, 1000.0, 0.7)
    lap("streams")
    d = rt.distance_to_channel_mfd(fd, stream, 1.0 / w[1])
    lap("distance to stream")
    sdr = np.where(d > 0, 0.3, np.where(stream == 1, 1.0, -1.0)).astype(np.float32)
    e = np.where(sdr >= 0, 1.0, -1.0).astype(np.float32)
    lap("(setup)")
    sediment_deposition(fd, e, sdr, 256)
    lap("sediment deposition")
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_sdr_ndr"))
    a = ap.parse_args()
    from bench_invest import model_args

    from liangshan.accounting.invest import ndr, sdr

    warm = _inputs(a.out, 120)
    paths = _inputs(a.out, a.size)
    stage_times(warm)
    for mod, name in ((sdr, "sdr"), (ndr, "ndr")):
        mod.execute(model_args(name, warm) | {"workspace_dir": str(a.out / f"warm_{name}")})
    print(f"| stage ({a.size}²) | s |\n|---|---|")
    for k, v in stage_times(paths).items():
        print(f"| {k} | {v:.3f} |")
    for mod, name in ((sdr, "sdr"), (ndr, "ndr")):
        t0 = time.perf_counter()
        mod.execute(model_args(name, paths) | {"workspace_dir": str(a.out / f"ws_{name}")})
        print(f"| {name}.execute | {time.perf_counter() - t0:.3f} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
