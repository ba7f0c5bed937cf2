"""HTTP routes of the transparency log: checkpoint, proofs, entries.

Hashes travel as standard base64; the checkpoint is served as the signed note
itself (``text/plain``), exactly what a C2SP-aware client or witness expects.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from liangshan.api.deps import OptionalPrincipalDep, SessionDep
from liangshan.ledger import service
from liangshan.ledger.schemas import ConsistencyProofOut, InclusionProofOut, LeafOut

router = APIRouter(prefix="/log", tags=["log"])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@router.get("/checkpoint", response_class=PlainTextResponse)
def checkpoint(session: SessionDep) -> str:
    """The signed checkpoint (C2SP tlog-checkpoint note) for the log's current size."""
    return service.current_checkpoint(session).note


@router.get("/proof/inclusion", response_model=InclusionProofOut)
def inclusion(session: SessionDep, index: Annotated[int, Query(ge=0)],
              size: Annotated[int, Query(ge=1)]) -> InclusionProofOut:
    """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
    proof = service.inclusion_proof(session, index, size)
    leaf = service.get_leaf(session, index)
    return InclusionProofOut(index=index, tree_size=size, leaf_hash=_b64(leaf.leaf_hash),
                             hashes=[_b64(h) for h in proof])


@router.get("/proof/consistency", response_model=ConsistencyProofOut)
def consistency(session: SessionDep, first: Annotated[int, Query(ge=0)],
                second: Annotated[int, Query(ge=0)]) -> ConsistencyProofOut:
    """RFC 9162 consistency proof between tree sizes ``first`` ≤ ``second``."""
    proof = service.consistency_proof(session, first, second)
    return ConsistencyProofOut(first=first, second=second, hashes=[_b64(h) for h in proof])


@router.get("/entries/{index}", response_model=LeafOut)
def entry(session: SessionDep, principal: OptionalPrincipalDep, index: int) -> LeafOut:
    """Leaf ``index``: kind, leaf hash and payload (journal leaves need a login)."""
    leaf = service.read_leaf(session, index, authenticated=principal is not None)
    payload = bytes(leaf.payload)
    try:
        decoded = json.loads(payload)
    except ValueError:
        decoded = None
    return LeafOut(index=leaf.leaf_index, kind=leaf.kind, leaf_hash=_b64(leaf.leaf_hash),
                   payload_base64=_b64(payload),
                   payload=decoded if isinstance(decoded, dict) else None,
                   created_at=leaf.created_at)


@router.get("/bundle/{index}")
def bundle(session: SessionDep, principal: OptionalPrincipalDep, index: int) -> dict[str, Any]:
    """Leaf ``index`` + inclusion proof + signed checkpoint, checkable offline."""
    return service.proof_bundle(session, index, authenticated=principal is not None)
