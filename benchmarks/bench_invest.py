"""Benchmark the InVEST-compatible models against natcap.invest 3.20.2 on the same inputs.

Usage:
    python benchmarks/bench_invest.py [--size 3000] [--models awy,carbon,hq,sdr,ndr]
                                      [--out benchmarks/out] [--timeout 1800]

Each (model, side) runs in its own child process (own session, killed as a group on
timeout, since a hung InVEST pool never exits: INVEST_NOTES §5.5). The child imports
everything and runs the model once on a small warm-up set (numba compilation, GDAL and
import costs are excluded), then times ``execute`` alone on the benchmark set. Peak memory
is the child's high-water RSS (``VmHWM``, whole process, imports and warm-up included;
``ru_maxrss`` is not used because Linux carries it over from the forking parent). Afterwards
the main output raster of both sides is compared: ratio of totals and share of valid pixels
within 1 %. InVEST runs with n_workers = −1 (synchronous), as in INVEST_NOTES §5.2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
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
              repeat: int = 1) -> list[float]:
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
    times = _run_side(a.child, a.model, a.inputs, a.warm, a.workspace, a.repeat)
    # the minimum is the least disturbed by other load on a shared machine
    a.result.write_text(json.dumps({"seconds": min(times), "all_seconds": times,
                                    "peak_mib": _peak_rss_mib()}))


def run_child(side: str, model: str, inputs: Path, warm: Path, out: Path,
              timeout: float, repeat: int = 1) -> dict:
    ws = out / f"ws_{model}_{side}"
    result = out / f"result_{model}_{side}.json"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", side, "--model", model,
           "--inputs", str(inputs), "--warm", str(warm), "--workspace", str(ws),
           "--result", str(result), "--repeat", str(repeat)]
    log = open(out / f"log_{model}_{side}.txt", "w")  # noqa: SIM115 (closed below)
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
    proc.returncode = os.waitstatus_to_exitcode(status)
    log.close()
    maxrss = rusage.ru_maxrss / 1024 if rusage else None
    if proc.returncode != 0 or not result.exists():
        tail = (out / f"log_{model}_{side}.txt").read_text().strip().splitlines()[-1:]
        return {"error": f"exit {proc.returncode}: {' '.join(tail)[:120]}",
                "maxrss_mib": maxrss}
    data = json.loads(result.read_text())
    return data | {"maxrss_mib": data.get("peak_mib", maxrss), "workspace": str(ws)}


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


def main() -> None:
    ap = argparse.ArgumentParser(description="InVEST-compatible models vs natcap.invest")
    ap.add_argument("--size", type=int, default=3000)
    ap.add_argument("--models", default="awy,carbon,hq,sdr,ndr")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--repeat", type=int, default=1,
                    help="timed runs per side (the minimum is reported)")
    ap.add_argument("--child", choices=["ours", "invest"])
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
    rows = []
    for model in a.models.split(","):
        res = {side: run_child(side, model, inputs, warm, a.out, a.timeout, a.repeat)
               for side in ("ours", "invest")}
        o, i = res["ours"], res["invest"]
        ratio = total = within = None
        if "seconds" in o and "seconds" in i:
            ratio = i["seconds"] / o["seconds"]
            total, within = compare_main_output(model, o["workspace"], i["workspace"])
        rows.append((model, o, i, ratio, total, within))
        print(f"{model}: ours {o.get('all_seconds', o.get('error'))}, "
              f"InVEST {i.get('all_seconds', i.get('error'))}", flush=True)

    def fmt(v, spec):
        return "—" if v is None else format(v, spec)

    print()
    print(f"| model ({a.size}²) | ours s | InVEST s | speed-up | ours peak MiB | "
          "InVEST peak MiB | Σ main output ours/InVEST | px within 1 % |")
    print("|---|---|---|---|---|---|---|---|")
    for model, o, i, ratio, total, within in rows:
        os_ = fmt(o.get("seconds"), ".2f") if "seconds" in o else o["error"]
        is_ = fmt(i.get("seconds"), ".2f") if "seconds" in i else i["error"]
        print(f"| {model} | {os_} | {is_} | {fmt(ratio, '.1f')}× | "
              f"{fmt(o.get('maxrss_mib'), '.0f')} | {fmt(i.get('maxrss_mib'), '.0f')} | "
              f"{fmt(total, '.6f')} | {fmt(within, '.4f')} |")


if __name__ == "__main__":
    main()
