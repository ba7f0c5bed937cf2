"""Cost of the Monte Carlo over prices and physical coefficients (issue 4 item 9).

Runs, interleaved and repeated, on the generated five-pilot sample (one year, cached under
benchmarks/out/): "account" = ``run_gep`` alone; "account + MC" = ``account_uncertainty``
with n draws (the account, two restricted engine runs per ranged coefficient, n draws).
Prints the median wall time of each side, the share of the draws themselves, and the load
average. Usage: ``.venv/bin/python benchmarks/bench_uncertainty.py [--res 250] [--n 1000]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from liangshan.accounting.run import run_gep
from liangshan.accounting.uncertainty import account_uncertainty, monte_carlo
from liangshan.datasets.sample import write_sample_study_area
from liangshan.datasets.study import StudyArea


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--res", type=float, default=250.0)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    out = Path(__file__).parent / "out" / f"pilots_{a.res:g}m_2022"
    study = StudyArea.open(write_sample_study_area(out, years=[2022], resolution_m=a.res))
    times: dict[str, list[float]] = {"account": [], "account + MC": [], "draws only": []}
    for _ in range(a.rounds):
        t = time.perf_counter()
        run_gep(study, 2022, "ndrc-2022")
        times["account"].append(time.perf_counter() - t)
        t = time.perf_counter()
        acc, res = account_uncertainty(study, 2022, "ndrc-2022", n=a.n, seed=0)
        times["account + MC"].append(time.perf_counter() - t)
        t = time.perf_counter()
        monte_carlo(acc, a.n, 0, coefficient_sensitivities=res.sensitivities)
        times["draws only"].append(time.perf_counter() - t)
    load = os.getloadavg()
    varied = int((res.parameters["status"] == "varied").sum())
    print(f"five pilots, {a.res:g} m, n = {a.n}, {a.rounds} rounds interleaved; "
          f"{varied} coefficients and {len(res.varied)} prices varied; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("| side | median s | runs s |")
    print("|---|---:|---|")
    for k, v in times.items():
        print(f"| {k} | {statistics.median(v):.2f} | {', '.join(f'{x:.2f}' for x in v)} |")


if __name__ == "__main__":
    main()
