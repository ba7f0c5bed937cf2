"""Ledger benchmark (a script, not a test): log leaves/s (single and bulk) and post_entry/s.

    .venv/bin/python benchmarks/bench_ledger.py [--pg postgresql+psycopg://...] [--sqlite]
                                                [--leaves 2000] [--entries 1000] [--repeat 3]

Each figure is the median of ``--repeat`` timed runs on one growing log (the database
named by ``--pg`` is dropped and re-created first):

* ``leaf/txn`` — :func:`append_leaf`, one transaction (commit) per leaf: the API's path;
* ``leaf×100/txn`` — :func:`append_leaf`, 100 leaves per transaction;
* ``bulk 500/txn`` — :func:`append_leaves` with 500 leaves per call and commit (falls
  back to one :func:`append_leaf` per leaf when the ledger has no ``append_leaves``, so
  the script also measures older versions);
* ``entry/txn`` and ``entry×100/txn`` — :func:`post_entry` of a two-line CNY entry
  between funded holder accounts (a balance check on the debited one), one or 100
  entries per transaction;
* ``entries 100/txn`` — the same entries, 100 per :func:`post_entries` call and commit
  (one :func:`post_entry` each where the ledger has no ``post_entries``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable

from _pg import fresh_pg  # benchmarks/ is on sys.path when a script here runs
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from liangshan.db import make_engine, session_factory
from liangshan.ledger import service
from liangshan.migrate import upgrade

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/liangshan_bench_ledger"


def _rate(s: Session, n: int, per_txn: int, work: Callable[[int], None]) -> float:
    """Items per second of ``work(i)`` for i < n, committing every ``per_txn`` items."""
    start = time.perf_counter()
    for first in range(0, n, per_txn):
        for i in range(first, min(first + per_txn, n)):
            work(i)
        s.commit()
    return n / (time.perf_counter() - start)


def run(engine: Engine, n_leaves: int, n_entries: int, repeat: int) -> dict[str, float]:
    upgrade(engine)
    bulk = getattr(service, "append_leaves", None)
    bulk_post = getattr(service, "post_entries", None)
    counter = iter(range(10**9))
    with session_factory(engine)() as s:
        bank = service.open_account(s, asset="CNY", kind="external", name="bank")
        holders = [service.open_account(s, asset="CNY", name=f"h{i}") for i in range(20)]
        for h in holders:
            service.post_entry(s, idempotency_key=f"fund-{h.code}",
                               postings=[(bank, -10**12), (h, 10**12)])
        s.commit()
        codes = [h.code for h in holders]

        def leaf(_i: int) -> None:
            service.append_leaf(s, "trace", {"batch": "B-1", "step": next(counter)})

        def chunk(_i: int) -> None:
            items = [("trace", {"batch": "B-1", "step": next(counter)}) for _ in range(500)]
            if bulk is not None:
                bulk(s, items)
            else:
                for kind, payload in items:
                    service.append_leaf(s, kind, payload)

        def entry(i: int) -> None:
            k = next(counter)
            service.post_entry(s, idempotency_key=f"e-{k}", postings=[
                (codes[k % 20], -1), (codes[(k + 7) % 20], 1)], memo="bench")

        def entries(_i: int) -> None:
            batch = []
            for _ in range(100):
                k = next(counter)
                batch.append({"idempotency_key": f"e-{k}", "memo": "bench", "postings": [
                    (codes[k % 20], -1), (codes[(k + 7) % 20], 1)]})
            if bulk_post is not None:
                bulk_post(s, batch)
            else:
                for e in batch:
                    service.post_entry(s, **e)

        cases: dict[str, Callable[[], float]] = {
            "leaf/txn": lambda: _rate(s, n_leaves // 4, 1, leaf),
            "leaf×100/txn": lambda: _rate(s, n_leaves, 100, leaf),
            "bulk 500/txn": lambda: 500 * _rate(s, max(1, 5 * n_leaves // 500), 1, chunk),
            "entry/txn": lambda: _rate(s, n_entries // 2, 1, entry),
            "entry×100/txn": lambda: _rate(s, n_entries, 100, entry),
            "entries 100/txn": lambda: 100 * _rate(s, max(1, 5 * n_entries // 100), 1, entries),
        }
        results = {name: statistics.median(case() for _ in range(repeat))
                   for name, case in cases.items()}
        results["log size"] = service.log_size(s)
        assert service.verify_log(s) == []
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("LIANGSHAN_BENCH_PG_URL", PG_DEFAULT))
    parser.add_argument("--sqlite", action="store_true", help="also run on a SQLite file")
    parser.add_argument("--leaves", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LIANGSHAN_DATA_DIR"] = tmp
        results = {"postgresql": run(fresh_pg(args.pg), args.leaves, args.entries, args.repeat)}
        if args.sqlite:
            results["sqlite"] = run(make_engine(f"sqlite:///{tmp}/bench.sqlite"), args.leaves,
                                    args.entries, args.repeat)
    print(f"load average: {os.getloadavg()[0]:.1f} (1 min)")
    names = [k for k in next(iter(results.values())) if k != "log size"]
    print(f"{'database':<12}" + "".join(f"{n:>17}" for n in names) + f"{'log size':>10}")
    for db, r in results.items():
        print(f"{db:<12}" + "".join(f"{r[n]:>17.0f}" for n in names) + f"{r['log size']:>10.0f}")


if __name__ == "__main__":
    main()
