"""The market page in headless Chromium: switch the instrument, read the auctions, log in as
a participant and see its own position; every request stays on the app (the ``page``
fixture of test_browser asserts it), screenshots go to test-artifacts/web/.

Uses the browser fixtures of :mod:`tests.web.test_browser` with its own server, whose
database also holds the two open auctions and the participants' users of
:func:`tests.web._web_seed.seed_market_users`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from liangshan.db import make_engine
from liangshan.migrate import upgrade
from liangshan.web.i18n import format_money
from tests.web._web_seed import (
    PASSWORD,
    SEALED_BID_FEN,
    make_app,
    seed,
    seed_domains,
    seed_market_users,
)
from tests.web.test_browser import _shot, browser, page  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int]]]:
    """The app with the market demo and two open auctions, served by uvicorn in a thread."""
    import uvicorn

    path = tmp_path_factory.mktemp("market-browser") / "web.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    seed(engine)
    seed_domains(engine)
    ids = seed_market_users(engine)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(make_app(engine), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start within 30 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", ids
    srv.should_exit = True
    thread.join(10)
    engine.dispose()


def test_market_depth_auctions_and_own_position(page, server):  # noqa: F811
    base, ids = server
    page.goto(base + "/web/market")
    assert page.get_attribute("#depth", "data-instrument") == "CCER-AR"
    levels = page.locator("#depth .bid-price").count() + page.locator("#depth .ask-price").count()
    assert levels > 0
    page.wait_for_selector("#depth-chart[data-ready]", state="attached", timeout=30_000)
    assert page.get_attribute("#depth-chart", "data-ready") == str(levels)   # every level drawn
    assert page.locator("#depth-chart canvas").count() > 0
    _shot(page, "market-depth")

    page.click("#instrument-tabs >> text=EMIS-COD")              # switch instrument
    page.wait_for_selector('#depth[data-instrument="EMIS-COD"]')
    assert "#depth-title" in page.url and "instrument=EMIS-COD" in page.url
    sealed = page.locator(f'#auctions tr[data-auction="{ids["sealed"]}"]')
    assert "密封，成交前不公开" in sealed.inner_text()
    assert format_money(SEALED_BID_FEN).split()[0] not in page.content()
    assert page.locator("#mine").count() == 0                    # a visitor has no position
    page.locator("#auctions").scroll_into_view_if_needed()
    _shot(page, "market-auctions")

    page.goto(base + "/web/login?next=/web/market")
    page.fill("#username", "power")
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#mine")
    assert page.locator("#holdings tr[data-code='CCER-AR']").count() == 1
    assert page.locator("#my-orders tbody tr").count() > 0
    assert format_money(SEALED_BID_FEN) in page.inner_text("#my-bids")   # its own bid only
    _shot(page, "market-participant")
