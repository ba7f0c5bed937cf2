"""Market benchmarks (a script, not a test): matching-engine orders/s and settled trades/s.

    .venv/bin/python benchmarks/bench_market.py engine [--orders 1000000]
    .venv/bin/python benchmarks/bench_market.py settle --url postgresql+psycopg://... [--trades 2000]
    .venv/bin/python benchmarks/bench_market.py book --url postgresql+psycopg://... [--orders 2000]

``engine``: a pre-generated stream of limit (70 %), market (5 %), cancel (20 %) and
amend (5 %) orders around a mid price, fed to one :class:`OrderBook`; the rate counts
every message. ``settle``: trades between a few participants settled through
:func:`liangshan.market.service.settle` (two journal entries, serial blocks, trade row),
one transaction per trade, ``--batch`` trades per transaction, between ``--parties``
organisations (default 4), with ``--clearing``
one :func:`liangshan.market.service.settle_batch` of ``--batch`` trades per transaction, or
with ``--cycle`` one :func:`liangshan.market.service.settle_trades` (each trade its own two
entries, one ledger call) per transaction. ``book``: limit orders around a mid price
through the persisted order book (:func:`liangshan.market.orders.place_orders`), ``--batch``
orders per matching cycle and transaction; it counts orders and settled trades per second.
The database named by ``--url`` is migrated and must be a scratch database: its market
and ledger rows grow.
"""

from __future__ import annotations

import argparse
import random
import time

from sqlalchemy import Engine

from liangshan.market.orderbook import BUY, SELL, OrderBook


def engine_bench(n: int, seed: int = 1) -> dict[str, float]:
    rng = random.Random(seed)
    ops = []
    for _ in range(n):
        r = rng.random()
        side = BUY if rng.random() < 0.5 else SELL
        if r < 0.70:
            drift = rng.randint(-20, 20) + (-5 if side == BUY else 5)
            ops.append((0, side, rng.randint(1, 100), 10_000 + drift))
        elif r < 0.75:
            ops.append((1, side, rng.randint(1, 50), 0))
        elif r < 0.95:
            ops.append((2, 0, 0, rng.randint(0, 10**9)))
        else:
            ops.append((3, 0, rng.randint(1, 100), rng.randint(0, 10**9)))
    book = OrderBook()
    submit, cancel, amend, live = book.submit, book.cancel, book.amend, book._live
    resting: list[int] = []
    fills = 0
    t0 = time.perf_counter()
    for kind, side, qty, x in ops:
        if kind == 0:
            oid, f = submit(side, qty, x)
            fills += len(f)
            resting.append(oid)
        elif kind == 1:
            _, f = submit(side, qty, None)
            fills += len(f)
        elif resting:
            i = x % len(resting)
            oid = resting[i]
            resting[i] = resting[-1]
            resting.pop()
            if oid in live:
                if kind == 2:
                    cancel(oid)
                else:
                    new, f = amend(oid, qty=qty)
                    fills += len(f)
                    resting.append(new)
    dt = time.perf_counter() - t0
    return {"messages": n, "seconds": dt, "per_second": n / dt, "fills": fills,
            "resting": len(book)}


def _participants(url: str, n_units: int, parties: int = 4) -> tuple[Engine, list[int], str]:
    """A migrated engine and ``parties`` funded organisations holding ``n_units`` WATER each."""
    from datetime import date

    from liangshan.db import make_engine, session_scope
    from liangshan.identity import service as identity
    from liangshan.identity.access import SYSTEM
    from liangshan.identity.schemas import OrganisationIn
    from liangshan.market import service
    from liangshan.market.schemas import IssueIn
    from liangshan.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    tag = f"bench{int(time.time())}"
    with session_scope(engine) as s:
        orgs = [identity.create_organisation(s, SYSTEM, OrganisationIn(
            name=f"{tag}-{i}", kind="enterprise")).id for i in range(parties)]
        for i, o in enumerate(orgs):
            service.issue(s, SYSTEM, IssueIn(
                instrument="WATER", vintage=2024, quantity=n_units, holder_org_id=o,
                period_start=date(2024, 1, 1), period_end=date(2024, 12, 31),
                verification_ref="bench", idempotency_key=f"{tag}-i{i}",
                project_ref=f"{tag}-{i}", region_code="520381"))
            service.deposit(s, SYSTEM, o, 10**12, f"{tag}-d{i}")
    return engine, orgs, tag


def book_bench(url: str, n: int, batch: int) -> dict[str, float]:
    from liangshan.db import session_scope
    from liangshan.identity.access import SYSTEM
    from liangshan.market import orders
    from liangshan.market.schemas import OrderIn

    engine, orgs, tag = _participants(url, 10 * n)
    orders.drop_engines()
    with session_scope(engine) as s:  # an empty book: orders of earlier runs expire
        orders.close_book(s, SYSTEM, "WATER")
    rng = random.Random(3)
    t0 = time.perf_counter()
    done = trades = 0
    while done < n:
        items = []
        for _ in range(min(batch, n - done)):
            side = rng.choice(("buy", "sell"))
            drift = rng.randint(-3, 3) + (-1 if side == "buy" else 1)
            # each organisation trades on one side only, so no order meets its owner's
            who = orgs[rng.randrange(2)] if side == "buy" else orgs[2 + rng.randrange(2)]
            items.append(OrderIn(instrument="WATER", org_id=who, side=side,
                                 quantity=rng.randint(1, 5), price_fen=100 + drift,
                                 idempotency_key=f"{tag}-o{done}"))
            done += 1
        with session_scope(engine) as s:
            trades += sum(len(p.trades) for p in orders.place_orders(s, SYSTEM, items))
    dt = time.perf_counter() - t0
    engine.dispose()
    return {"orders": n, "batch": batch, "trades": trades, "seconds": dt,
            "orders_per_second": n / dt, "trades_per_second": trades / dt}


def settle_bench(url: str, trades: int, batch: int, clearing: bool = False,
                 net: bool = False, cycle: bool = False, parties: int = 4) -> dict[str, float]:
    from liangshan.db import session_scope
    from liangshan.identity.access import SYSTEM
    from liangshan.market import service
    from liangshan.market.schemas import TradeIn

    engine, orgs, tag = _participants(url, 10 * trades, parties)
    rng = random.Random(2)
    t0 = time.perf_counter()
    done = 0
    while done < trades:
        with session_scope(engine) as s:
            items = []
            for _ in range(min(batch, trades - done)):
                a, b = rng.sample(orgs, 2)
                items.append(TradeIn(
                    instrument="WATER", mode="continuous", seller_org_id=a, buyer_org_id=b,
                    quantity=rng.randint(1, 5), price_fen=rng.randint(90, 110),
                    idempotency_key=f"{tag}-t{done}", fee_bp=10))
                done += 1
            if cycle:
                service.settle_trades(s, SYSTEM, items, cycle_key=f"{tag}-c{done}")
            elif clearing:
                service.settle_batch(s, SYSTEM, items, batch_key=f"{tag}-b{done}", net=net)
            else:
                for item in items:
                    service.settle(s, SYSTEM, item)
    dt = time.perf_counter() - t0
    engine.dispose()
    return {"trades": trades, "batch": batch, "clearing": clearing, "net": net, "cycle": cycle,
            "parties": parties, "seconds": dt,
            "per_second": trades / dt}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["engine", "settle", "book"])
    p.add_argument("--orders", type=int, default=1_000_000)
    p.add_argument("--trades", type=int, default=2000)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--clearing", action="store_true", help="settle_batch per transaction")
    p.add_argument("--net", action="store_true", help="with --clearing: net entries")
    p.add_argument("--cycle", action="store_true",
                   help="settle_trades per transaction (each trade its own two entries)")
    p.add_argument("--parties", type=int, default=4,
                   help="settle: trading organisations (pairs drawn at random)")
    p.add_argument("--url", help="settle: a scratch database URL (SQLite file or PostgreSQL)")
    a = p.parse_args()
    if a.what == "engine":
        for _ in range(3):
            print(engine_bench(a.orders))
    elif not a.url:
        p.error(f"{a.what} needs --url of a scratch database")
    elif a.what == "book":
        print(book_bench(a.url, a.orders, a.batch))
    else:
        print(settle_bench(a.url, a.trades, a.batch, a.clearing, a.net, a.cycle, a.parties))


if __name__ == "__main__":
    main()
