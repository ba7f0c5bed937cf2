"""The pages in a real browser: Debian's Chromium driven by Playwright, app on 127.0.0.1.

Needs /usr/bin/chromium (scripts/install_browser.sh) and the ``playwright`` Python
package (its own browser download is not used: closed networks). Without Chromium the
tests are skipped with the reason, except under CI where that is a failure. Screenshots
of the main pages go to test-artifacts/web/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from liangshan.db import make_engine
from liangshan.migrate import upgrade
from tests.web._web_seed import PASSWORD, PILOTS, make_app, seed, seed_domains

CHROMIUM = Path("/usr/bin/chromium")
#: Flags for headless Chromium on a closed network (no background calls to Google's hosts).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"


def _need(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(reason + " (CI must run the browser tests)")
    pytest.skip(reason)


_need(CHROMIUM.exists(), f"{CHROMIUM} is missing: run scripts/install_browser.sh")
try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    _need(False, "the playwright Python package is missing: pip install playwright")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """The app with seeded accounts, served by uvicorn in a thread on a free port."""
    import uvicorn

    path = tmp_path_factory.mktemp("browser") / "web.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    ids = seed(engine)
    seed_domains(engine)   # registry, catalogue, monitoring and market pages have data
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(make_app(engine), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, server: tuple[str, dict[str, str]]) -> Iterator[Page]:
    """A fresh browser context; every request it makes is recorded and must stay on the app."""
    base = server[0]
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    pg = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    own = urlsplit(base).netloc
    foreign = [u for u in requests if urlsplit(u).scheme not in ("data", "blob")
               and urlsplit(u).netloc != own]
    assert not foreign, f"the page made requests to other addresses: {foreign}"
    assert requests, "no request was recorded at all"
    assert not errors, f"script errors on the page: {errors}"


def _shot(pg: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _map_ready(pg: Page) -> None:
    pg.wait_for_selector("#map[data-ready]", state="attached", timeout=30_000)


def test_dashboard_shows_the_five_pilot_counties(page, server):
    base, _ = server
    page.goto(base + "/")
    _map_ready(page)
    assert page.get_attribute("#map", "data-ready") == "5"
    listed = page.locator("#pilots li").all_inner_texts()
    shown = [next(n for n in PILOTS.values() if n in text) for text in listed]
    assert shown == list(PILOTS.values())
    series = page.evaluate("""() => echarts.getInstanceByDom(document.getElementById('map'))
        .getOption().series[0].data.filter(d => d.value !== null).map(d => d.name).sort()""")
    assert series == sorted(PILOTS)
    assert page.locator("#ranking tbody tr.pilot").count() == 5
    _shot(page, "dashboard")
    page.wait_for_selector("#indicator-options[data-loaded='5']", state="attached")
    page.select_option("#metric", "ind:recreation")
    expect(page.locator("#ranking-unit")).to_have_text("休闲旅游")
    # 都匀市 (index 4): recreation 72,000,000,000 × 1.68 × 1.05 fen = 12.70 亿元
    expect(page.locator("#ranking tbody td.num").first).to_have_text("12.70 亿元")


def test_click_on_the_map_drills_down(page, server):
    base, _ = server
    page.goto(base + "/")
    _map_ready(page)
    # 赤水市 (520381): click where the map draws a point inside it.
    lon, lat = page.evaluate("""async () => {
        const geo = await (await fetch('/web/api/geo/guizhou-counties.json')).json();
        const f = geo.features.find(f => f.properties.code === '520381');
        const ring = f.geometry.type === 'Polygon' ? f.geometry.coordinates[0]
                                                   : f.geometry.coordinates[0][0];
        let x = 0, y = 0; ring.forEach(p => { x += p[0]; y += p[1]; });
        return [x / ring.length, y / ring.length];
    }""")
    x, y = page.evaluate("""([lon, lat]) => echarts.getInstanceByDom(document.getElementById('map'))
        .convertToPixel({seriesIndex: 0}, [lon, lat])""", [lon, lat])
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector("#chart-composition[data-rendered]", timeout=30_000)
    assert page.get_attribute("#chart-composition", "data-rendered") == "3"   # three classes
    assert "赤水市" in page.inner_text("#drill h2")
    for name in ("top", "ecosystem", "trend", "comparison"):
        assert int(page.get_attribute(f"#chart-{name}", "data-rendered") or 0) > 0
    assert page.locator("#drill a.download").count() == 5
    page.wait_for_timeout(600)  # let the chart animations finish before the screenshot
    _shot(page, "drilldown")


def test_county_operator_cannot_open_another_countys_edit_page(page, server):
    base, ids = server
    page.goto(base + "/web/login")
    _shot(page, "login")
    page.fill("#username", "chishui")
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#current-user")
    assert "520381" in page.inner_text("#current-user")
    response = page.goto(base + f"/web/accounts/{ids['draft']}/edit")      # 大方县 520521
    assert response is not None and response.status == 403
    assert "无权访问" in page.inner_text("#error")
    _shot(page, "forbidden")
    own = page.goto(base + f"/web/accounts/{ids['chishui_2022']}/edit")
    assert own is not None and own.status == 200


def test_account_tables_and_compare_pages(page, server):
    base, ids = server
    page.goto(base + f"/web/accounts/{ids['chishui_2022']}")
    assert page.locator("#value-table tbody tr").count() == 5
    assert page.locator("#physical-table tbody tr").count() == 5
    _shot(page, "account")
    page.goto(base + "/web/accounts")
    _shot(page, "accounts")
    page.goto(base + "/web/compare")
    page.select_option("select[name=a]", index=1)
    page.select_option("select[name=b]", index=2)
    page.click("#compare-form button[type=submit]")
    page.wait_for_selector("#compare-table")
    _shot(page, "compare")


def test_english_switch(page, server):
    base, _ = server
    page.goto(base + "/")
    page.click("#lang-switch")
    page.wait_for_selector("text=Guizhou GEP — one map")
    _map_ready(page)
    listed = page.locator("#pilots li a").all_inner_texts()
    assert listed == ["Chishui", "Dafang", "Jiangkou", "Leishan", "Duyun"]   # pinyin names
    label = page.evaluate("""() => echarts.getInstanceByDom(document.getElementById('map'))
        .getOption().series[0].label.formatter({name: '520621'})""")
    assert label == "Jiangkou"
    _shot(page, "dashboard-en")


def test_verify_box_leads_to_the_code_page(page, server):
    codes = pytest.importorskip("liangshan.trace.codes", reason="trace domain not in this build")
    base, _ = server
    page.goto(base + "/")
    code = codes.make_code("520381", 42, "tea", 7, 1)
    page.fill("#verify-code", codes.display(code))
    page.click("#verify-box button[type=submit]")
    page.wait_for_url(f"**/t/{code}")
    page.goto(base + "/web/verify?code=" + code[:-1] + ("0" if code[-1] != "0" else "1"))
    assert "check character" in page.inner_text("#error")
    _shot(page, "verify-refused")


# ---------------------------------------------------------------- domain pages


def test_registry_search_and_parcel_page(page, server):
    base, _ = server
    page.goto(base + "/web/parcels?region_code=520381")
    assert page.locator("#parcels tbody tr").count() > 0
    first = page.locator("#parcels tbody tr a").first
    code = first.inner_text()
    page.fill("input[name=code]", code)           # search by code: exactly that parcel
    page.click("form.controls button[type=submit]")
    page.wait_for_url(f"**code={code}**")
    expect(page.locator("#parcel-count")).to_have_text("共计: 1")
    _shot(page, "parcels")
    page.click(f"#parcels a:text('{code}')")
    page.wait_for_url(f"**/web/parcels/{code}")
    assert code in page.inner_text("main")
    rings = page.evaluate("""() => echarts.getInstanceByDom(document.getElementById('parcel-map'))
        .getOption().series.length""")
    assert rings >= 1                               # the outline is drawn
    _shot(page, "parcel")


def test_catalogue_page_and_csv_download(page, server):
    base, _ = server
    page.goto(base + "/web/catalog/520381")
    assert page.locator("#catalogue tbody tr").count() > 0
    _shot(page, "catalogue")
    with page.expect_download() as info:
        page.click("#catalog-csv")
    body = Path(info.value.path()).read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")           # UTF-8 with BOM for spreadsheet programs
    lines = body.decode("utf-8-sig").strip().splitlines()
    assert len(lines) == page.locator("#catalogue tbody tr").count() + 1


def test_monitoring_list_to_station_chart(page, server):
    base, _ = server
    page.goto(base + "/web/monitoring")
    link = page.locator("#stations tbody tr a").first
    code = link.inner_text()
    _shot(page, "stations")
    link.click()
    page.wait_for_url(f"**/web/monitoring/{code}")
    points = page.evaluate("""() => {
        const chart = echarts.getInstanceByDom(document.getElementById('station-chart'));
        return chart ? chart.getOption().series[0].data.length : 0; }""")
    periods = page.evaluate("() => JSON.parse(document.getElementById('station-data')"
                            ".textContent).periods.length")
    assert points == periods and points > 0       # one class per month, drawn
    _shot(page, "station")


def test_market_page_and_language_switch(page, server):
    base, _ = server
    page.goto(base + "/web/market")
    assert page.locator("#instruments tbody tr").count() > 0
    assert page.locator("#report tbody tr").count() > 0
    _shot(page, "market")
    page.click("#lang-switch")
    page.wait_for_selector("text=Ecological market")
    assert "Instruments and rules" in page.inner_text("main")
    _shot(page, "market-en")


# ---------------------------------------------------------------- run a new account


def test_run_an_account_and_watch_its_progress(page, server, tmp_path, monkeypatch):
    from liangshan import config
    from tests.accounting._study_fixture import make_study

    root = make_study(tmp_path / "tiny")
    monkeypatch.setenv("LIANGSHAN_STUDY_DIRS", f'["{root}"]')
    config.get_settings.cache_clear()
    base, _ = server
    page.goto(base + "/web/login?next=/web/runs")
    page.fill("#username", "province")
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/web/runs")
    page.select_option("#study", "dir:0")
    page.fill("#run-year", "2022")
    _shot(page, "run-form")
    page.click("#run-start")
    page.wait_for_url("**/web/runs/*")
    percents = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = page.get_attribute("#run-status", "data-status")
        percents.add(page.inner_text("#run-percent"))
        if status in ("done", "failed"):
            break
        page.wait_for_timeout(250)
    assert status == "done", page.inner_text("#run-status")
    assert page.inner_text("#run-percent") == "100%"
    assert len(percents) >= 2, percents            # the page showed progress on its way
    links = page.locator("#run-accounts a[href^='/web/accounts/']")
    assert links.count() == 4                      # two zones: account and manage links
    _shot(page, "run-done")
    links.first.click()
    page.wait_for_selector("#value-table")
    assert "草稿" in page.inner_text("p.meta")       # stored unpublished
