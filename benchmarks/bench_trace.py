"""Traceability benchmark: recording signed events, and the public page with proofs.

    .venv/bin/python benchmarks/bench_trace.py [--events 5000] [--rounds 3]
                                                [--pg postgresql+psycopg://...] [--sqlite]

Targets (issue 7): recording ≥ 2,000 events/s on PostgreSQL (each event signed with
Ed25519, appended to the transparency log, audited); the public view of an item with a
50-event history < 200 ms including every inclusion proof and signature check. Events
go to 200 batches round-robin (storage events, times increasing): first 300 one call per
event (:func:`service.record_event`, the API's path), then ``--events`` through
:func:`service.record_events` in calls of 500, one commit per call. The 50-event item
claims a brand whose licence is checked against the log on every view. Each round
starts from a fresh database; the table gives every round, its load average (1 min)
and the medians. Not part of the test run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta

from _pg import fresh_pg  # benchmarks/ is on sys.path when a script here runs
from sqlalchemy.engine import Engine

from liangshan.db import make_engine, session_factory
from liangshan.identity import service as identity
from liangshan.identity.access import SYSTEM, Principal
from liangshan.identity.models import Role
from liangshan.identity.schemas import OrganisationIn
from liangshan.migrate import upgrade
from liangshan.trace import brands, public, service
from liangshan.trace.schemas import BatchIn, BrandIn, EventIn, LicenceIn

T0 = datetime(2025, 4, 1, tzinfo=UTC)
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/liangshan_bench_trace"


def run(engine: Engine, n_events: int, n_batches: int = 200, chunk: int = 500
        ) -> dict[str, float]:
    upgrade(engine)
    Session = session_factory(engine)
    with Session() as s:
        org = identity.create_organisation(s, SYSTEM, OrganisationIn(
            name="bench tea", kind="enterprise", region_code="522701"))
        actor = Principal(role=Role.ENTERPRISE, region_code="522701", username="bench",
                          organisation_id=org.id)
        codes = [service.create_batch(s, actor, BatchIn(
            region_code="522701", product_type="tea", product_name="都匀毛尖", quantity=1000,
            unit="g", event_time=T0)).code for _ in range(n_batches)]
        s.commit()
        def event(i: int) -> tuple[str, EventIn]:
            return codes[i % n_batches], EventIn(
                biz_step="storage", event_time=T0 + timedelta(seconds=i + 1),
                where={"read_point": "warehouse-1"}, temperature_c="4.0")

        n_single = min(n_events, 300)
        start = time.perf_counter()
        for i in range(n_single):  # one call, one event: the API's path
            service.record_event(s, actor, *event(i))
        s.commit()
        single = time.perf_counter() - start
        start, cpu = time.perf_counter(), time.process_time()
        for first in range(n_single, n_single + n_events, chunk):  # bulk feed
            last = min(first + chunk, n_single + n_events)
            service.record_events(s, actor, [event(i) for i in range(first, last)])
            s.commit()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        # an item with a 50-event history (49 events after commissioning), branded
        brands.create_brand(s, SYSTEM, BrandIn(
            code="duyun-maojian", name="都匀毛尖", kind="regional_public_brand",
            manager_org_id=org.id, region_prefixes=["5227"], product_types=["tea"]))
        brands.grant_licence(s, SYSTEM, "duyun-maojian", LicenceIn(
            licensee_org_id=org.id, product_types=["tea"], valid_from=date(2025, 1, 1),
            valid_to=date(2099, 1, 1)))
        item = service.create_batch(s, actor, BatchIn(
            region_code="522701", product_type="tea", product_name="都匀毛尖", quantity=1000,
            unit="g", event_time=T0, brand_code="duyun-maojian"))
        for i in range(49):
            service.record_event(s, actor, item.code, EventIn(
                biz_step="transport", event_time=T0 + timedelta(minutes=i + 1)))
        s.commit()
        public.public_view(s, item.code, with_proofs=True)  # signs the checkpoint once
        s.commit()
        times = []
        for _ in range(20):
            t = time.perf_counter()
            view = public.public_view(s, item.code, with_proofs=True)
            times.append((time.perf_counter() - t) * 1000)
        assert view["verification"]["overall"] == "verified", view["verification"]
        assert len(view["events"]) == 50 and view["brand"]["licence"]["ok"]
    return {"events": n_events, "seconds": elapsed, "events_per_s": n_events / elapsed,
            "events_per_cpu_s": n_events / cpu,
            "single_per_s": n_single / single,
            "page_ms_median": statistics.median(times), "page_ms_max": max(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--pg", default=os.environ.get("LIANGSHAN_BENCH_PG_URL", PG_DEFAULT))
    parser.add_argument("--sqlite", action="store_true", help="also run on a SQLite file")
    args = parser.parse_args()
    results: list[tuple[str, float, dict[str, float]]] = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["LIANGSHAN_DATA_DIR"] = tmp  # log and organisation keys go here
            results.append(("postgresql", os.getloadavg()[0], run(fresh_pg(args.pg),
                                                                  args.events)))
            if args.sqlite:
                results.append(("sqlite", os.getloadavg()[0], run(make_engine(
                    f"sqlite:///{tmp}/bench.sqlite"), args.events)))
    # ev/client-CPU-s: bulk events per second of this process's CPU time (the database
    # server's CPU not included): what the client side costs, less sensitive to load.
    print(f"{'database':<12}{'load':>6}{'bulk events':>12}{'seconds':>9}{'bulk ev/s':>10}"
          f"{'ev/client-CPU-s':>16}{'single ev/s':>12}{'page ms (median)':>18}"
          f"{'page ms (max)':>15}")
    for name, load, r in results:
        print(f"{name:<12}{load:>6.1f}{r['events']:>12}{r['seconds']:>9.2f}"
              f"{r['events_per_s']:>10.0f}{r['events_per_cpu_s']:>16.0f}"
              f"{r['single_per_s']:>12.0f}{r['page_ms_median']:>18.1f}{r['page_ms_max']:>15.1f}")
    for name in dict.fromkeys(n for n, _l, _r in results):
        mine = [r for n, _l, r in results if n == name]
        if len(mine) > 1:
            print(f"{name + ' median':<18}{'':>12}{'':>9}"
                  f"{statistics.median(r['events_per_s'] for r in mine):>10.0f}"
                  f"{statistics.median(r['events_per_cpu_s'] for r in mine):>16.0f}"
                  f"{statistics.median(r['single_per_s'] for r in mine):>12.0f}"
                  f"{statistics.median(r['page_ms_median'] for r in mine):>18.1f}")


if __name__ == "__main__":
    main()
