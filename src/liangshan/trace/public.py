"""The public verification view of a code: what a buyer sees after scanning a QR code.

An event is shown as ``verified`` only when all of these hold:

1. the log's checkpoint note verifies with the log's public key (C2SP signed note);
2. the leaf recomputed from the stored event (document + signature, :func:`leaf_payload`)
   is included in that checkpoint's tree (RFC 9162 inclusion proof), and the log's own
   stored copy of the leaf is byte-for-byte that leaf;
3. the organisation's Ed25519 signature verifies over the document;
4. the stored columns agree with the signed document.

Anything else is shown as ``failed`` with the reason. Batch fields (quantity,
origin parcels, product) are cross-checked against the signed commissioning event.
The brand licence behind the batch's brand claim is checked the same way: its row
against its latest logged state (:func:`brands.licence_log_problems`), that leaf
against the signed checkpoint (inclusion proof); a mismatch fails the page.

Privacy: households (individual producers) are never named; parcel owners and right
holders are not shown; the document's free fields are shown only through a fixed
list of keys [NF: our own privacy rule, following "keep personal data off-chain",
MECHANISMS.md §7].
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.errors import LiangshanError
from liangshan.identity.models import Organisation
from liangshan.ledger import merkle
from liangshan.ledger.log import canonical_json, leaf_input, node_hashes
from liangshan.ledger.note import Checkpoint, NoteVerifier, open_checkpoint
from liangshan.ledger.service import current_checkpoint, get_leaf, load_verifier
from liangshan.trace import codes, lineage, service
from liangshan.trace.brands import check_licence, get_brand, licence_log_problems
from liangshan.trace.models import BrandLicence, OrgKey, TraceBatch, TraceEvent
from liangshan.trace.signing import verify_signature

COUNTY_NAMES = {"520381": "赤水市", "520521": "大方县", "520621": "江口县", "522634": "雷山县",
                "522701": "都匀市"}
STEP_NAMES = {"commissioning": "赋码建批", "planting": "种植管理", "harvest": "采收",
              "inspection": "检测认证", "processing": "加工", "storage": "仓储",
              "transport": "运输", "sale": "销售", "recall": "召回"}
#: Document keys shown publicly (anything else in a document stays off the page).
PUBLIC_HOW = ("inputs_used", "test_results", "certificate", "temperature_c", "notes", "process")


#: Display time zone: China Standard Time (UTC+8, no daylight saving).
CST = timezone(timedelta(hours=8))


def local_time(iso_utc: str | None) -> str:
    """``2025-06-10T01:11:23.869Z`` → ``2025-06-10 09:11`` (Beijing time), for display."""
    if not iso_utc:
        return ""
    return service.parse_time(iso_utc).astimezone(CST).strftime("%Y-%m-%d %H:%M")


@dataclass
class Verification:
    status: str  # verified / failed / unverified
    reasons: list[str] = field(default_factory=list)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _org_label(org: Organisation | None) -> dict[str, Any]:
    if org is None:
        return {"id": None, "name": "?", "kind": None}
    if org.kind == "individual":  # a household: never named on a public page
        return {"id": None, "name": "农户 (household producer)", "kind": "individual",
                "region_code": (org.region_code or "")[:6] or None}
    return {"id": org.id, "name": org.name, "kind": org.kind, "region_code": org.region_code}


def _checkpoint(session: Session, verifier: NoteVerifier | None
                ) -> tuple[dict[str, Any], Checkpoint | None]:
    """The current signed checkpoint, described, and opened with the log's key (or None)."""
    cp_row = current_checkpoint(session)
    verifier = verifier or load_verifier()
    cp_info: dict[str, Any] = {"tree_size": cp_row.tree_size, "note": cp_row.note,
                               "log_key": verifier.encode() if verifier else None}
    checkpoint = None
    cp_problem = None
    if verifier is None:
        cp_problem = "the log's public key is not available: proofs cannot be checked"
    else:
        try:
            checkpoint = open_checkpoint(cp_row.note, verifier)
        except LiangshanError as exc:
            cp_problem = f"the log checkpoint does not verify: {exc.message}"
    cp_info["verified"] = checkpoint is not None
    cp_info["problem"] = cp_problem
    return cp_info, checkpoint


def verify_licence(session: Session, number: str, brand_code: str,
                   checkpoint: Checkpoint | None, *, with_proofs: bool = False
                   ) -> dict[str, Any]:
    """Licence ``number``'s row against its latest logged state and the signed checkpoint:
    ``{"status": verified/failed/unverified, "reasons": [...], "log_index": …}``."""
    row = session.scalar(select(BrandLicence).where(BrandLicence.number == number))
    if row is None:
        return {"status": "failed", "reasons": [f"licence {number} vanished"],
                "log_index": None}
    reasons, leaf_hash = licence_log_problems(session, row, brand_code)
    out: dict[str, Any] = {"status": "failed" if reasons else "verified", "reasons": reasons,
                           "log_index": row.log_index}
    if reasons or leaf_hash is None or row.log_index is None:
        return out
    if checkpoint is None or row.log_index >= checkpoint.size:
        out["status"] = "unverified"
        out["reasons"] = ["the licence's log leaf is not under a verified signed checkpoint"]
        return out
    try:
        proof = _proofs(session, [row.log_index], checkpoint.size)[row.log_index]
        merkle.verify_inclusion(row.log_index, checkpoint.size, leaf_hash, proof,
                                checkpoint.root_hash)
    except LiangshanError:
        out["status"] = "failed"
        out["reasons"] = [f"licence {number}'s log leaf {row.log_index} is not in the signed "
                          "log: the log was altered"]
        return out
    if with_proofs:
        out.update(tree_size=checkpoint.size, leaf_hash=_b64(leaf_hash),
                   hashes=[_b64(h) for h in proof],
                   payload=_b64(bytes(get_leaf(session, row.log_index).payload)))
    return out


def verify_chain(session: Session, events: list[TraceEvent],
                 verifier: NoteVerifier | None = None, *, with_proofs: bool = False
                 ) -> tuple[dict[str, Any], list[tuple[Verification, dict[str, Any]]]]:
    """Check every event against a signed checkpoint; returns (checkpoint info, results)."""
    cp_info, checkpoint = _checkpoint(session, verifier)
    return cp_info, _verify_events(session, events, cp_info, checkpoint, with_proofs)


def _verify_events(session: Session, events: list[TraceEvent], cp_info: dict[str, Any],
                   checkpoint: Checkpoint | None, with_proofs: bool
                   ) -> list[tuple[Verification, dict[str, Any]]]:
    cp_problem = cp_info["problem"]
    proofs: dict[int, list[bytes]] = {}
    if checkpoint is not None:
        try:
            proofs = _proofs(session, [e.log_index for e in events], checkpoint.size)
        except LiangshanError as exc:  # stored hashes missing: every proof fails below
            cp_info["problem"] = exc.message
    keys = {k.key_id: k for k in session.scalars(select(OrgKey).where(
        OrgKey.key_id.in_({e.key_id for e in events})))} if events else {}
    out = []
    for ev in events:
        v = Verification("verified")
        doc = ev.document
        payload = canonical_json(service.leaf_payload(doc, bytes(ev.signature)))
        leaf_hash = merkle.hash_leaf(leaf_input(service.LEAF_KIND, payload))
        proof_info: dict[str, Any] = {"log_index": ev.log_index,
                                      "leaf_hash": _b64(leaf_hash)}
        if checkpoint is None:
            v.status, v.reasons = "unverified", [cp_problem or "no checkpoint"]
        elif ev.log_index >= checkpoint.size:
            v.status = "unverified"
            v.reasons.append(f"log index {ev.log_index} is not yet under a signed checkpoint")
        else:
            try:
                proof = proofs[ev.log_index]
                if with_proofs:
                    proof_info.update(tree_size=checkpoint.size,
                                      hashes=[_b64(h) for h in proof],
                                      payload=_b64(payload))
                merkle.verify_inclusion(ev.log_index, checkpoint.size, leaf_hash, proof,
                                        checkpoint.root_hash)
            except LiangshanError:
                v.status = "failed"
                v.reasons.append(f"this event differs from what the transparency log recorded "
                                 f"at index {ev.log_index}, or the log itself was altered")
        try:
            leaf = get_leaf(session, ev.log_index)
            if (leaf.kind, bytes(leaf.payload), bytes(leaf.leaf_hash)) != (
                    service.LEAF_KIND, payload, leaf_hash):
                v.status = "failed"
                v.reasons.append(f"the log's copy of this event (leaf {ev.log_index}) was "
                                 "altered: it differs from the event record")
        except LiangshanError:
            v.status = "failed"
            v.reasons.append(f"log leaf {ev.log_index} of this event is missing")
        key = keys.get(ev.key_id)
        if key is None or key.org_id != doc.get("who", {}).get("org_id"):
            v.status = "failed"
            v.reasons.append(f"signing key {ev.key_id} is not a key of the recording "
                             "organisation")
        elif not verify_signature(bytes(key.public_key), doc, bytes(ev.signature)):
            v.status = "failed"
            v.reasons.append("the organisation's signature does not match the event")
        if (ev.event_id != doc.get("event_id") or ev.biz_step != doc.get("why", {}).get(
                "biz_step") or ev.org_id != doc.get("who", {}).get("org_id")
                or service.iso(ev.event_time) != doc.get("when", {}).get("event_time")):
            v.status = "failed"
            v.reasons.append("the stored event record differs from its signed document")
        out.append((v, proof_info))
    return out


def _proofs(session: Session, indices: list[int], size: int) -> dict[int, list[bytes]]:
    """RFC 9162 inclusion proofs of many leaves in the tree of ``size``, from one read of
    the stored subtree hashes (the same hashes :func:`ledger.service.inclusion_proof` reads
    one proof at a time)."""
    wanted = {i: [merkle.perfect_subtrees(b, e) for b, e in merkle.inclusion_ranges(i, size)]
              for i in indices if 0 <= i < size}
    stored = node_hashes(session, {n for parts in wanted.values() for ns in parts for n in ns})
    return {i: [merkle.fold_right([stored[n] for n in ns]) for ns in parts]
            for i, parts in wanted.items()}


def _batch_problems(batch: TraceBatch, events: list[TraceEvent]) -> list[str]:
    commissioning = [e for e in events if e.batch_id == batch.id
                     and e.biz_step == "commissioning"]
    if not commissioning:
        return []
    what = commissioning[0].document.get("what", {})
    problems = []
    for name in ("quantity", "unit", "product_type", "origin_parcels", "product_name"):
        if what.get(name) != getattr(batch, name):
            problems.append(f"the batch's {name} differs from its signed commissioning event")
    return problems


def _origin(session: Session, parcels: list[str]) -> list[dict[str, Any]]:
    out = []
    try:
        from liangshan.registry.service import current_parcel
    except ModuleNotFoundError:
        current_parcel = None  # type: ignore[assignment]
    for code in parcels:
        item: dict[str, Any] = {"code": code}
        if current_parcel is not None:
            try:
                p = current_parcel(session, code)
                item.update(resource_type=p.resource_type, area_ha=round(p.area_m2 / 1e4, 2),
                            region_code=p.region_code, name=p.name)
            except LiangshanError:
                item["note"] = "not found in the registry"
        item.update(_values(session, code))
        out.append(item)
    return out


def _values(session: Session, parcel_code: str) -> dict[str, Any]:
    """Published GEP of the parcel's county and VEP of the parcel, where accounts exist."""
    try:
        from liangshan.accounts import service as accounts
    except ModuleNotFoundError:
        return {}
    county = parcel_code[:6]
    out: dict[str, Any] = {}
    published = accounts.list_accounts(session, published_only=True)
    gep = [a for a in published if a.kind == "GEP" and a.region_code == county]
    if gep:
        latest = max(gep, key=lambda a: a.year)
        out["county_gep"] = {"year": latest.year, "value_yuan": accounts.fen_to_yuan(
            latest.gep_fen), "account_id": latest.id, "log_index": latest.log_index}
    for acc in (a for a in published if a.kind == "VEP"):
        # [NF] convention: a VEP line names its parcel in ``item`` (line region codes hold
        # at most 12 characters, parcel codes 19); a region_code equal to it also counts.
        fen = sum(line.value_fen for line in accounts.lines(session, acc.id)
                  if parcel_code in (line.item, line.region_code))
        if fen:
            out["parcel_vep"] = {"year": acc.year, "value_yuan": accounts.fen_to_yuan(fen),
                                 "account_id": acc.id}
    return out


def _event_view(ev: TraceEvent, orgs: dict[int, Organisation], batches: dict[int, str],
                v: Verification, proof: dict[str, Any]) -> dict[str, Any]:
    doc = ev.document
    how = doc.get("how") or {}
    sale = how.get("sale")
    return {
        "event_id": ev.event_id, "type": doc.get("type"), "action": doc.get("action"),
        "biz_step": doc.get("why", {}).get("biz_step"),
        "biz_step_zh": STEP_NAMES.get(doc.get("why", {}).get("biz_step", ""), ""),
        "event_time": doc.get("when", {}).get("event_time"),
        "timezone_offset": doc.get("when", {}).get("event_timezone_offset"),
        "local_time": local_time(doc.get("when", {}).get("event_time")),
        "batch": codes.display(batches.get(ev.batch_id, doc.get("what", {}).get("batch", ""))),
        "what": {k: doc.get("what", {}).get(k) for k in ("inputs", "outputs", "quantity", "unit")
                 if doc.get("what", {}).get(k) is not None},
        "where": {k: v2 for k, v2 in (doc.get("where") or {}).items() if v2},
        "who": _org_label(orgs.get(ev.org_id)),
        "how": {k: how[k] for k in PUBLIC_HOW if how.get(k)},
        "sale": {"quantity": sale["quantity"], "unit_price_fen": sale["unit_price_fen"]}
        if sale else None,
        "corrects": doc.get("corrects"),
        "verification": {"status": v.status, "reasons": v.reasons},
        "proof": proof,
    }


def public_view(session: Session, code: str, *, with_proofs: bool = False,
                verifier: NoteVerifier | None = None) -> dict[str, Any]:
    """Everything the public page shows for a code (raises for a malformed or unknown code)."""
    parsed = codes.parse_code(code)
    batch = service.get_batch(session, code)
    events = lineage.event_chain(session, batch)
    family = {batch.id: batch, **{b.id: b for b in lineage.ancestors(session, batch.id)}}
    org_ids = {e.org_id for e in events} | {b.producer_org_id for b in family.values()}
    orgs = {o.id: o for o in session.scalars(select(Organisation).where(
        Organisation.id.in_(org_ids)))}
    cp_info, checkpoint = _checkpoint(session, verifier)
    results = _verify_events(session, events, cp_info, checkpoint, with_proofs)
    batch_codes = {b.id: b.code for b in family.values()}
    missing = set(e.batch_id for e in events) - set(batch_codes)
    if missing:
        batch_codes.update({b.id: b.code for b in session.scalars(
            select(TraceBatch).where(TraceBatch.id.in_(missing)))})
    event_views = [_event_view(e, orgs, batch_codes, v, p) for e, (v, p) in zip(events, results,
                                                                                strict=True)]
    problems = [p for b in family.values() for p in _batch_problems(b, events)]
    recalls = [ev for ev in event_views if ev["biz_step"] == "recall"]
    recalled = batch.status == "recalled" or bool(recalls)
    certs = [dict(c) for c in batch.certifications] + [dict(
        ev["how"]["certificate"]) for ev in event_views if ev["how"].get("certificate")]
    today = utcnow().date().isoformat()
    for c in certs:
        c["expired"] = bool(c.get("valid_to") and c["valid_to"] < today)
    brand = None
    if batch.brand_code:
        try:
            b = get_brand(session, batch.brand_code)
            licence = check_licence(session, b.code, batch.producer_org_id,
                                    batch.product_type, None, batch.certifications).as_dict()
            if licence["licence_number"] is not None:
                licence["log"] = verify_licence(session, licence["licence_number"], b.code,
                                                checkpoint,
                                                with_proofs=with_proofs)
                if licence["log"]["status"] == "failed":
                    licence["ok"] = False
                    problems.extend(licence["log"]["reasons"])
            brand = {"code": b.code, "name": b.name, "kind": b.kind, "licence": licence}
        except LiangshanError as exc:
            brand = {"code": batch.brand_code, "name": batch.brand_code,
                     "licence": {"ok": False, "status": "unknown_brand", "message": exc.message}}
    statuses = {ev["verification"]["status"] for ev in event_views}
    if problems or "failed" in statuses:
        overall = "failed"
    elif statuses == {"verified"}:
        overall = "verified"
    else:
        overall = "unverified"
    return {
        "code": parsed.code, "display_code": parsed.display(),
        "item_serial": parsed.serial_number or None, "batch_code": codes.display(batch.code),
        "product": {"type": batch.product_type,
                    "type_zh": codes.PRODUCT_TYPES[batch.product_type][1],
                    "name": batch.product_name, "quantity": batch.quantity, "unit": batch.unit,
                    "harvest_start": batch.harvest_start.isoformat() if batch.harvest_start
                    else None,
                    "harvest_end": batch.harvest_end.isoformat() if batch.harvest_end else None},
        "producer": _org_label(orgs.get(batch.producer_org_id)),
        "origin": {"region_code": batch.region_code,
                   "region_name": COUNTY_NAMES.get(batch.region_code[:6], batch.region_code),
                   "parcels": _origin(session, sorted({p for b in family.values()
                                                       for p in b.origin_parcels}))},
        "status": "recalled" if recalled else batch.status,
        "recall": ({"at": recalls[-1]["event_time"], "reason": recalls[-1]["how"].get("notes"),
                    "event_id": recalls[-1]["event_id"], "batch": recalls[-1]["batch"],
                    "local_time": recalls[-1]["local_time"]}
                   if recalls else ({"at": service.iso(batch.recalled_at), "reason": None,
                                     "event_id": batch.recall_event_id, "batch": None,
                                     "local_time": local_time(service.iso(batch.recalled_at))}
                                    if recalled and batch.recalled_at else None)),
        "certifications": certs, "brand": brand, "events": event_views,
        "verification": {"overall": overall, "problems": problems,
                         "events_verified": sum(ev["verification"]["status"] == "verified"
                                                for ev in event_views),
                         "events_total": len(event_views)},
        "log": cp_info,
    }
