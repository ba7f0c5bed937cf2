"""Where do our SDR and NDR spend time and memory? Stage timings and resident memory of the
routing chain, warm process.

Usage:
    python benchmarks/bench_sdr_ndr.py [--size 1000] [--out /tmp/bench_sdr_ndr]

Generates (or reuses) the synthetic benchmark inputs of ``make_inputs.py``, warms numba on
a 120² set, then times each stage of the SDR chain as ``sdr.execute`` runs it (fill, slope,
MFD direction, one-sweep accumulation of FA/ΣW/ΣS, streams, local factors, distance to
stream, delivery, deposition) and whole ``execute`` calls of our SDR and NDR. Each row also
shows the process's resident memory (RSS, sampled every 2 ms by a thread) before the stage
and its peak during it, so the stage that sets the model's peak is visible. For the
side-by-side comparison with natcap.invest (child processes, peak memory, output agreement)
use ``bench_invest.py --models sdr,ndr``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
PAGE = os.sysconf("SC_PAGE_SIZE")


def _inputs(out: Path, n: int) -> dict[str, str]:
    from make_inputs import generate

    d = out / f"inputs_{n}"
    if not (d / "paths.json").exists():
        generate(d, n)
    return json.loads((d / "paths.json").read_text())


class Rss:
    """Resident memory [MiB] of this process, and its peak since the last ``reset``."""

    def __init__(self) -> None:
        self.peak = self.now()
        threading.Thread(target=self._sample, daemon=True).start()

    @staticmethod
    def now() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.now())
            time.sleep(0.002)

    def reset(self) -> float:
        self.peak = self.now()
        return self.peak


def stage_times(paths: dict[str, str], rss: Rss) -> list[tuple[str, float, float, float]]:
    """(stage, seconds, RSS before [MiB], peak RSS during [MiB]) along the SDR chain."""
    from liangshan.accounting.invest import io, sdr
    from liangshan.accounting.kernels import routing as rt

    rows: list[tuple[str, float, float, float]] = []
    t0, m0 = time.perf_counter(), rss.reset()

    def lap(name: str) -> None:
        nonlocal t0, m0
        now = time.perf_counter()
        rows.append((name, now - t0, m0, rss.peak))
        t0, m0 = time.perf_counter(), rss.reset()

    dem = io.read_raster(paths["dem"])
    valid = dem.valid_mask()
    z = dem.array
    z[~valid] = 0
    lap("read DEM")
    filled = rt.fill_pits(z, valid)
    del z, dem
    lap("fill pits")
    slope = rt.calculate_slope(filled, valid, 30.0, -30.0).astype(np.float32)
    lap("slope")
    fd = rt.flow_dir_mfd(filled, valid)
    del filled
    lap("MFD direction")
    codes = np.ones(fd.shape, dtype=np.uint8)
    lut = np.array([[0.0, 0.2], [0.0, 0.2]])
    w = sdr._weights(valid, slope, codes, lut, 0)
    acc = rt.flow_accumulation_many(fd, w)
    lap("accumulation ×3")
    stream = rt.extract_streams_mfd(acc[0], fd, 1000.0, 0.7)
    lap("streams")
    r_ = np.full(fd.shape, 3000.0, dtype=np.float32)
    k_ = np.full(fd.shape, 0.02, dtype=np.float32)
    _, _, usle, d_up, ws_inv = sdr._local_factors(
        valid, slope, acc[0], acc[1], acc[2], w[0], w[1], stream, r_, k_, codes, lut, 0,
        30.0, 122.0)
    del acc, w, r_, k_
    lap("local factors (LS, RKLS, USLE, D_up)")
    d = rt.distance_to_channel_mfd(fd, stream, ws_inv)
    del ws_inv
    lap("distance to stream")
    _, sdr_f, e_prime = sdr._delivery(fd, d_up, d, stream, usle, 0.8, 0.5, 2.0)
    del d, d_up
    lap("IC, SDR, E'")
    sdr.sediment_deposition(fd, e_prime, sdr_f, 256)
    lap("sediment deposition")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_sdr_ndr"))
    a = ap.parse_args()
    from bench_invest import model_args

    from liangshan.accounting.invest import ndr, sdr

    rss = Rss()
    warm = _inputs(a.out, 120)
    paths = _inputs(a.out, a.size)
    stage_times(warm, rss)
    for mod, name in ((sdr, "sdr"), (ndr, "ndr")):
        mod.execute(model_args(name, warm) | {"workspace_dir": str(a.out / f"warm_{name}")})
    print(f"load average {os.getloadavg()[0]:.2f}\n")
    print(f"| stage ({a.size}²) | s | RSS before MiB | peak RSS MiB |\n|---|---|---|---|")
    for name, s, m0, pk in stage_times(paths, rss):
        print(f"| {name} | {s:.3f} | {m0:.0f} | {pk:.0f} |")
    for mod, name in ((sdr, "sdr"), (ndr, "ndr")):
        t0, m0 = time.perf_counter(), rss.reset()
        mod.execute(model_args(name, paths) | {"workspace_dir": str(a.out / f"ws_{name}")})
        print(f"| {name}.execute | {time.perf_counter() - t0:.3f} | {m0:.0f} | {rss.peak:.0f} |")


if __name__ == "__main__":
    main()
