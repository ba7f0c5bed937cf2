"""``liangshan market book / close-book / award`` on the embedded SQLite database."""

from __future__ import annotations

from typer.testing import CliRunner

from liangshan.cli import app
from liangshan.db import get_engine, session_scope
from liangshan.identity.access import SYSTEM
from liangshan.market import auctions, orders, service
from liangshan.market.schemas import AuctionIn, BidIn, OrderIn
from liangshan.migrate import upgrade

from .helpers import issue_project, org

runner = CliRunner()


def test_book_close_book_and_award() -> None:
    engine = get_engine()
    upgrade(engine)
    orders.drop_engines()
    with session_scope(engine) as s:
        seller, buyer = org(s, "卖方"), org(s, "买方")
        issue_project(s, seller, 100)
        service.deposit(s, SYSTEM, buyer, 100_000, "d")
        for key, side, who, qty, price in (("a", "sell", seller, 10, 2010),
                                           ("b", "sell", seller, 5, 2010),
                                           ("c", "buy", buyer, 7, 1990)):
            orders.place_order(s, SYSTEM, OrderIn(instrument="EMIS-COD", org_id=who, side=side,
                                                  quantity=qty, price_fen=price,
                                                  idempotency_key=key))
        lot = auctions.create_auction(s, SYSTEM, AuctionIn(
            instrument="EMIS-COD", seller_org_id=seller, quantity=20, reserve_fen=1900,
            idempotency_key="lot"))
        auctions.place_bid(s, SYSTEM, lot.id, BidIn(org_id=buyer, quantity=20, price_fen=1950,
                                                    idempotency_key="bid"))
        lot_id = lot.id
    shown = runner.invoke(app, ["market", "book", "EMIS-COD"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[1:] == ["ask         2010         15       2",
                                             "bid         1990          7       1"]
    closed = runner.invoke(app, ["market", "close-book", "EMIS-COD"])
    assert closed.exit_code == 0 and "3 open order(s) expired" in closed.output
    awarded = runner.invoke(app, ["market", "award", str(lot_id)])
    assert awarded.exit_code == 0, awarded.output
    assert f"org {buyer}: 20 at 1950 fen" in awarded.output
    assert runner.invoke(app, ["market", "book", "NOPE"]).exit_code != 0
