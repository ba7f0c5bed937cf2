"""HTTP routes of traceability: producers, inspectors and brand managers write; anyone reads
a code's public page.

* ``/trace/…`` — batches, events (custodial or client-signed), processing, recalls,
  labels, keys, brands and licences (login or an API key with scope ``write:trace``);
* ``GET /t/{code}`` — the public, mobile-first HTML page (no login, nothing loaded
  from elsewhere); ``GET /t/{code}.json`` — the same data with the inclusion proofs.
"""

from __future__ import annotations

import base64
import binascii
import io
import zipfile
from datetime import date, datetime
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field, TypeAdapter
from sqlalchemy.orm import Session

from liangshan.api.deps import PrincipalDep, SessionDep
from liangshan.errors import InvalidInput, LiangshanError
from liangshan.identity.access import Principal
from liangshan.trace import brands, idempotency, labels, lineage, public, service, signing
from liangshan.trace.schemas import (
    BatchIn,
    BatchOut,
    BrandIn,
    EventIn,
    EventOut,
    LicenceIn,
    LicenceOut,
    SignedEventIn,
    TransformIn,
)

router = APIRouter(tags=["trace"])

_env = Environment(loader=FileSystemLoader(str(files("liangshan.trace") / "templates")),
                   autoescape=select_autoescape(["html"]))


class RecallIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
    event_time: datetime
    org_id: int | None = None


class StatusIn(BaseModel):
    status: str = Field(pattern="^(active|suspended|revoked)$")
    reason: str = Field(min_length=1, max_length=500)


class KeyIn(BaseModel):
    org_id: int
    public_key: str = Field(description="base64 of the 32-byte Ed25519 public key")


IdempotencyKey = Annotated[str | None, Header(
    alias=idempotency.HEADER, description="optional: a retry with the same key and body "
    "returns the first response and records nothing; another body with it gets 409")]


def _once(session: Session, actor: Principal, request: Request, key: str | None,
          data: BaseModel, out: TypeAdapter[Any], run: Any) -> Any:
    """``run()`` for a custodial POST, at most once per ``Idempotency-Key`` of the org."""
    if key is None:
        return run()
    org = service.acting_org(session, actor, getattr(data, "org_id", None))
    fingerprint = idempotency.request_hash(request.method, request.url.path,
                                           data.model_dump(mode="json"))

    def handler() -> tuple[int, Any]:
        return 201, out.dump_python(out.validate_python(run(), from_attributes=True),
                                    mode="json")

    status, body, replayed = idempotency.run_once(session, org.id, key, fingerprint, handler)
    return JSONResponse(body, status_code=status,
                        headers={"Idempotent-Replayed": "true"} if replayed else None)


@router.post("/trace/batches", response_model=BatchOut, status_code=201)
def create_batch(session: SessionDep, actor: PrincipalDep, request: Request, data: BatchIn,
                 idempotency_key: IdempotencyKey = None) -> Any:
    return _once(session, actor, request, idempotency_key, data, TypeAdapter(BatchOut),
                 lambda: service.create_batch(session, actor, data))


@router.get("/trace/batches/{code}", response_model=BatchOut)
def get_batch(session: SessionDep, actor: PrincipalDep, code: str) -> Any:
    return service.get_batch(session, code)


@router.get("/trace/batches/{code}/events", response_model=list[EventOut])
def list_events(session: SessionDep, actor: PrincipalDep, code: str) -> Any:
    return service.events_of(session, code)


@router.post("/trace/batches/{code}/events", response_model=EventOut, status_code=201)
def record_event(session: SessionDep, actor: PrincipalDep, request: Request, code: str,
                 data: EventIn, idempotency_key: IdempotencyKey = None) -> Any:
    """Record an event signed with the organisation's custodial key."""
    return _once(session, actor, request, idempotency_key, data, TypeAdapter(EventOut),
                 lambda: service.record_event(session, actor, code, data))


@router.post("/trace/batches/{code}/events/prepare")
def prepare_event(session: SessionDep, actor: PrincipalDep, code: str, data: EventIn,
                  key_id: str) -> dict[str, Any]:
    """The document to sign with the organisation's own key (then POST /trace/events/signed)."""
    return service.prepare_event(session, actor, code, data, key_id=key_id)


@router.post("/trace/events/signed", response_model=EventOut, status_code=201)
def record_signed(session: SessionDep, actor: PrincipalDep, data: SignedEventIn) -> Any:
    try:
        signature = base64.b64decode(data.signature, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("signature is not standard base64") from None
    return service.commit_event(session, actor, data.document, signature)


@router.post("/trace/transformations", response_model=list[BatchOut], status_code=201)
def transform(session: SessionDep, actor: PrincipalDep, request: Request, data: TransformIn,
              idempotency_key: IdempotencyKey = None) -> Any:
    """Processing: split, merge or transform batches into new batches."""
    return _once(session, actor, request, idempotency_key, data, TypeAdapter(list[BatchOut]),
                 lambda: lineage.transform(session, actor, data))


@router.post("/trace/batches/{code}/recall", response_model=EventOut, status_code=201)
def recall(session: SessionDep, actor: PrincipalDep, request: Request, code: str,
           data: RecallIn, idempotency_key: IdempotencyKey = None) -> Any:
    return _once(session, actor, request, idempotency_key, data, TypeAdapter(EventOut),
                 lambda: service.recall(session, actor, code, data.reason, data.event_time,
                                        data.org_id))


@router.post("/trace/batches/{code}/labels")
def make_labels(session: SessionDep, actor: PrincipalDep, request: Request, code: str,
                count: Annotated[int, Query(ge=1, le=10_000)] = 24,
                format: Annotated[str, Query(pattern="^(svg|png)$")] = "svg") -> Response:
    """Issue ``count`` item codes and return their label sheet (one page: the file; more:
    a ZIP of pages)."""
    batch = service.get_batch(session, code)
    item_codes = service.issue_items(session, actor, code, count)
    base = str(request.base_url)
    if format == "svg":
        pages: list[bytes] = [p.encode() for p in labels.label_sheet_svg(
            item_codes, base, batch.product_name)]
        media = "image/svg+xml"
    else:
        pages = labels.label_sheet_png(item_codes, base)
        media = "image/png"
    if len(pages) == 1:
        return Response(pages[0], media_type=media)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, page in enumerate(pages, start=1):
            zf.writestr(f"labels-{batch.code}-{i:03d}.{format}", page)
    return Response(buffer.getvalue(), media_type="application/zip",
                    headers={"Content-Disposition":
                             f'attachment; filename="labels-{batch.code}.zip"'})


@router.post("/trace/keys", status_code=201)
def register_key(session: SessionDep, actor: PrincipalDep, data: KeyIn) -> dict[str, Any]:
    row = signing.register_public_key(session, actor, data.org_id, data.public_key)
    return {"key_id": row.key_id, "org_id": row.org_id}


@router.get("/trace/brands")
def list_brands(session: SessionDep) -> list[dict[str, Any]]:
    return [{"code": b.code, "name": b.name, "kind": b.kind, "criteria": b.criteria}
            for b in brands.list_brands(session)]


@router.post("/trace/brands", status_code=201)
def create_brand(session: SessionDep, actor: PrincipalDep, data: BrandIn) -> dict[str, Any]:
    b = brands.create_brand(session, actor, data)
    return {"code": b.code, "name": b.name, "kind": b.kind, "criteria": b.criteria}


@router.post("/trace/brands/{brand_code}/licences", response_model=LicenceOut, status_code=201)
def grant_licence(session: SessionDep, actor: PrincipalDep, brand_code: str,
                  data: LicenceIn) -> Any:
    return brands.grant_licence(session, actor, brand_code, data)


@router.post("/trace/licences/{licence_id}/status", response_model=LicenceOut)
def licence_status(session: SessionDep, actor: PrincipalDep, licence_id: int,
                   data: StatusIn) -> Any:
    """Suspend, reinstate or revoke a licence (brand managers)."""
    return brands.set_licence_status(session, actor, licence_id, data.status, data.reason)


@router.get("/trace/brands/{brand_code}/check")
def licence_check(session: SessionDep, brand_code: str, org_id: int, product_type: str,
                  on: date | None = None) -> dict[str, Any]:
    """Public licence check: may organisation ``org_id`` use the brand on this product?"""
    return brands.check_licence(session, brand_code, org_id, product_type, on).as_dict()


@router.get("/trace/brands/{brand_code}/report")
def brand_report(session: SessionDep, brand_code: str, on: date | None = None) -> dict[str, Any]:
    return brands.brand_report(session, brand_code, on)


@router.get("/t/{code}.json")
def public_json(session: SessionDep, code: str) -> dict[str, Any]:
    """The public view with each event's inclusion proof and the signed checkpoint."""
    return public.public_view(session, code, with_proofs=True)


@router.get("/t/{code}", response_class=HTMLResponse)
def public_page(session: SessionDep, code: str) -> HTMLResponse:
    """The public verification page: mobile-first, no login, no external resources."""
    try:
        view = public.public_view(session, code)
    except LiangshanError as exc:  # a person reads this page: say it in HTML, not JSON
        html = _env.get_template("trace_error.html").render(message=exc.message, hint=exc.hint)
        return HTMLResponse(html, status_code=exc.http_status)
    html = _env.get_template("trace_public.html").render(v=view, json_url=f"/t/{code}.json")
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
