"""The ledger's service functions: the only door other domains and the API use.

* journal — :func:`open_account`, :func:`post_entry`, :func:`post_entries`, :func:`balance`,
  :func:`get_account`, :func:`account_history` (amounts: integer smallest units,
  fen for CNY);
* log — :func:`append_leaf`, :func:`append_leaves`, :func:`get_leaf`, :func:`log_size`,
  :func:`root_hash`, :func:`inclusion_proof`, :func:`consistency_proof`, :func:`sign_checkpoint`,
  :func:`latest_checkpoint`, :func:`current_checkpoint`;
* audit — :func:`verify_log`, :func:`verify_cli`;
* keys — :func:`load_signer`, :func:`load_verifier`.

None of these commit: they flush inside the caller's transaction, so a domain's own
rows and its log leaf land together or not at all.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from sqlalchemy.orm import Session

from liangshan.errors import NotAuthenticated
from liangshan.ledger.bundle import make_bundle, verify_bundle
from liangshan.ledger.journal import (
    InsufficientBalance,
    account_history,
    balance,
    entries_by_reference,
    find_idempotent,
    get_account,
    open_account,
    post_entries,
    post_entry,
    remember_idempotent,
)
from liangshan.ledger.keys import load_signer, load_verifier
from liangshan.ledger.log import (
    append_leaf,
    append_leaves,
    canonical_json,
    consistency_proof,
    get_leaf,
    inclusion_proof,
    latest_checkpoint,
    log_size,
    root_hash,
    sign_checkpoint,
)
from liangshan.ledger.models import LogLeaf, SignedCheckpoint
from liangshan.ledger.verify import LogProblem, verify_log

__all__ = [
    "InsufficientBalance", "LogProblem", "account_history", "append_leaf", "append_leaves",
    "balance",
    "canonical_json", "consistency_proof", "current_checkpoint", "entries_by_reference",
    "find_idempotent",
    "get_account", "get_leaf", "inclusion_proof", "latest_checkpoint", "load_signer",
    "load_verifier", "log_size", "open_account", "post_entries", "post_entry", "proof_bundle", "read_leaf",
    "remember_idempotent", "root_hash", "sign_checkpoint", "verify_bundle", "verify_cli",
    "verify_log",
]

#: Leaf kinds whose payload names account holders and amounts: readable after login only.
#: Their hashes, proofs and checkpoints stay public. [NF: our own privacy choice]
PRIVATE_KINDS = frozenset({"journal", "ledger_account"})


def read_leaf(session: Session, index: int, *, authenticated: bool) -> LogLeaf:
    """Leaf ``index`` for a reader; private kinds need an authenticated reader."""
    leaf = get_leaf(session, index)
    if leaf.kind in PRIVATE_KINDS and not authenticated:
        raise NotAuthenticated(f"log leaf {index} ({leaf.kind}) names account holders",
                               hint="log in to read it; its hash and proofs are public")
    return leaf


def current_checkpoint(session: Session) -> SignedCheckpoint:
    """The checkpoint for the log's current size, signed now with the data-dir key if needed."""
    latest = latest_checkpoint(session)
    if latest is not None and latest.tree_size == log_size(session):
        return latest
    return sign_checkpoint(session, load_signer())


def proof_bundle(session: Session, index: int, *, authenticated: bool = True) -> dict[str, Any]:
    """Leaf ``index`` with its inclusion proof against the current signed checkpoint.

    The dict is self-contained: :func:`verify_bundle` checks it offline with the
    log's public key (e.g. behind a trace QR code).
    """
    leaf = read_leaf(session, index, authenticated=authenticated)
    cp = current_checkpoint(session)
    proof = inclusion_proof(session, index, cp.tree_size)
    return make_bundle(index, leaf.kind, bytes(leaf.payload), proof, cp.note, cp.tree_size)


def verify_cli(session: Session, console: Console | None = None) -> int:
    """``liangshan log verify``: print the findings; exit status 0 if none, 1 otherwise."""
    console = console or Console()
    verifier = load_verifier()
    problems = verify_log(session, verifier)
    size = log_size(session)
    if verifier is None:
        console.print("[yellow]no log key in the data directory: checkpoint signatures "
                      "not checked[/yellow]")
    if not problems:
        console.print(f"[green]log verified[/green]: {size} leaves, every row consistent")
        return 0
    console.print(f"[red]{len(problems)} problem(s)[/red] in a log of {size} leaves:")
    for p in problems:
        console.print(f"  {p}", markup=False, highlight=False)
    return 1
