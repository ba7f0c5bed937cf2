"""Pages through FastAPI's TestClient on SQLite and PostgreSQL: public views, login, access.

Expected figures are hand-computed from the seeded lines (tests/web/conftest.py):
赤水市 2021 lines sum to 319,862,400,000 fen; 2022 is 1.05 × each line, so GEP 2022 =
335,855,520,000 fen = 3,358,555,200 元 = 33.59 亿元; its water conservation is
(183,321,000,000 + 12,221,400,000) × 1.05 = 205,319,520,000 fen = 205,319.52 万元,
61.13 % of GEP.
"""

from __future__ import annotations

import base64
import csv
import io
import json

import openpyxl
import pytest

from liangshan.accounts import service as accounts
from liangshan.db import session_factory
from tests.web._web_seed import PASSWORD, PILOTS, account_in, csrf_token, login


def test_dashboard_shows_the_five_pilots_with_their_gep(client):
    html = client.get("/").text
    for name in PILOTS.values():
        assert name in html
    assert "33.59 亿元" in html            # 赤水市 2022
    assert 'option value="2022" selected' in html
    assert 'option value="gep_gdp"' in html          # the seeded summaries carry GDP


def test_pages_forbid_loading_from_elsewhere(client):
    response = client.get("/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "http://" not in response.text and "https://" not in response.text


def test_language_switch_is_remembered(client):
    response = client.get("/?lang=en")
    assert "Guizhou GEP — one map" in response.text
    assert "CNY 3.36 billion" in response.text      # 3,358,555,200 yuan
    assert response.cookies.get("lang") == "en"
    assert "<h1>Accounts</h1>" in client.get("/web/accounts").text   # cookie, no ?lang=
    assert "<h1>核算结果</h1>" in client.get("/web/accounts?lang=zh").text


def test_account_tables_as_on_paper(client, seeded):
    html = client.get(f"/web/accounts/{seeded['chishui_2022']}").text
    assert "表A 实物量核算表" in html and "表B 价值量核算表" in html
    assert "205,319.52" in html and "61.13" in html      # water conservation, 万元 and %
    assert "335,855.52" in html                          # GEP in 万元
    assert "300,000,000" in html and "320,000,000" in html  # 森林 + 农田 m3/yr
    assert "日志序号" in html and "叶哈希" in html            # publication proof


def test_publication_proof_links_to_the_log(client, seeded):
    html = client.get(f"/web/accounts/{seeded['chishui_2022']}").text
    href = html.split('id="log-bundle"')[0].rsplit('href="', 1)[1].split('"')[0]
    bundle = client.get(href)
    if bundle.status_code == 404 and "ledger" not in str(client.app.routes):
        pytest.skip("the ledger's log API is not mounted in this build")
    assert bundle.status_code == 200
    payload = json.loads(base64.b64decode(bundle.json()["payload"]))
    assert payload["id"] == seeded["chishui_2022"] and payload["gep_fen"] == 335_855_520_000


def test_draft_hidden_from_the_public_but_not_from_government(client, seeded):
    assert client.get(f"/web/accounts/{seeded['draft']}").status_code == 404
    assert seeded["draft"] not in client.get("/web/accounts").text
    login(client, "province")
    assert seeded["draft"] in client.get("/web/accounts").text
    assert client.get(f"/web/accounts/{seeded['draft']}").status_code == 200


def test_wrong_password_is_refused_with_a_message(client):
    response = client.post("/web/login", data={"username": "chishui", "password": "nope",
                                               "csrf_token": csrf_token(client)})
    assert response.status_code == 401 and "用户名或密码错误" in response.text
    assert "ls_session" not in response.cookies


def test_login_logout_round_trip(client):
    login(client, "chishui")
    assert "chishui · county_operator · 520381" in client.get("/").text
    token = client.cookies.get("ls_session")
    response = client.post("/web/logout", data={"csrf_token": csrf_token(client, "/")},
                           follow_redirects=False)
    assert response.status_code == 303
    # the old token is revoked, not just forgotten by this browser
    client.cookies.set("ls_session", token)
    assert "chishui · county_operator" not in client.get("/").text


@pytest.mark.parametrize("target", ["https://evil.example/x", "//evil.example/x",
                                    "/\\evil.example/x", "javascript:alert(1)"])
def test_login_never_redirects_to_another_site(client, target):
    response = client.post("/web/login", follow_redirects=False, data={
        "username": "chishui", "password": PASSWORD, "next": target,
        "csrf_token": csrf_token(client)})
    assert response.headers["location"] == "/"


def test_edit_page_needs_a_login(client, seeded):
    response = client.get(f"/web/accounts/{seeded['draft']}/edit", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/web/login")


def test_county_operator_cannot_open_another_countys_edit_page(client, seeded):
    login(client, "chishui")                      # 赤水市 520381
    response = client.get(f"/web/accounts/{seeded['draft']}/edit")   # 大方县 520521
    assert response.status_code == 403
    assert "无权访问" in response.text and "520521" in response.text
    refused = client.post(f"/web/accounts/{seeded['draft']}/publish",
                          data={"csrf_token": csrf_token(client, "/")})
    assert refused.status_code == 403 and "520521" in refused.text   # the region, not CSRF
    own = client.get(f"/web/accounts/{seeded['chishui_2022']}/edit")
    assert own.status_code == 200 and "该核算已发布" in own.text


def test_public_user_cannot_manage(client, seeded):
    login(client, "citizen")
    assert client.get(f"/web/accounts/{seeded['chishui_2022']}/edit").status_code == 403


def test_province_admin_publishes_a_draft(client, seeded, db_engine):
    login(client, "province")
    page = client.get(f"/web/accounts/{seeded['draft']}/edit")
    assert 'id="publish"' in page.text
    response = client.post(f"/web/accounts/{seeded['draft']}/publish", follow_redirects=False,
                           data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 303
    session = session_factory(db_engine)()
    try:
        row = accounts.get(session, seeded["draft"])
        assert row.status == "published" and row.log_index is not None
    finally:
        session.close()
    assert client.get(f"/web/accounts/{seeded['draft']}/edit").text.count('id="publish"') == 0


def test_downloads_carry_exact_fen(client, seeded):
    text = client.get(f"/web/accounts/{seeded['chishui_2022']}/download.csv").content
    rows = list(csv.DictReader(io.StringIO(text.decode("utf-8-sig"))))
    assert sum(int(r["value_fen"]) for r in rows) == 335_855_520_000
    body = client.get(f"/web/accounts/{seeded['chishui_2022']}/download.json").json()
    assert body["account"]["gep_fen"] == 335_855_520_000 and len(body["lines"]) == 7
    assert client.get(f"/web/accounts/{seeded['draft']}/download.csv").status_code == 404


def test_xlsx_holds_the_tables(client, seeded):
    content = client.get(f"/web/accounts/{seeded['chishui_2022']}/download.xlsx").content
    wb = openpyxl.load_workbook(io.BytesIO(content))
    assert wb.sheetnames == ["A", "B", "C", "manifest"]
    values = [row for row in wb["B"].iter_rows(min_row=3, values_only=True)]
    water = next(r for r in values if r[1] == "水源涵养")
    assert water[-2] == pytest.approx(205_319.52) and water[-1] == pytest.approx(61.13)


def test_compare_two_years(client):
    a, b = account_in("520381", 0, 2021).id, account_in("520381", 0, 2022).id
    html = client.get(f"/web/compare?a={a}&b={b}").text
    assert "休闲旅游" in html
    rows = list(csv.DictReader(io.StringIO(
        client.get(f"/web/compare?a={a}&b={b}&format=csv").content.decode("utf-8-sig"))))
    recreation = next(r for r in rows if r["indicator"] == "recreation")
    # 72,000,000,000 → 75,600,000,000 fen; GEP change 15,993,120,000 fen → 22.51 %
    assert int(recreation["change_fen"]) == 3_600_000_000
    assert recreation["share_pct"] == "22.51"


@pytest.mark.parametrize("path", ["/web/accounts/nope", "/web/compare?a=nope&b=nope"])
def test_unknown_account_is_an_html_404(client, path):
    response = client.get(path)
    assert response.status_code == 404 and "text/html" in response.headers["content-type"]


def test_empty_database_shows_a_clear_empty_map(db_engine):
    from fastapi.testclient import TestClient

    from tests.web._web_seed import make_app

    with TestClient(make_app(db_engine)) as empty:
        html = empty.get("/").text
        assert "本年度尚无已发布的核算结果" in html
        assert 'option value="gep_gdp"' not in html
        assert empty.get("/web/accounts").status_code == 200


def test_drill_down_fragment(client):
    html = client.get("/web/county/520381?year=2022").text
    assert html.count('data-chart="') == 5 and "赤水市" in html
    assert "<html" not in html                       # a fragment for HTMX, not a page
    missing = client.get("/web/county/520102?year=2022")
    assert missing.status_code == 404 and "520102" in missing.text


def test_verify_box_opens_the_public_trace_page(client):
    codes = pytest.importorskip("liangshan.trace.codes", reason="trace domain not in this build")
    assert 'id="verify-box"' in client.get("/").text
    code = codes.make_code("520381", 42, "tea", 7, 1)
    spaced = codes.display(code).lower()                  # hyphens and lower case accepted
    response = client.get(f"/web/verify?code={spaced}", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/t/{code}"
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")  # a mistyped check character
    refused = client.get(f"/web/verify?code={wrong}")
    assert refused.status_code == 422 and "check character" in refused.text


def test_account_filter_form_with_empty_fields(client):
    html = client.get("/web/accounts?region_code=&year=").text
    assert html.count('<tr data-id="') == 10                 # all published, no draft
    only = client.get("/web/accounts?region_code=520381&year=2022").text
    assert only.count('<tr data-id="') == 1
    assert client.get("/web/accounts?year=abc").status_code == 422


def test_province_account_tables_by_county(client, db_engine):
    """A province account (region 52) with lines for two counties: the page offers each part.

    Lines: 赤水市 recreation 300 fen at price 90.5, 都匀市 recreation 100 fen at price 120,
    so the whole account's Table B shows one recreation row with "按地区/类型不同"; the
    赤水市 part shows 300 fen and its own price.
    """
    import pandas as pd

    from liangshan.accounts.schemas import AccountIn
    from liangshan.identity.access import SYSTEM
    from tests.web._web_seed import publish

    session = session_factory(db_engine)()
    lines = pd.DataFrame({"region_code": ["520381", "522701"], "service_class": ["cultural"] * 2,
                          "indicator": ["recreation"] * 2, "price": ["90.5", "120"],
                          "value_fen": [300, 100]})
    accounts.store(session, SYSTEM, AccountIn(id="q" * 64, title="贵州省 示例", region_code="52",
                                              year=2020, profile="ndrc-2022", lines=lines,
                                              manifest={}))
    publish(session, "q" * 64)
    session.commit()
    session.close()
    whole = client.get(f"/web/accounts/{'q' * 64}").text
    assert 'id="region-filter"' in whole and "按地区/类型不同" in whole
    part = client.get(f"/web/accounts/{'q' * 64}?region=520381").text
    assert ">90.5<" in part and "按地区/类型不同" not in part
    assert "3.00 元" in part                              # 300 fen: the part's GEP
    assert client.get(f"/web/accounts/{'q' * 64}?region=520102").status_code == 404
