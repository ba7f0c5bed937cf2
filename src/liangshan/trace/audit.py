"""Trace rows against the transparency log, for ``liangshan log verify``.

:func:`check_trace_records` is registered with the ledger's :func:`verify_log` (see
:func:`register`). It streams every stored event and compares the leaf it would log
(:func:`service.leaf_payload`) byte for byte with the leaf at its ``log_index``; and it
replays every ``trace_licence`` leaf to find each licence's latest logged state, which
the licence row must equal and point at. A row changed, set back to an older state,
deleted, or inserted behind the application is named (table, row, what differs).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from liangshan.ledger.log import canonical_json, leaves_of_kind
from liangshan.ledger.models import LogLeaf
from liangshan.ledger.verify import LogProblem, register_record_check
from liangshan.trace import brands, service
from liangshan.trace.models import Brand, BrandLicence, TraceEvent

#: Events compared per round trip.
CHUNK = 2048


def _check_events(session: Session, problems: list[LogProblem]) -> None:
    rows = session.execute(select(TraceEvent.id, TraceEvent.event_id, TraceEvent.log_index,
                                  TraceEvent.document, TraceEvent.signature)
                           .order_by(TraceEvent.id).execution_options(yield_per=CHUNK))
    for part in rows.partitions():
        leaves = {int(i): (k, bytes(p)) for i, k, p in session.execute(
            select(LogLeaf.leaf_index, LogLeaf.kind, LogLeaf.payload).where(
                LogLeaf.leaf_index.in_([r.log_index for r in part])))}
        for r in part:
            where = f"id {r.id} (event {r.event_id})"
            leaf = leaves.get(int(r.log_index))
            if leaf is None or leaf[0] != service.LEAF_KIND:
                problems.append(LogProblem("trace_events", where,
                                           f"log leaf {r.log_index} is not its trace record"))
            elif canonical_json(service.leaf_payload(r.document, bytes(r.signature))) != leaf[1]:
                problems.append(LogProblem("trace_events", where, "content changed: differs "
                                           f"from what log leaf {r.log_index} recorded"))
    orphans = session.execute(select(LogLeaf.leaf_index, LogLeaf.payload).where(
        LogLeaf.kind == service.LEAF_KIND,
        ~select(TraceEvent.id).where(TraceEvent.log_index == LogLeaf.leaf_index).exists())
        .order_by(LogLeaf.leaf_index))
    for index, payload in orphans:
        if _record_type(bytes(payload)) == "trace_event":  # other "trace" leaves are not ours
            problems.append(LogProblem("trace_events", f"(log leaf {index})", "row missing: "
                                       "the log records it but the table lost it"))


def _record_type(payload: bytes) -> Any:
    try:
        record = json.loads(payload)
    except ValueError:
        return None
    return record.get("type") if isinstance(record, dict) else None


def _check_licences(session: Session, problems: list[LogProblem]) -> None:
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, payload in leaves_of_kind(session, brands.LEAF_KIND):
        if _record_type(payload) == "brand_licence":
            state = json.loads(payload)
            latest[state["number"]] = (index, state)
    codes = {b.id: b.code for b in session.scalars(select(Brand))}
    seen = set()
    for row in session.scalars(select(BrandLicence).order_by(BrandLicence.id)):
        seen.add(row.number)
        where = f"id {row.id} ({row.number})"
        if row.number not in latest:
            problems.append(LogProblem("trace_brand_licences", where,
                                       "not in the log: no grant or change of this licence "
                                       "was logged"))
            continue
        index, logged = latest[row.number]
        if row.log_index != index:
            problems.append(LogProblem("trace_brand_licences", where,
                                       f"points at log leaf {row.log_index}, but its latest "
                                       f"logged state is leaf {index}"))
        state = brands.licence_state(row, codes.get(row.brand_id, "?"))
        changed = [k for k in ("brand", *brands.STATE_FIELDS) if logged.get(k) != state[k]]
        if changed:
            problems.append(LogProblem(
                "trace_brand_licences", where, f"content changed: {', '.join(changed)} "
                f"differ(s) from its latest logged state (leaf {index})"))
    for number, (index, _state) in sorted(latest.items()):
        if number not in seen:
            problems.append(LogProblem("trace_brand_licences", f"({number}, log leaf {index})",
                                       "row missing: the log records it but the table lost it"))


def check_trace_records(session: Session, problems: list[LogProblem]) -> None:
    """Append a :class:`LogProblem` for every event or licence row that differs from the log."""
    _check_events(session, problems)
    _check_licences(session, problems)


def register() -> None:
    register_record_check("trace", check_trace_records)
