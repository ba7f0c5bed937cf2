"""Province-scale benchmark of the regulating-service physical account (issue 3).

Usage:
    python benchmarks/bench_province.py [--resolution 90] [--chunk 1024] [--out benchmarks/out]
                                        [--timeout 1800] [--max-rss-gib 12] [--routing]
                                        [--no-soil] [--only account|no-soil|routing]

Target: the whole physical account (:func:`liangshan.accounting.physical.physical_account`,
every indicator) for a Guizhou-sized grid (≈ 176,000 km², ≈ 2 × 10⁸ cells at 30 m) in under
3 minutes with under 6 GB peak memory on a 2-core machine.

The study area is generated on first use by ``make_province.py`` (all 88 county codes,
``write_sample_study_area``, seed 42, year 2022). The account runs in a child process in its
own session: it imports everything, loads the numba kernels on a tiny warm-up grid, then times
``physical_account(study, 2022)`` with the default dask threaded scheduler (both cores), and
records when each progress stage started. Peak memory is the child's ``VmHWM`` (whole process:
imports, warm-up and the dask thread pool included). The parent polls the child's ``VmRSS`` and
kills its process group above ``--max-rss-gib`` (the development machine is shared) or after
``--timeout`` seconds; the row then says so. ``--routing`` adds a row for the LS routing step
alone (``tiling.upslope_area_tiled``: tiled pit filling and MFD flow directions, then the
accumulation), ``--no-soil`` one for the account without the four soil indicators
(everything but the routing), ``--only KIND`` runs one of these alone.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TARGET_S = 180.0
TARGET_GIB = 6.0


def _status_kib(pid: int | str, field: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _warm_up() -> None:
    """Compile/load the numba kernels and GDAL on a 64 × 64 grid (excluded from timing)."""
    import dask.array as da
    import numpy as np

    from liangshan.accounting.kernels import terrain
    from liangshan.accounting.tiling import upslope_area_tiled

    rng = np.random.default_rng(0)
    dem = np.cumsum(rng.random((64, 64)), axis=0) * 10.0
    up = upslope_area_tiled(da.from_array(dem, chunks=32), 30.0)
    # the float32 specialisation too
    upslope_area_tiled(da.from_array(dem.astype(np.float32), chunks=32), 30.0)
    terrain.ls_factor(dem, up, 30.0)


def child_main(a: argparse.Namespace) -> None:
    from liangshan.datasets.study import StudyArea

    t_import = time.perf_counter()
    from liangshan.accounting.grid import open_grid
    from liangshan.accounting.physical import physical_account

    _warm_up()
    study = StudyArea.open(a.study)
    result: dict = {"warm_s": time.perf_counter() - t_import}
    if a.child == "routing":
        from liangshan.accounting.tiling import upslope_area_tiled

        g = open_grid(study, resolution_m=a.resolution, chunk=a.chunk)
        dem = g.layer("dem").data
        import rasterio

        with rasterio.open(study.raster_path("dem")) as src:
            if src.dtypes[0] == "float32":  # as ls_raster does: float32 when that is exact
                dem = dem.astype("float32")
        t0 = time.perf_counter()
        up = upslope_area_tiled(dem, a.resolution)
        t1 = time.perf_counter()
        result.update(run_s=t1 - t0, stages={"routing tile by tile (DEM read included)": t1 - t0},
                      cells=int(up.size), valid=int((up > 0).sum()))
    else:
        stages: list[tuple[str, float]] = []

        def progress(stage: str, fraction: float) -> None:
            if not stages or stages[-1][0] != stage:
                stages.append((stage, time.perf_counter()))
                print(f"[{time.strftime('%H:%M:%S')}] {stage}", file=sys.stderr, flush=True)

        t0 = time.perf_counter()
        g = open_grid(study, resolution_m=a.resolution, chunk=a.chunk)
        from liangshan.accounting.physical_terms import INDICATORS

        wanted = [i for i, (_, family) in INDICATORS.items()
                  if not (a.child == "no-soil" and family == "soil")]
        table = physical_account(study, 2022, progress=progress, hot_days=60.0,
                                 resolution_m=a.resolution, chunk=a.chunk, grid=g,
                                 indicators=wanted)
        t1 = time.perf_counter()
        bounds = [s for _, s in stages] + [t1]
        result.update(
            run_s=t1 - t0,
            stages={name: bounds[i + 1] - s for i, (name, s) in enumerate(stages)},
            cells=int(g.spec.width * g.spec.height), shape=list(g.spec.shape),
            rows=len(table), gaps=len(table.attrs["gaps"]),
            totals={k: float(v) for k, v in table.groupby("indicator")["quantity"].sum().items()},
        )
    result["peak_mib"] = _status_kib("self", "VmHWM") / 1024
    print("RESULT " + json.dumps(result), flush=True)


def run_child(kind: str, study: Path, a: argparse.Namespace, log: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--study", str(study),
           "--resolution", str(a.resolution), "--chunk", str(a.chunk)]
    t0 = time.perf_counter()
    peak_seen = 0
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        killed = ""
        while proc.poll() is None:
            time.sleep(0.5)
            try:
                rss = _status_kib(proc.pid, "VmRSS")
            except (FileNotFoundError, ProcessLookupError):
                continue
            peak_seen = max(peak_seen, rss)
            if rss > a.max_rss_gib * 1024 ** 2:
                killed = f"killed at {rss / 1024 ** 2:.1f} GiB RSS"
            elif time.perf_counter() - t0 > a.timeout:
                killed = f"killed after {a.timeout:.0f} s"
            if killed:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
    wall = time.perf_counter() - t0
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("RESULT ")]
    if not lines:
        return {"error": killed or f"exit {proc.returncode}, see {log}", "process_s": wall,
                "peak_mib": peak_seen / 1024}
    out = json.loads(lines[-1][len("RESULT "):])
    out["process_s"] = wall
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=float, default=90.0, help="cell size [m]")
    ap.add_argument("--chunk", type=int, default=1024, help="dask block side [cells]")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--max-rss-gib", type=float, default=12.0)
    ap.add_argument("--routing", action="store_true", help="also time LS routing alone")
    ap.add_argument("--no-soil", action="store_true",
                    help="also run the account without the four soil indicators (no routing)")
    ap.add_argument("--only", choices=("account", "no-soil", "routing"),
                    help="run this measurement alone")
    ap.add_argument("--child", choices=("account", "no-soil", "routing"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--study", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child_main(a)
        return
    from make_province import province_study

    t0 = time.perf_counter()
    study = province_study(a.out, a.resolution)
    print(f"study area: {study} (ready in {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    kinds = ([a.only] if a.only else
             ["account"] + (["no-soil"] if a.no_soil else []) + (["routing"] if a.routing else []))
    print("| run | grid (cells) | ours s | process s | peak MiB | < 3 min | < 6 GB | stages (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in kinds:
        r = run_child(kind, study, a, a.out / f"province_{a.resolution:g}m_{kind}.log")
        if "error" in r:
            print(f"| {kind} {a.resolution:g} m | | — | {r['process_s']:.1f} | "
                  f"≥ {r['peak_mib']:.0f} | no | {'no' if 'RSS' in r['error'] else '?'} | "
                  f"{r['error']} |", flush=True)
            continue
        shape = r.get("shape")
        grid = (f"{shape[0]} × {shape[1]} = {r['cells'] / 1e6:.1f} M" if shape
                else f"{r['cells'] / 1e6:.1f} M")
        stages = "; ".join(f"{k} {v:.1f}" for k, v in r["stages"].items())
        ok_t = "yes" if r["run_s"] < TARGET_S else "no"
        ok_m = "yes" if r["peak_mib"] < TARGET_GIB * 1024 ** 3 / 2 ** 20 else "no"
        print(f"| {kind} {a.resolution:g} m, chunk {a.chunk} | {grid} | {r['run_s']:.1f} | "
              f"{r['process_s']:.1f} | {r['peak_mib']:.0f} | {ok_t} | {ok_m} | {stages} |",
              flush=True)
        if kind != "routing":
            print(f"  rows {r['rows']}, gaps {r['gaps']}, totals "
                  + ", ".join(f"{k} {v:.4g}" for k, v in r["totals"].items()), file=sys.stderr)


if __name__ == "__main__":
    main()
