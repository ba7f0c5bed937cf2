"""HTTP routes of stored accounts: list, fetch, lines (JSON/CSV), compare, publish.

Published accounts are public (no login). Drafts are visible to government
roles and auditors.
"""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Query
from fastapi.responses import Response

from liangshan.accounts import service
from liangshan.accounts.models import StoredAccount
from liangshan.accounts.schemas import AccountOut, ComparisonRow, LineOut
from liangshan.api.deps import OptionalPrincipalDep, PrincipalDep, SessionDep
from liangshan.errors import NotFound
from liangshan.identity.access import Principal

router = APIRouter(prefix="/accounts", tags=["accounts"])


def _out(row: StoredAccount) -> AccountOut:
    out = AccountOut.model_validate(row)
    out.gep_yuan = service.fen_to_yuan(row.gep_fen)
    return out


def _get_visible(session: SessionDep, account_id: str, actor: Principal | None) -> StoredAccount:
    row = service.get(session, account_id)
    if not service.visible_to(row, actor):  # drafts stay hidden from the public, IDs included
        raise NotFound(f"account {account_id} does not exist or is not published",
                       hint="log in with a government or auditor account to see drafts")
    return row


@router.get("", response_model=list[AccountOut])
def list_accounts(session: SessionDep, actor: OptionalPrincipalDep,
                  region_code: str | None = None, year: int | None = None) -> list[AccountOut]:
    rows = service.list_accounts(session, region_code=region_code, year=year)
    return [_out(r) for r in rows if service.visible_to(r, actor)]


@router.get("/compare", response_model=list[ComparisonRow])
def compare(session: SessionDep, actor: OptionalPrincipalDep,
            a: str = Query(description="earlier account ID"),
            b: str = Query(description="later account ID")) -> list[ComparisonRow]:
    _get_visible(session, a, actor)
    _get_visible(session, b, actor)
    return service.compare(session, a, b)


@router.get("/{account_id}", response_model=AccountOut)
def get_account(session: SessionDep, actor: OptionalPrincipalDep, account_id: str) -> AccountOut:
    return _out(_get_visible(session, account_id, actor))


@router.get("/{account_id}/lines", response_model=list[LineOut])
def get_lines(session: SessionDep, actor: OptionalPrincipalDep, account_id: str,
              format: str = Query("json", pattern="^(json|csv)$")) -> object:
    _get_visible(session, account_id, actor)
    rows = [LineOut.model_validate(r) for r in service.lines(session, account_id)]
    if format == "json":
        return rows
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(LineOut.model_fields))
    writer.writeheader()
    writer.writerows(r.model_dump() for r in rows)
    return Response(buffer.getvalue().encode("utf-8-sig"), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{account_id}.csv"'})


@router.post("/{account_id}/publish", response_model=AccountOut)
def publish(session: SessionDep, actor: PrincipalDep, account_id: str) -> AccountOut:
    return _out(service.publish(session, actor, account_id))
