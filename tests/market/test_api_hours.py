"""Trading sessions through the API: with enforcement on, an order, a listing or a block
deal sent outside its instrument's sessions (instruments.toml, Asia/Shanghai, Mon–Fri) is
refused; inside them it goes through. Off by default outside production mode."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from liangshan.config import Settings, get_settings
from liangshan.market.api import trading_clock

from .test_api_orders import _login, client  # noqa: F401  (the fixture)

SUNDAY_10H_SHANGHAI = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
MONDAY_10H_SHANGHAI = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
MONDAY_12H_SHANGHAI = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # the lunch break


def test_enforcement_is_on_in_production_and_can_be_set() -> None:
    assert Settings().enforces_market_hours is False
    assert Settings(mode="production", secret_key="k" * 40).enforces_market_hours is True
    assert Settings(mode="production", secret_key="k" * 40,
                    market_enforce_hours=False).enforces_market_hours is False
    assert Settings(market_enforce_hours=True).enforces_market_hours is True


def test_the_clock_follows_the_setting(monkeypatch) -> None:
    get_settings.cache_clear()
    try:
        assert trading_clock() is None
        monkeypatch.setenv("LIANGSHAN_MARKET_ENFORCE_HOURS", "true")
        get_settings.cache_clear()
        at = trading_clock()
        assert at is not None and at.tzinfo is not None
    finally:
        monkeypatch.delenv("LIANGSHAN_MARKET_ENFORCE_HOURS", raising=False)
        get_settings.cache_clear()


@pytest.mark.parametrize("at, ok", [(SUNDAY_10H_SHANGHAI, False), (MONDAY_12H_SHANGHAI, False),
                                    (MONDAY_10H_SHANGHAI, True)])
def test_orders_outside_the_sessions_are_refused(client, at, ok):  # noqa: F811
    seller, _buyer = client.orgs
    client.app.dependency_overrides[trading_clock] = lambda: at
    sell = _login(client, "sell")
    ask = {"instrument": "EMIS-COD", "org_id": seller, "side": "sell", "quantity": 30,
           "price_fen": 2000, "idempotency_key": "h1"}
    r = client.post("/market/orders", json=ask, headers=sell)
    listing = {"instrument": "EMIS-COD", "org_id": seller, "side": "sell", "quantity": 10,
               "price_fen": 2000, "idempotency_key": "h2"}
    r2 = client.post("/market/listed", json=listing, headers=sell)
    if ok:
        assert r.status_code == 201, r.text
        assert r2.status_code == 201, r2.text
    else:
        for resp in (r, r2):
            assert resp.status_code == 422, resp.text
            body = resp.json()
            assert "session" in body["message"] and "Traceback" not in resp.text
        assert client.get("/market/books/EMIS-COD").json()["asks"] == []
