"""The market page: order-book depth, open auctions and their deadlines, the listed-agreement
board (挂牌协议) and the day's block deals, a participant's own position read without writing
(SQLite and PG).

Seeded with the market demo (its continuous-book orders on CCER-AR leave some resting)
and two open EMIS-COD auctions from :func:`tests.web._web_seed.seed_market_users`: a
sealed one closing in 7 days with a bid at 19.87 元/kg and an ascending one without
deadline with a bid at 19.11 元/kg; and an EMIS-COD listing of 1,000 kg at 19.50 元/kg of
which 400 kg were taken.
Expected figures are computed here from the stored rows (open orders grouped by price;
ledger balances less reservations as MECHANISMS.md §1.5 and market/funds.py describe),
not read from the page's own helper.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import accumulate

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select, text

from liangshan.db import session_factory
from liangshan.identity.models import Organisation
from liangshan.ledger.models import LedgerAccount
from liangshan.market import service as market
from liangshan.market.funds import cost_fen
from liangshan.market.instruments import SHANGHAI
from liangshan.market.issuance import holder_code
from liangshan.market.models import Auction, AuctionBid, BlockDeal, BookOrder, ListedOrder, Trade
from liangshan.web.i18n import format_money, format_time
from tests.web._web_seed import (
    ASCENDING_BID_FEN,
    LISTED_COD,
    SEALED_BID_FEN,
    login,
    make_app,
    seed,
    seed_domains,
    seed_market_users,
)


@pytest.fixture
def market_client(db_engine: Engine) -> Iterator[tuple[TestClient, dict[str, int]]]:
    seed(db_engine)
    seed_domains(db_engine)
    ids = seed_market_users(db_engine)
    with TestClient(make_app(db_engine)) as c:
        yield c, ids


def _open_orders(db_engine: Engine, **where: object) -> list[BookOrder]:
    session = session_factory(db_engine)()
    try:
        query = select(BookOrder).where(BookOrder.status == "open")
        for name, value in where.items():
            query = query.where(getattr(BookOrder, name) == value)
        return list(session.scalars(query))
    finally:
        session.close()


def _cells(html: str, css: str) -> list[str]:
    return re.findall(rf'<td class="num {css}">([^<]*)</td>', html)


def test_depth_shows_the_best_five_levels_of_the_chosen_book(market_client, db_engine):
    client, _ = market_client
    resting = _open_orders(db_engine, instrument="CCER-AR")
    assert resting, "the market demo leaves CCER-AR orders resting"
    levels: dict[str, dict[int, int]] = {"buy": defaultdict(int), "sell": defaultdict(int)}
    for o in resting:
        assert o.price_fen is not None
        levels[o.side][o.price_fen] += o.remaining
    bids = sorted(levels["buy"].items(), reverse=True)[:5]
    asks = sorted(levels["sell"].items())[:5]
    html = client.get("/web/market?instrument=CCER-AR").text
    assert 'data-instrument="CCER-AR"' in html and "买卖盘（五档）" in html
    assert _cells(html, "bid-price") == [format_money(p) for p, _ in bids]
    assert _cells(html, "bid-qty") == [f"{q:,}" for _, q in bids]
    assert _cells(html, "ask-price") == [format_money(p) for p, _ in asks]
    assert _cells(html, "ask-qty") == [f"{q:,}" for _, q in asks]
    assert "tCO2e" in html.split('id="depth"')[1].split("</table>")[0]   # the unit is shown
    chart = json.loads(html.split('id="depth-data">')[1].split("</script>")[0])
    assert chart["unit"] == "tCO2e"
    assert [p for p, _ in chart["bids"]] == [p / 100 for p, _ in bids]      # 元 per unit
    assert [c for _, c in chart["asks"]] == list(accumulate(q for _, q in asks))
    if bids and asks:  # a continuous book never rests crossed
        assert bids[0][0] < asks[0][0]
        assert f"买卖价差: {format_money(asks[0][0] - bids[0][0])}" in html


def test_switching_instrument_and_unknown_codes(market_client, db_engine):
    client, _ = market_client
    per_book: dict[str, int] = defaultdict(int)
    for o in _open_orders(db_engine):
        per_book[o.instrument] += 1
    busiest = max(per_book, key=lambda code: per_book[code])
    assert f'data-instrument="{busiest}"' in client.get("/web/market").text  # none chosen
    html = client.get("/web/market?instrument=EMIS-COD").text
    assert 'data-instrument="EMIS-COD"' in html and "当前无挂单" in html
    assert 'href="?instrument=CCER-AR#depth-title"' in html
    missing = client.get("/web/market?instrument=NOPE")
    assert missing.status_code == 404 and "CCER-AR" in missing.text   # names the known codes
    assert "Order book depth" in client.get("/web/market?lang=en").text


def test_auctions_are_listed_and_sealed_bids_never_shown(market_client, db_engine):
    client, ids = market_client
    sealed_price = format_money(SEALED_BID_FEN)            # "19.87 元"
    for who in (None, "citizen", "tech", "province"):      # public, other bidder, staff
        if who:
            login(client, who)
        html = client.get("/web/market").text
        auctions = html.split('id="auctions"')[1].split("</table>")[0]
        assert f'data-auction="{ids["sealed"]}"' in auctions
        assert f'data-auction="{ids["ascending"]}"' in auctions
        assert "密封，成交前不公开" in auctions
        assert f"{format_money(ASCENDING_BID_FEN)} /kg" in auctions   # ascending: best bid public
        assert sealed_price.split()[0] not in html, f"sealed bid amount visible to {who}"
        assert str(SEALED_BID_FEN) not in html
    awarded = client.get("/web/market").text.split('id="auctions"')[1].split("</table>")[0]
    session = session_factory(db_engine)()
    done = session.scalars(select(Auction.id).where(Auction.status == "awarded")).all()
    session.close()
    assert done and all(f'data-auction="{i}"' not in awarded for i in done)   # open ones only
    login(client, "power")   # the sealed bid's own bidder sees it, in its own section
    mine = client.get("/web/market").text.split('id="mine"')[1]
    assert f"<td class=\"num\">{sealed_price}</td>" in mine.split('id="my-bids"')[1]


def _expected_position(db_engine: Engine, org: int) -> tuple[int, int, int]:
    """(money fen, free money fen, CCER-AR units held) of an organisation, from the ledger
    balances less open buy orders and open bids, each ``quantity × price`` plus fee."""
    session = session_factory(db_engine)()
    try:
        cash = market.money_balance(session, org)
        reserved = sum(cost_fen(o.remaining, o.price_fen or 0, o.fee_bp) for o in session.scalars(
            select(BookOrder).where(BookOrder.org_id == org, BookOrder.side == "buy",
                                    BookOrder.status == "open")))
        reserved += sum(cost_fen(b.quantity, b.price_fen, a.fee_bp) for b, a in session.execute(
            select(AuctionBid, Auction).join(Auction, AuctionBid.auction_id == Auction.id)
            .where(AuctionBid.bidder_org_id == org, Auction.status == "open")))
        return cash, cash - reserved, market.unit_balance(session, "CCER-AR", org)
    finally:
        session.rollback()
        session.close()


def test_holdings_and_orders_only_for_that_organisations_user(market_client, db_engine):
    client, ids = market_client
    power_orders = _open_orders(db_engine, org_id=ids["power"])
    assert power_orders, "the demo's buyer (power) has buy orders resting"
    assert 'id="mine"' not in client.get("/web/market").text          # anonymous
    login(client, "citizen")
    assert 'id="mine"' not in client.get("/web/market").text          # no organisation
    login(client, "province")
    assert 'id="mine"' not in client.get("/web/market").text          # staff has none

    login(client, "power")
    html = client.get("/web/market").text
    cash, free, ccer = _expected_position(db_engine, ids["power"])
    assert 0 < free < cash                                             # reservations count
    money = html.split('id="money"')[1].split("</table>")[0]
    assert [format_money(cash), format_money(free)] == re.findall(
        r'<td class="num">([^<]*)</td>', money)
    holdings = html.split('id="holdings"')[1].split("</table>")[0]
    assert f'<tr data-code="CCER-AR"><td class="code">CCER-AR</td><td class="num">{ccer:,}</td>' \
        in holdings
    listed = re.findall(r'data-order="(\d+)"', html)
    assert sorted(map(int, listed)) == sorted(o.id for o in power_orders)

    login(client, "tech")
    other = client.get("/web/market").text
    assert 'id="mine"' in other
    assert not set(re.findall(r'data-order="(\d+)"', other)) & set(listed)
    _, tech_free, _ = _expected_position(db_engine, ids["tech"])
    assert format_money(tech_free) in other.split('id="money"')[1].split("</table>")[0]


def test_auction_deadlines_are_shown(market_client, db_engine):
    client, ids = market_client
    session = session_factory(db_engine)()
    closes_at = session.get_one(Auction, ids["sealed"]).closes_at
    session.close()
    assert closes_at is not None
    for lang, none_text in (("zh", "无截止，授予时结束"), ("en", "none; ends when awarded")):
        html = client.get(f"/web/market?lang={lang}").text
        rows = html.split('id="auctions"')[1].split("</table>")[0]
        sealed = rows.split(f'data-auction="{ids["sealed"]}"')[1].split("</tr>")[0]
        ascending = rows.split(f'data-auction="{ids["ascending"]}"')[1].split("</tr>")[0]
        assert f'<td class="closes">{format_time(closes_at)}</td>' in sealed   # UTC+8 shown
        assert f'<td class="closes">{none_text}</td>' in ascending


def _counts(db_engine: Engine) -> list[int]:
    """Rows of ledger_accounts, ledger_log_leaves and audit_events."""
    with db_engine.connect() as conn:
        return [int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in ("ledger_accounts", "ledger_log_leaves", "audit_events")]


def test_a_participant_without_accounts_reads_the_page_without_writing(market_client, db_engine):
    """The page's GET neither leaves rows behind nor even tries to write: the web session
    is rolled back after a GET, so counting rows alone would miss an INSERT made and
    undone; every statement the engine runs during the GET is watched as well."""
    client, ids = market_client
    login(client, "newcomer")
    session = session_factory(db_engine)()
    codes = [holder_code(a, ids["newcomer"]) for a in ("CNY", *market.load_instruments())]
    assert not session.scalars(select(LedgerAccount).where(LedgerAccount.code.in_(codes))).all()
    session.close()
    statements: list[str] = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    before = _counts(db_engine)
    event.listen(db_engine, "before_cursor_execute", watch)
    try:
        html = client.get("/web/market").text
    finally:
        event.remove(db_engine, "before_cursor_execute", watch)
    assert _counts(db_engine) == before          # no account row, no log leaf, no audit row
    writes = [st for st in statements if re.match(r"\s*(INSERT|UPDATE|DELETE)", st, re.I)
              and re.search(r"ledger_|market_|audit_", st)]
    assert writes == [], writes
    assert not any("pg_advisory_xact_lock" in st for st in statements)   # no writer's lock
    money = html.split('id="money"')[1].split("</table>")[0]
    assert re.findall(r'<td class="num">([^<]*)</td>', money) == [format_money(0)] * 2
    assert "未持有任何品种" in html.split('id="mine"')[1]


def test_listed_board_shows_open_listings_after_a_partial_accept(market_client, db_engine):
    client, ids = market_client
    qty, price, taken = LISTED_COD
    session = session_factory(db_engine)()
    try:
        open_rows = list(session.scalars(select(ListedOrder).where(ListedOrder.status == "open")))
        shanghai_today = datetime.now(UTC).astimezone(SHANGHAI).date()
        settled_today = sum(
            1 for d in session.scalars(select(BlockDeal).where(BlockDeal.status == "settled"))
            if d.trade_id is not None and session.get_one(Trade, d.trade_id)
            .executed_at.astimezone(SHANGHAI).date() == shanghai_today)
        org_names = [o.name for o in session.scalars(select(Organisation))]
    finally:
        session.close()
    assert settled_today >= 1, "the market demo settles a block deal"
    html = client.get("/web/market").text
    board = html.split('id="listed"')[1].split("</table>")[0]
    assert sorted(map(int, re.findall(r'data-listing="(\d+)"', board))) == \
        sorted(r.id for r in open_rows)
    row = board.split(f'data-listing="{ids["listing"]}"')[1].split("</tr>")[0]
    assert "<td>卖出</td>" in row
    assert f'<td class="num listed-price">{format_money(price)} /kg</td>' in row
    assert f'<td class="num listed-qty">{qty - taken:,} kg</td>' in row      # 1,000 − 400
    assert not any(name.split()[0] in board for name in org_names)            # no owners
    assert re.search(rf'id="blocks-today">今日成交大宗协议笔数 \({shanghai_today.isoformat()}\): '
                     rf'<span class="num">{settled_today}</span>', html)
    en = client.get("/web/market?lang=en").text
    assert "Listed agreements (open listings)" in en and "<td>Sell</td>" in en
