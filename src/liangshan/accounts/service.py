"""Accounts: store what the engine produced, publish it (immutable, logged), compare.

Published accounts never change. A correction is a new account that names the
one it supersedes (DESIGN.md §3 rule 5). Publication appends the account's
manifest hash to the transparency log, so anyone can check later that the
numbers they were shown are the numbers that were published.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from liangshan.accounts.models import AccountLine, StoredAccount
from liangshan.accounts.schemas import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, AccountIn, ComparisonRow
from liangshan.db import utcnow
from liangshan.errors import Conflict, InvalidInput, NotFound
from liangshan.identity.access import READER_ROLES, Principal
from liangshan.identity.service import record


def fen_to_yuan(fen: int) -> str:
    """Integer fen as an exact yuan string (``123456`` → ``"1234.56"``)."""
    return str((Decimal(fen) / 100).quantize(Decimal("0.01")))


def manifest_hash(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest's canonical JSON (sorted keys, no spaces, UTF-8)."""
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _check_lines(lines: pd.DataFrame, account_id: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in lines.columns]
    if missing:
        raise InvalidInput(
            f"account {account_id}: the line table lacks column(s) {', '.join(missing)}",
            hint=f"an account table needs {', '.join(REQUIRED_COLUMNS)}",
        )
    values = lines["value_fen"]
    if values.isna().any() or not all(float(v).is_integer() for v in values):
        raise InvalidInput(f"account {account_id}: value_fen must be whole fen, found "
                           "missing or fractional values",
                           hint="round to fen (分) before storing; mark gaps, never zero them")


def store(session: Session, actor: Principal, account: AccountIn) -> StoredAccount:
    """Store an account as a draft. The same account ID stored twice returns the first."""
    existing = session.get(StoredAccount, account.id)
    if existing is not None:
        return existing
    actor.require_write(account.region_code)
    _check_lines(account.lines, account.id)
    if account.supersedes_id is not None and session.get(StoredAccount, account.supersedes_id) is None:
        raise NotFound(f"account {account.supersedes_id} (named as superseded) does not exist",
                       hint="give the ID of a stored account")
    total = int(account.lines["value_fen"].sum())
    row = StoredAccount(
        id=account.id, kind=account.kind, title=account.title, region_code=account.region_code,
        year=account.year, profile=account.profile, status="draft", gep_fen=total,
        sample_data=account.sample_data, manifest=account.manifest, summary=account.summary,
        supersedes_id=account.supersedes_id, created_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    columns = [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in account.lines.columns]
    records = []
    for rec in account.lines[columns].to_dict("records"):
        clean: dict[str, Any] = {str(k): (None if _missing(v) else v) for k, v in rec.items()}
        clean["value_fen"] = int(clean["value_fen"])
        clean["region_code"] = str(clean["region_code"])
        for key, cast in (("ecosystem_code", int), ("price", str), ("quantity", float)):
            if clean.get(key) is not None:
                clean[key] = cast(clean[key])
        records.append({"account_id": row.id, **clean})
    if records:
        session.execute(insert(AccountLine), records)
    record(session, actor, "create", "account", row.id, region_code=row.region_code,
           detail={"year": row.year, "profile": row.profile, "gep_fen": total})
    return row


def get(session: Session, account_id: str) -> StoredAccount:
    row = session.get(StoredAccount, account_id)
    if row is None:
        raise NotFound(f"account {account_id} does not exist",
                       hint="list accounts with GET /accounts or `liangshan gep list`")
    return row


def list_accounts(session: Session, *, region_code: str | None = None, year: int | None = None,
                  published_only: bool = False, current_only: bool = False) -> list[StoredAccount]:
    """Accounts by year and region; ``current_only`` leaves out those a published account
    supersedes."""
    query = select(StoredAccount).order_by(StoredAccount.year, StoredAccount.region_code)
    if region_code:
        query = query.where(StoredAccount.region_code.startswith(region_code))
    if year is not None:
        query = query.where(StoredAccount.year == year)
    if published_only:
        query = query.where(StoredAccount.status == "published")
    if current_only:
        superseding = (select(StoredAccount.supersedes_id)
                       .where(StoredAccount.status == "published",
                              StoredAccount.supersedes_id.is_not(None)))
        query = query.where(StoredAccount.id.not_in(superseding))
    return list(session.scalars(query))


def visible_to(row: StoredAccount, actor: Principal | None) -> bool:
    """Published accounts are public; drafts only for government roles and auditors."""
    return row.status == "published" or (actor is not None and actor.role in READER_ROLES)


def current_published(session: Session, *, region_code: str, year: int, kind: str,
                      profile: str) -> StoredAccount | None:
    """The published account now in force for a region, year, kind and profile."""
    rows = [r for r in list_accounts(session, region_code=region_code, year=year,
                                     published_only=True, current_only=True)
            if r.region_code == region_code and r.kind == kind and r.profile == profile]
    return max(rows, key=lambda r: r.published_at or r.created_at, default=None)


def store_revision(session: Session, actor: Principal, account: AccountIn) -> StoredAccount:
    """Store ``account``, naming as superseded the published account it replaces (same
    region, year, kind and profile), if there is one and it differs (DESIGN §3 rule 5)."""
    current = current_published(session, region_code=account.region_code, year=account.year,
                                kind=account.kind, profile=account.profile)
    if current is not None and current.id != account.id and account.supersedes_id is None:
        account = account.model_copy(update={"supersedes_id": current.id})
    return store(session, actor, account)


def lines(session: Session, account_id: str) -> list[AccountLine]:
    get(session, account_id)
    query = select(AccountLine).where(AccountLine.account_id == account_id).order_by(AccountLine.id)
    return list(session.scalars(query))


def publish(session: Session, actor: Principal, account_id: str) -> StoredAccount:
    """Publish a draft: it becomes immutable and its manifest hash enters the transparency log."""
    from liangshan.ledger.service import append_leaf, current_checkpoint

    row = get(session, account_id)
    actor.require_write(row.region_code)
    if row.status == "published":
        raise Conflict(f"account {account_id} is already published (log index {row.log_index})",
                       hint="a correction is a new account that names this one as superseded")
    stored_total = session.scalar(select(func.coalesce(func.sum(AccountLine.value_fen), 0))
                                  .where(AccountLine.account_id == account_id))
    if int(stored_total or 0) != row.gep_fen:
        raise Conflict(f"account {account_id}: stored lines sum to {stored_total} fen, "
                       f"the header says {row.gep_fen}", hint="re-run and store the account again")
    payload = {"type": "account", "id": row.id, "kind": row.kind, "region_code": row.region_code,
               "year": row.year, "profile": row.profile, "gep_fen": row.gep_fen,
               "manifest_sha256": manifest_hash(row.manifest), "supersedes": row.supersedes_id}
    index, leaf_hash = append_leaf(session, "account", payload)
    row.status = "published"
    row.published_at = utcnow()
    row.log_index = index
    row.log_leaf_hash = leaf_hash.hex() if isinstance(leaf_hash, bytes) else str(leaf_hash)
    current_checkpoint(session)  # a signed tree head that covers the new leaf
    record(session, actor, "publish", "account", row.id, region_code=row.region_code,
           detail={"log_index": index})
    return row


def compare(session: Session, first_id: str, second_id: str) -> list[ComparisonRow]:
    """Change by indicator from account A to account B, with each indicator's share of it."""
    def totals(account_id: str) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for line in lines(session, account_id):
            key = (line.indicator, line.service_class)
            out[key] = out.get(key, 0) + line.value_fen
        return out

    a, b = totals(first_id), totals(second_id)
    change_total = sum(b.values()) - sum(a.values())
    rows = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, 0), b.get(key, 0)
        share = (vb - va) / change_total if change_total else None
        rows.append(ComparisonRow(indicator=key[0], service_class=key[1], value_a_fen=va,
                                  value_b_fen=vb, change_fen=vb - va, share_of_change=share))
    return rows


def region_totals(session: Session, account_ids: Sequence[str]) -> pd.DataFrame:
    """GEP by region and class (fen) for the given accounts: the dashboard's data."""
    query = (select(AccountLine.account_id, AccountLine.region_code, AccountLine.service_class,
                    func.sum(AccountLine.value_fen))
             .where(AccountLine.account_id.in_(list(account_ids)))
             .group_by(AccountLine.account_id, AccountLine.region_code, AccountLine.service_class))
    return pd.DataFrame(session.execute(query).all(),
                        columns=["account_id", "region_code", "service_class", "value_fen"])
