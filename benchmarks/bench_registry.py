"""Registry benchmark: bulk import with overlap checks, then point look-ups and single
registrations, on SQLite and (optionally) PostgreSQL.

    .venv/bin/python benchmarks/bench_registry.py --n 200000 [--pg postgresql+psycopg://...]

Targets (issue 5): import of ≥ 200,000 parcels including the overlap check < 2 min;
point look-up < 50 ms. Parcels are a grid of 100 m cells (touching edges, which the
overlap check must accept) with 0.5 % of extra cells shifted onto their neighbours
(which it must refuse). Not part of the test run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from liangshan.db import make_engine, session_factory
from liangshan.identity.access import SYSTEM
from liangshan.migrate import upgrade
from liangshan.registry import io, service
from liangshan.registry.models import REGISTRY_CRS
from liangshan.registry.schemas import ParcelIn

X0, Y0, CELL = 60_000.0, 3_150_000.0, 100.0


def parcels(n: int, seed: int = 1) -> tuple[gpd.GeoDataFrame, int]:
    """``n`` grid cells plus 0.5 % overlapping duplicates; returns (frame, expected refusals)."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    idx = np.arange(n)
    x = X0 + (idx % side) * CELL
    y = Y0 + (idx // side) * CELL
    bad = rng.choice(n, size=max(1, n // 200), replace=False)
    xs = np.concatenate([x, x[bad] + CELL / 2])
    ys = np.concatenate([y, y[bad]])
    geoms = shapely.box(xs, ys, xs + CELL, ys + CELL)
    # township codes: a code's 5-digit sequence counts within one township (as 宗地顺序号 does)
    towns = [f"520381{1 + k // 20_000:03d}" for k in range(len(xs))]
    frame = gpd.GeoDataFrame({"region": towns, "res_type": "forest",
                              "ownership": "collective", "owner": "村集体"},
                             index=range(len(xs)), geometry=geoms, crs=REGISTRY_CRS)
    return frame, len(bad)


def run(url: str, n: int) -> dict[str, float]:
    engine = make_engine(url)
    upgrade(engine)
    frame, expected_bad = parcels(n)
    session = session_factory(engine)()
    t = time.perf_counter()
    report = io.import_parcel_frame(session, SYSTEM, frame, source="bench")
    session.commit()
    import_s = time.perf_counter() - t
    assert report.refused == expected_bad, (report.refused, expected_bad)
    side = int(np.ceil(np.sqrt(n)))
    rng = np.random.default_rng(2)
    times = []
    for _ in range(200):
        i = int(rng.integers(n))
        px = X0 + (i % side) * CELL + rng.uniform(1, CELL - 1)
        py = Y0 + (i // side) * CELL + rng.uniform(1, CELL - 1)
        t = time.perf_counter()
        hits = service.parcels_at_point(session, px, py)
        times.append((time.perf_counter() - t) * 1000)
        assert len(hits) >= 1
    reg = []
    for k in range(20):  # new parcels beside the grid: the full single-parcel overlap check
        gx = X0 - 10 * CELL - k * CELL
        t = time.perf_counter()
        service.register_parcel(session, SYSTEM, ParcelIn(
            region_code="520381", resource_type="forest", ownership="state", owner_name="林场",
            geometry=shapely.box(gx, Y0, gx + CELL, Y0 + CELL)))
        reg.append((time.perf_counter() - t) * 1000)
    session.commit()
    session.close()
    engine.dispose()
    return {"parcels": report.accepted, "refused": report.refused, "import_s": import_s,
            "point_median_ms": statistics.median(times),
            "point_p95_ms": float(np.percentile(times, 95)),
            "register_median_ms": statistics.median(reg)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--pg", default=None, help="PostgreSQL server URL (a scratch database "
                        "bench_registry is created and dropped)")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run(f"sqlite:///{Path(tmp) / 'bench.sqlite'}", args.n)
    if args.pg:
        url = make_url(args.pg)
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "bench_registry" WITH (FORCE)'))
            conn.execute(text('CREATE DATABASE "bench_registry"'))
        try:
            results["postgresql"] = run(url.set(database="bench_registry")
                                        .render_as_string(hide_password=False), args.n)
        finally:
            with admin.connect() as conn:
                conn.execute(text('DROP DATABASE IF EXISTS "bench_registry" WITH (FORCE)'))
            admin.dispose()
    print("| database | parcels | refused | import + overlap check (s) | point look-up median "
          "/ p95 (ms) | register one (ms) |")
    print("|---|---|---|---|---|---|")
    for db, r in results.items():
        print(f"| {db} | {r['parcels']:,} | {r['refused']:,} | {r['import_s']:.1f} | "
              f"{r['point_median_ms']:.1f} / {r['point_p95_ms']:.1f} | "
              f"{r['register_median_ms']:.1f} |")


if __name__ == "__main__":
    main()
