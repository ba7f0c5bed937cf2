"""The page routes: one map, login/logout, accounts (list, tables, manage), compare.

Thin by rule (DESIGN §3 rule 4): parse the request, call a service, render. Who
may see or change what is decided by the identity and accounts services
(``Principal.require_write``) and by the accounts API's visibility rule
(published: everyone; drafts: government roles and auditors).
"""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from liangshan.accounts import service as accounts
from liangshan.accounts.models import StoredAccount
from liangshan.accounts.schemas import LineOut
from liangshan.datasets.boundaries import PILOT_COUNTIES
from liangshan.errors import InvalidInput, NotAuthenticated, NotFound
from liangshan.identity import service as identity
from liangshan.identity.access import Principal
from liangshan.web import auth, dashboard, geo, tables, workbook
from liangshan.web.auth import WebPrincipal, WebSession
from liangshan.web.i18n import pick_lang, translate
from liangshan.web.labels import class_label, value_label
from liangshan.web.render import HtmlErrorRoute, page, secure_headers, trace_available

router = APIRouter(route_class=HtmlErrorRoute, include_in_schema=False)



def _visible_account(session: WebSession, account_id: str,
                     principal: Principal | None) -> StoredAccount:
    row = accounts.get(session, account_id)
    if not accounts.visible_to(row, principal):
        # drafts are not revealed to the public, not even their IDs (as in the accounts API)
        raise NotFound(f"account {account_id} does not exist or is not published",
                       hint="log in with a government or auditor account to see drafts")
    return row


def _optional_year(text: str | None) -> int | None:
    """A year from a form field; an empty field means "any year"."""
    if text is None or not text.strip():
        return None
    if not text.strip().isdigit():
        raise InvalidInput(f"year {text!r} is not a number", hint="type a year such as 2022")
    return int(text.strip())


def _safe_next(target: str | None) -> str:
    """Only same-site paths after login (no open redirect to another host)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//")
            or "\\" in target):  # browsers read "/\\host" as "//host"
        return "/"
    return target


# ---------------------------------------------------------------- one map


@router.get("/")
def dashboard_page(request: Request, session: WebSession, principal: WebPrincipal,
                   year: str | None = None) -> Response:
    lang = pick_lang(request)
    available = dashboard.years(session)
    wanted = _optional_year(year)
    chosen = wanted if wanted in available else (available[0] if available else None)
    ranking: list[dict[str, object]] = []
    has_gdp = False
    if chosen is not None:  # the per-indicator options are fetched by the page (all lines)
        ranking = dashboard.map_chart(session, chosen, "gep", lang).rows
        has_gdp = bool(dashboard.map_chart(session, chosen, "gep_gdp", lang).rows)
    pilots = [{"code": c, "name": geo.county_name(c, lang),
               "row": next((r for r in ranking if r["region_code"] == c), None)}
              for c in PILOT_COUNTIES]
    return page(request, "dashboard.html", principal, years=available, year=chosen,
                ranking=ranking, pilots=pilots, has_gdp=has_gdp)


@router.get("/web/county/{code}")
def county_fragment(request: Request, session: WebSession, principal: WebPrincipal,
                    code: str, year: int) -> Response:
    """The drill-down panel (loaded by HTMX into the dashboard)."""
    lang = pick_lang(request)
    charts = {name: dashboard.drill_chart(session, name, code, year, lang).to_json()
              for name in ("composition", "top", "ecosystem", "trend", "comparison")}
    return page(request, "county.html", principal, code=code, year=year,
                name=geo.county_name(code, lang),
                account_id=dashboard.county_account_id(session, code, year),
                charts=charts,
                charts_json=json.dumps(charts, ensure_ascii=False, allow_nan=False)
                .replace("</", "<\\/"))  # JSON inside <script>: no early end tag


# ---------------------------------------------------------------- product codes


@router.get("/web/verify")
def verify_code(code: str = "") -> Response:
    """The "verify a product code" box: check the code's form, then open its public page."""
    if not trace_available():
        raise NotFound("product codes cannot be verified here: the traceability module is not "
                       "part of this installation", hint="ask the platform operator")
    from liangshan.trace.codes import parse_code

    parsed = parse_code(code)   # InvalidInput (wrong length or check character) → 422 page
    return RedirectResponse(f"/t/{parsed.code}", status_code=303)


# ---------------------------------------------------------------- login


@router.get("/web/login")
def login_form(request: Request, principal: WebPrincipal, next: str | None = None) -> Response:
    return page(request, "login.html", principal, next=_safe_next(next), failed=False)


@router.post("/web/login")
def login(request: Request, session: WebSession,
          username: Annotated[str, Form()], password: Annotated[str, Form()],
          next: Annotated[str | None, Form()] = None) -> Response:
    try:
        token, _row = identity.login(session, username, password)
    except NotAuthenticated:
        return page(request, "login.html", None, status_code=401, next=_safe_next(next),
                    failed=True, username=username)
    session.commit()
    response = RedirectResponse(_safe_next(next), status_code=303)
    auth.set_session_cookie(response, token)
    return response


@router.post("/web/logout")
def logout(request: Request, session: WebSession) -> Response:
    token = request.cookies.get(auth.SESSION_COOKIE)
    if token:
        identity.logout(session, token)
        session.commit()
    response = RedirectResponse("/", status_code=303)
    auth.clear_session_cookie(response)
    return response


# ---------------------------------------------------------------- accounts


@router.get("/web/accounts")
def accounts_page(request: Request, session: WebSession, principal: WebPrincipal,
                  region_code: str | None = None, year: str | None = None) -> Response:
    lang = pick_lang(request)
    year_value = _optional_year(year)
    rows = accounts.list_accounts(session, region_code=region_code or None, year=year_value,
                                  published_only=not auth.can_read_drafts(principal))
    return page(request, "accounts.html", principal, rows=rows, region_code=region_code or "",
                year=year_value, region_name=geo.namer(lang))


@router.get("/web/accounts/{account_id}")
def account_page(request: Request, session: WebSession, principal: WebPrincipal,
                 account_id: str, region: str | None = None) -> Response:
    """The official tables of an account; ``region`` shows one county of a larger account."""
    lang = pick_lang(request)
    row = _visible_account(session, account_id, principal)
    all_lines = accounts.lines(session, account_id)
    regions = sorted({line.region_code[:6] for line in all_lines if len(line.region_code) >= 6})
    region = region or None
    if region is not None and region not in regions:
        raise NotFound(f"account {account_id} has no lines for region {region}",
                       hint="choose one of: " + ", ".join(regions))
    lines = [ln for ln in all_lines if region is None or ln.region_code.startswith(region)]
    gep = sum(int(ln.value_fen) for ln in lines) if region else row.gep_fen
    return page(
        request, "account.html", principal, row=row, region_name=geo.county_name(row.region_code, lang),
        region=region, regions=[(c, geo.county_name(c, lang)) for c in regions] if len(regions) > 1
        else [],
        summary=tables.summary_table(row, lines, lang, region),
        physical=tables.physical_table(lines, lang),
        value=tables.value_table(lines, gep, lang), part_gep_fen=gep,
        columns=tables.column_headers(lang),
        manifest=json.dumps(row.manifest, ensure_ascii=False, indent=2, sort_keys=True),
        manifest_hash=accounts.manifest_hash(row.manifest),
        may_manage=principal is not None and auth.can_write(principal)
        and principal.covers_region(row.region_code),
    )


@router.get("/web/accounts/{account_id}/download.{fmt}")
def account_download(request: Request, session: WebSession, principal: WebPrincipal,
                     account_id: str, fmt: str) -> Response:
    """The account's lines as CSV (UTF-8 with BOM) or JSON (header + lines); its tables as XLSX."""
    if fmt not in ("csv", "json", "xlsx"):
        raise NotFound(f"no download format {fmt!r}",
                       hint="use download.csv, download.json or download.xlsx")
    row = _visible_account(session, account_id, principal)
    if fmt == "xlsx":
        lang = pick_lang(request)
        stored = accounts.lines(session, account_id)
        body = workbook.account_workbook(
            row, tables.summary_table(row, stored, lang), tables.physical_table(stored, lang),
            tables.value_table(stored, row.gep_fen, lang), tables.column_headers(lang),
            accounts.manifest_hash(row.manifest), lang)
        return Response(body, media_type="application/vnd.openxmlformats-officedocument."
                        "spreadsheetml.sheet", headers={"Content-Disposition":
                        f'attachment; filename="account-{account_id[:16]}.xlsx"'})
    lines = [LineOut.model_validate(r).model_dump() for r in accounts.lines(session, account_id)]
    if fmt == "csv":
        chart = dashboard.Chart("lines", list(LineOut.model_fields), lines)
        body, media = chart.to_csv(), "text/csv; charset=utf-8"
    else:
        header = {"id": row.id, "kind": row.kind, "title": row.title,
                  "region_code": row.region_code, "year": row.year, "profile": row.profile,
                  "status": row.status, "gep_fen": row.gep_fen, "sample_data": row.sample_data,
                  "summary": row.summary, "manifest": row.manifest,
                  "manifest_sha256": accounts.manifest_hash(row.manifest),
                  "log_index": row.log_index, "log_leaf_hash": row.log_leaf_hash,
                  "supersedes_id": row.supersedes_id}
        body = json.dumps({"account": header, "lines": lines}, ensure_ascii=False,
                          indent=1).encode()
        media = "application/json"
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="account-{account_id[:16]}.{fmt}"'})


@router.get("/web/accounts/{account_id}/edit")
def account_edit(request: Request, session: WebSession, principal: WebPrincipal,
                 account_id: str) -> Response:
    """Manage an account (publish a draft): only for writers whose region covers it."""
    actor = auth.require_user(principal)
    row = accounts.get(session, account_id)
    actor.require_write(row.region_code)
    return page(request, "edit.html", principal, row=row,
                region_name=geo.county_name(row.region_code, pick_lang(request)))


@router.post("/web/accounts/{account_id}/publish")
def account_publish(request: Request, session: WebSession, principal: WebPrincipal,
                    account_id: str) -> Response:
    actor = auth.require_user(principal)
    accounts.publish(session, actor, account_id)
    session.commit()
    return RedirectResponse(f"/web/accounts/{account_id}", status_code=303)


# ---------------------------------------------------------------- compare


@router.get("/web/compare")
def compare_page(request: Request, session: WebSession, principal: WebPrincipal,
                 a: str | None = None, b: str | None = None,
                 format: str = Query("html", pattern="^(html|csv)$")) -> Response:
    lang = pick_lang(request)
    choices = accounts.list_accounts(session, published_only=not auth.can_read_drafts(principal))
    rows = []
    first = second = None
    if a and b:
        first = _visible_account(session, a, principal)
        second = _visible_account(session, b, principal)
        for r in accounts.compare(session, a, b):
            rows.append({"indicator": r.indicator, "label": value_label(r.indicator, lang),
                         "service_class": r.service_class,
                         "class_label": class_label(r.service_class, lang),
                         "value_a_fen": r.value_a_fen, "value_b_fen": r.value_b_fen,
                         "change_fen": r.change_fen,
                         "share_pct": "" if r.share_of_change is None
                         else f"{r.share_of_change * 100:.2f}"})
    if format == "csv":
        chart = dashboard.Chart("compare", ["indicator", "service_class", "value_a_fen",
                                            "value_b_fen", "change_fen", "share_pct"], rows)
        return secure_headers(Response(chart.to_csv(), media_type="text/csv; charset=utf-8",
                                       headers={"Content-Disposition":
                                                'attachment; filename="compare.csv"'}))
    return page(request, "compare.html", principal, choices=choices, a=a or "", b=b or "",
                first=first, second=second, rows=rows, region_name=geo.namer(lang),
                title=translate(lang, "cmp.title"))
