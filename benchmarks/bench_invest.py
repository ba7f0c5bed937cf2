"""Benchmark the InVEST-compatible models against natcap.invest 3.20.2 on the same inputs.

Usage:
    python benchmarks/bench_invest.py [--size 3000] [--models awy,carbon,hq,sdr,ndr]
                                      [--out benchmarks/out] [--timeout 1800]
                                      [--rounds 3] [--no-fresh]

Each (model, side) runs in its own child process (own session, killed as a group on
timeout, since a hung InVEST pool never exits: INVEST_NOTES §5.5). The child imports
everything and runs the model once on a small warm-up set (numba compilation, GDAL and
import costs are excluded), then times ``execute`` alone on the benchmark set. Peak memory
is the child's high-water RSS (``VmHWM``, whole process, imports and warm-up included;
``ru_maxrss`` is not used because Linux carries it over from the forking parent). Afterwards
the main output raster of both sides is compared: ratio of totals and share of valid pixels
within 1 %. InVEST runs with n_workers = −1 (synchronous), as in INVEST_NOTES §5.2.

With ``--rounds N`` every round runs, per model, ours then InVEST (interleaved, so both see
the same machine load) and the table reports medians over the rounds. Unless ``--no-fresh``,
each round also starts a fresh process per side that imports, runs ``execute`` once (no
warm-up; numba kernels come from the on-disk cache) and exits: "process s" is that child's
wall time from spawn to exit. The load average is printed with every round.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MODELS = {  # short name → (dispatcher name, InVEST module, main output raster)
    "awy": ("annual_water_yield", "natcap.invest.annual_water_yield.annual_water_yield",
            "output/per_pixel/wyield.tif"),
    "carbon": ("carbon", "natcap.invest.carbon.carbon", "c_storage_bas.tif"),
    "hq": ("habitat_quality", "natcap.invest.habitat_quality.habitat_quality", "quality_c.tif"),
    "sdr": ("sdr", "natcap.invest.sdr.sdr", "sed_export.tif"),
    "ndr": ("ndr", "natcap.invest.ndr.ndr", "n_total_export.tif"),
}


def model_args(model: str, p: dict[str, str]) -> dict:
    """InVEST 3.20.2 arguments for each model (parameters of INVEST_NOTES §5.2)."""
    if model == "awy":
        return dict(lulc_path=p["lulc"], depth_to_root_rest_layer_path=p["depth"],
                    precipitation_path=p["precip"], pawc_path=p["pawc"], eto_path=p["et0"],
                    watersheds_path=p["watersheds"], sub_watersheds_path=p["subwatersheds"],
                    biophysical_table_path=p["awy_biophysical"], seasonality_constant=5)
    if model == "carbon":
        return dict(lulc_bas_path=p["lulc"], lulc_alt_path=p["lulc_alt"],
                    calc_sequestration=True, carbon_pools_path=p["carbon_pools"],
                    do_valuation=False)
    if model == "hq":
        return dict(lulc_cur_path=p["lulc"], threats_table_path=p["hq_threats"],
                    sensitivity_table_path=p["hq_sensitivity"], half_saturation_constant=0.4)
    if model == "sdr":
        return dict(dem_path=p["dem"], erosivity_path=p["erosivity"],
                    erodibility_path=p["erodibility"], lulc_path=p["lulc"],
                    watersheds_path=p["watersheds"], biophysical_table_path=p["sdr_biophysical"],
                    threshold_flow_accumulation=1000, k_param=2, sdr_max=0.8, ic_0_param=0.5,
                    l_max=122, flow_dir_algorithm="MFD")
    if model == "ndr":
        return dict(dem_path=p["dem"], lulc_path=p["lulc"], runoff_proxy_path=p["precip"],
                    watersheds_path=p["watersheds"], biophysical_table_path=p["ndr_biophysical"],
                    calc_n=True, calc_p=True, threshold_flow_accumulation=1000, k_param=2,
                    subsurface_critical_length_n=200, subsurface_eff_n=0.8,
                    flow_dir_algorithm="MFD")
    raise KeyError(model)


def _run_side(side: str, model: str, inputs: Path, warm: Path, workspace: Path,
              repeat: int = 1, fresh: bool = False) -> list[float]:
    paths = json.loads((inputs / "paths.json").read_text())
    warm_paths = json.loads((warm / "paths.json").read_text())
    name, invest_module, _ = MODELS[model]
    if side == "ours":
        from liangshan.accounting.invest import run_model

        def run(args: dict) -> None:
            run_model(name, args)
    else:
        import importlib

        from osgeo import gdal

        gdal.UseExceptions()
        module = importlib.import_module(invest_module)

        def run(args: dict) -> None:
            module.execute(args | {"n_workers": -1})
    if not fresh:
        warm_ws = workspace.parent / f"{workspace.name}_warm"
        shutil.rmtree(warm_ws, ignore_errors=True)
        run(model_args(model, warm_paths) | {"workspace_dir": str(warm_ws)})
        shutil.rmtree(warm_ws, ignore_errors=True)
    times = []
    for _ in range(repeat):
        shutil.rmtree(workspace, ignore_errors=True)  # never let TaskGraph skip work
        t0 = time.perf_counter()
        run(model_args(model, paths) | {"workspace_dir": str(workspace)})
        times.append(time.perf_counter() - t0)
    return times


def _peak_rss_mib() -> float:
    """VmHWM of this process: unlike ru_maxrss it is not inherited across fork/exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_main(a: argparse.Namespace) -> None:
    times = _run_side(a.child, a.model, a.inputs, a.warm, a.workspace, a.repeat, a.fresh)
    # the minimum is the least disturbed by other load on a shared machine
    a.result.write_text(json.dumps({"seconds": min(times), "all_seconds": times,
                                    "peak_mib": _peak_rss_mib()}))


def run_child(side: str, model: str, inputs: Path, warm: Path, out: Path,
              timeout: float, repeat: int = 1, fresh: bool = False) -> dict:
    ws = out / f"ws_{model}_{side}"
    result = out / f"result_{model}_{side}.json"
    result.unlink(missing_ok=True)
    shutil.rmtree(ws, ignore_errors=True)  # not timed in fresh mode either
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", side, "--model", model,
           "--inputs", str(inputs), "--warm", str(warm), "--workspace", str(ws),
           "--result", str(result), "--repeat", str(repeat)] + (["--fresh"] if fresh else [])
    log = open(out / f"log_{model}_{side}.txt", "w")  # noqa: SIM115 (closed below)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    status, rusage = None, None
    while True:
        pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status, rusage = st, ru
            break
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)  # the child's own session: kills its pool too
            _, status, rusage = os.wait4(proc.pid, 0)
            log.close()
            return {"error": f"timeout after {timeout:.0f} s", "maxrss_mib": None}
        time.sleep(0.2)
    process_s = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    log.close()
    maxrss = rusage.ru_maxrss / 1024 if rusage else None
    if proc.returncode != 0 or not result.exists():
        tail = (out / f"log_{model}_{side}.txt").read_text().strip().splitlines()[-1:]
        return {"error": f"exit {proc.returncode}: {' '.join(tail)[:120]}",
                "maxrss_mib": maxrss}
    data = json.loads(result.read_text())
    return data | {"maxrss_mib": data.get("peak_mib", maxrss), "workspace": str(ws),
                   "process_s": process_s}


def compare_main_output(model: str, ours_ws: str, invest_ws: str) -> tuple[float, float]:
    """(Σ ours / Σ InVEST, share of InVEST-valid pixels within 1 %) for the main raster."""
    import rasterio

    rel = MODELS[model][2]
    with rasterio.open(Path(ours_ws) / rel) as s:
        a, na = s.read(1).astype(np.float64), s.nodata
    with rasterio.open(Path(invest_ws) / rel) as s:
        b, nb = s.read(1).astype(np.float64), s.nodata
    va = ~np.isclose(a, na) if na is not None else np.ones(a.shape, bool)
    vb = ~np.isclose(b, nb) if nb is not None else np.ones(b.shape, bool)
    both = va & vb
    close = np.abs(a[both] - b[both]) <= 0.01 * np.maximum(np.abs(b[both]), 1e-9)
    return float(a[va].sum() / b[vb].sum()), float(close.sum() / max(vb.sum(), 1))


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description="InVEST-compatible models vs natcap.invest")
    ap.add_argument("--size", type=int, default=3000)
    ap.add_argument("--models", default="awy,carbon,hq,sdr,ndr")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--repeat", type=int, default=1,
                    help="timed runs per side in one process (the minimum is kept)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="interleaved rounds (ours, InVEST per model); medians are reported")
    ap.add_argument("--no-fresh", action="store_true",
                    help="skip the fresh-process (whole-process time) runs")
    ap.add_argument("--child", choices=["ours", "invest"])
    ap.add_argument("--fresh", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model")
    ap.add_argument("--inputs", type=Path)
    ap.add_argument("--warm", type=Path)
    ap.add_argument("--workspace", type=Path)
    ap.add_argument("--result", type=Path)
    a = ap.parse_args()
    if a.child:
        child_main(a)
        return

    from make_inputs import generate

    a.out.mkdir(parents=True, exist_ok=True)
    inputs = a.inputs or a.out / f"inputs_{a.size}"
    warm = a.out / "inputs_warm"
    for d, n in ((inputs, a.size), (warm, 120)):
        if not (d / "paths.json").exists():
            print(f"generating {n}x{n} inputs in {d} …", flush=True)
            generate(d, n)
    models = a.models.split(",")
    runs: dict[tuple[str, str, str], list[dict]] = {}
    parity: dict[str, tuple[float, float]] = {}
    for rnd in range(1, a.rounds + 1):
        print(f"round {rnd}: load average {_load()}", flush=True)
        for model in models:
            kinds = ["warm"] + ([] if a.no_fresh else ["fresh"])
            for kind in kinds:
                res = {side: run_child(side, model, inputs, warm, a.out, a.timeout, a.repeat,
                                       fresh=kind == "fresh") for side in ("ours", "invest")}
                for side, r in res.items():
                    runs.setdefault((model, kind, side), []).append(r)
                o, i = res["ours"], res["invest"]
                if kind == "warm" and model not in parity and "seconds" in o and "seconds" in i:
                    parity[model] = compare_main_output(model, o["workspace"], i["workspace"])
                print(f"  {model} {kind}: ours {o.get('all_seconds', o.get('error'))} "
                      f"(process {o.get('process_s', 0):.2f} s, {o.get('maxrss_mib') or 0:.0f}"
                      f" MiB), InVEST {i.get('all_seconds', i.get('error'))} "
                      f"(process {i.get('process_s', 0):.2f} s, "
                      f"{i.get('maxrss_mib') or 0:.0f} MiB); load {_load()}", flush=True)
    print(f"end: load average {_load()}")

    def med(model: str, kind: str, side: str, key: str) -> float | None:
        vals = [r[key] for r in runs.get((model, kind, side), []) if r.get(key) is not None
                and "error" not in r]
        return float(statistics.median(vals)) if vals else None

    def fmt(v, spec):
        return "—" if v is None else format(v, spec)

    print()
    print(f"| model ({a.size}²) | ours s | InVEST s | speed-up | ours peak MiB | "
          "InVEST peak MiB | ours process s | InVEST process s | process speed-up | "
          "Σ main output ours/InVEST | px within 1 % |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for model in models:
        os_, is_ = med(model, "warm", "ours", "seconds"), med(model, "warm", "invest", "seconds")
        op, ip = (med(model, "fresh", "ours", "process_s"),
                  med(model, "fresh", "invest", "process_s"))
        total, within = parity.get(model, (None, None))
        print(f"| {model} | {fmt(os_, '.2f')} | {fmt(is_, '.2f')} | "
              f"{fmt(is_ / os_ if os_ and is_ else None, '.1f')}× | "
              f"{fmt(med(model, 'warm', 'ours', 'maxrss_mib'), '.0f')} | "
              f"{fmt(med(model, 'warm', 'invest', 'maxrss_mib'), '.0f')} | "
              f"{fmt(op, '.2f')} | {fmt(ip, '.2f')} | "
              f"{fmt(ip / op if op and ip else None, '.1f')}× | "
              f"{fmt(total, '.6f')} | {fmt(within, '.4f')} |")


if __name__ == "__main__":
    main()
