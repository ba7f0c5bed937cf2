"""Rules of each trading mode (MECHANISMS.md §1.5, CEA rules of 2021 [V])."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from liangshan.errors import Conflict, InvalidInput
from liangshan.market.instruments import get_instrument
from liangshan.market.modes import (
    Deal,
    Mode,
    OneWayAuction,
    block_deal,
    check_fixed,
    check_hours,
    check_listed,
    closing_price,
    opening_price,
)
from liangshan.market.orderbook import BUY, SELL

CCER = get_instrument("CCER-AR")  # tick 1 fen, lot 1 t, block threshold 100,000 t
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def test_listed_band_is_ten_percent_of_previous_close_inclusive():
    """prev close 50.00 元 → listed band 45.00–55.00 元 (±10 %)."""
    check_listed(CCER, 4500, 10, 5000)
    check_listed(CCER, 5500, 10, 5000)
    with pytest.raises(InvalidInput, match="outside ±10 %"):
        check_listed(CCER, 4499, 10, 5000)
    with pytest.raises(InvalidInput, match="outside ±10 %"):
        check_listed(CCER, 5501, 10, 5000)


def test_block_band_threshold_and_listed_size_limit():
    """≥ 100,000 t is a block (±30 %: 35.00–65.00 元 around 50.00); listed must be below."""
    block_deal(CCER, 1, 2, 100_000, 3500, 5000)
    block_deal(CCER, 1, 2, 250_000, 6500, 5000)
    with pytest.raises(InvalidInput, match="outside ±30 %"):
        block_deal(CCER, 1, 2, 100_000, 6501, 5000)
    with pytest.raises(InvalidInput, match="at least 100000"):
        block_deal(CCER, 1, 2, 99_999, 5000, 5000)
    with pytest.raises(InvalidInput, match="below 100000"):
        check_listed(CCER, 5000, 100_000, 5000)
    with pytest.raises(Conflict):
        block_deal(CCER, 1, 1, 100_000, 5000, 5000)


def test_tick_and_lot():
    coarse = replace(CCER, tick_fen=5, lot=10)
    check_listed(coarse, 5005, 20, 5000)
    with pytest.raises(InvalidInput, match="off the tick"):
        check_listed(coarse, 5003, 20, 5000)
    with pytest.raises(InvalidInput, match="multiple of the lot 10"):
        check_listed(coarse, 5005, 25, 5000)


def test_no_previous_close_uses_reference_price_or_no_band():
    fci = get_instrument("FCI")  # reference 2,500 元/亩 [V]
    check_listed(fci, 275_000, 10, None)
    with pytest.raises(InvalidInput):
        check_listed(fci, 275_001, 10, None)
    check_listed(CCER, 999_999, 10, None)  # neither: the first trade sets the price


def test_single_tree_sells_only_at_three_yuan():
    tree = get_instrument("GZ-TREE")
    check_fixed(tree, 300, 200)
    with pytest.raises(InvalidInput):
        check_fixed(tree, 299, 200)
    with pytest.raises(InvalidInput, match="fixed"):
        check_listed(tree, 300, 1, None)


def test_closing_price_is_volume_weighted_listed_average():
    """Trades 10 t @ 50.00 and 30 t @ 52.00 → (500+1560)/40 = 51.50 元; block trades ignored."""
    deals = [Deal("CCER-AR", Mode.BLOCK, 1, 2, 200_000, 4000),
             Deal("CCER-AR", Mode.LISTED, 1, 2, 10, 5000),
             Deal("CCER-AR", Mode.LISTED, 1, 2, 30, 5200)]
    assert closing_price(deals, 4900) == 5150
    assert opening_price(deals) == 5000
    assert closing_price(deals[:1], 4900) == 4900  # no listed trade: previous close carries
    # half-up rounding to the fen: (1×5000 + 2×5001)/3 = 5000.67 → 5001
    assert closing_price([Deal("x", Mode.LISTED, 1, 2, 1, 5000),
                          Deal("x", Mode.LISTED, 1, 2, 2, 5001)], None) == 5001


def test_one_way_auction_reserve_and_award_by_price_then_time():
    auction = OneWayAuction(CCER, initiator="seller", side=SELL, qty=100, reserve_fen=4000)
    with pytest.raises(InvalidInput, match="reserve"):
        auction.bid("a", 10, 3999, T0)
    auction.bid("a", 60, 4100, T0)
    auction.bid("b", 50, 4200, T0.replace(minute=5))
    auction.bid("c", 50, 4100, T0.replace(minute=1))
    deals = auction.award()
    assert [(d.buyer, d.qty, d.price_fen) for d in deals] == [("b", 50, 4200), ("a", 50, 4100)]
    with pytest.raises(Conflict):
        auction.bid("d", 1, 5000, T0)


def test_ascending_auction_needs_improvement_and_buy_side_prefers_low():
    up = OneWayAuction(CCER, initiator="s", side=SELL, qty=10, reserve_fen=1000, sealed=False,
                       increment_fen=50)
    up.bid("a", 10, 1000, T0)
    with pytest.raises(InvalidInput, match="improve"):
        up.bid("b", 10, 1049, T0)
    up.bid("b", 10, 1050, T0)
    assert [d.buyer for d in up.award()] == ["b"]
    down = OneWayAuction(CCER, initiator="buyer", side=BUY, qty=10, reserve_fen=2000)
    with pytest.raises(InvalidInput):
        down.bid("a", 10, 2001, T0)
    down.bid("a", 10, 1900, T0)
    down.bid("b", 10, 1800, T0)
    assert [(d.seller, d.price_fen) for d in down.award()] == [("b", 1800)]


def test_trading_hours_in_shanghai_time():
    assert CCER.in_hours(datetime(2026, 3, 2, 1, 30, tzinfo=UTC))      # Mon 09:30 CST
    assert not CCER.in_hours(datetime(2026, 3, 2, 4, 0, tzinfo=UTC))   # 12:00 CST lunch
    assert not CCER.in_hours(datetime(2026, 3, 7, 2, 0, tzinfo=UTC))   # Saturday
    assert not CCER.in_hours(datetime(2026, 3, 2, 2, 0, tzinfo=UTC), block=True)  # 10:00
    assert get_instrument("GZ-TREE").in_hours(datetime(2026, 3, 7, 20, 0, tzinfo=UTC))
    check_hours(CCER, datetime(2026, 3, 2, 5, 0, tzinfo=UTC))  # 13:00 CST
    with pytest.raises(InvalidInput, match="outside"):
        check_hours(CCER, datetime(2026, 3, 2, 7, 0, tzinfo=UTC))  # 15:00
    with pytest.raises(InvalidInput, match="block trading sessions"):
        block_deal(CCER, 1, 2, 100_000, 5000, 5000, at=datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
