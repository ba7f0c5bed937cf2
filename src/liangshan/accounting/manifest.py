"""Provenance manifest of an account and its content-hash ID (DESIGN §2, §5).

The manifest records SHA-256 hashes of every input (the physical account, each
statistics table used, study-area files when the study exposes them), of the price,
price-index, indicator and valuation-parameter files, of a user override file, the
resolved profile (content hash and ``extends`` chain), the code version (package
version + hash of the accounting engine's sources) and the run options.

``account_id`` is the SHA-256 of the canonical JSON of everything above, so the same
inputs give the same ID. ``created_utc`` is recorded but not hashed.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

import liangshan
from liangshan.accounting.params import PARAMS_DIR, PriceBook, file_sha256
from liangshan.accounting.profiles import Profile

ACCOUNTING_DIR = Path(__file__).resolve().parent
_UNHASHED = ("account_id", "created_utc")


def frame_sha256(df: pd.DataFrame | None) -> str | None:
    """Order-independent SHA-256 of a table's content (columns and rows sorted)."""
    if df is None:
        return None
    d = df.reindex(sorted(df.columns, key=str), axis=1)
    try:
        d = d.sort_values(list(d.columns), kind="stable").reset_index(drop=True)
    except TypeError:  # mixed types in a column: order by their text instead
        d = d.astype(str).sort_values(list(d.columns), kind="stable").reset_index(drop=True)
    return hashlib.sha256(d.to_csv(index=False).encode()).hexdigest()


def study_file_hashes(study: Any) -> dict[str, str]:
    """SHA-256 of a StudyArea's manifest and of every file it names (empty otherwise)."""
    root, man = getattr(study, "root", None), getattr(study, "manifest", None)
    if root is None or man is None:
        return {}
    root = Path(root)
    files = ["study.toml"]
    zones = getattr(man, "zones", None)
    if zones is not None:
        files.append(str(zones.file))
    files += [str(e.file) for e in (*getattr(man, "rasters", []), *getattr(man, "tables", []))]
    out = {}
    for rel in dict.fromkeys(files):
        p = root / rel
        if p.is_file():
            out[f"study:{rel}"] = file_sha256(p)
    return out


def code_version() -> dict[str, str]:
    """Package version and a hash of the accounting engine's Python sources."""
    h = hashlib.sha256()
    for p in sorted(ACCOUNTING_DIR.rglob("*.py")):
        if "__pycache__" in p.parts:
            continue
        h.update(str(p.relative_to(ACCOUNTING_DIR)).encode())
        h.update(p.read_bytes())
    return {"liangshan": liangshan.__version__, "accounting_sources_sha256": h.hexdigest()}


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)


def account_id(manifest: dict[str, Any]) -> str:
    """SHA-256 hex of the manifest without its unhashed fields."""
    body = {k: v for k, v in manifest.items() if k not in _UNHASHED}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def build_manifest(*, year: int, profile: Profile, book: PriceBook,
                   inputs: dict[str, str | None], options: dict[str, Any],
                   kind: str = "gep") -> dict[str, Any]:
    """The provenance record of one run, with its ``account_id``."""
    man: dict[str, Any] = {
        "kind": kind,
        "year": int(year),
        "profile": {"id": profile.id, "chain": profile.chain,
                    "content_sha256": profile.content_hash,
                    "confidence": profile.meta.get("confidence"),
                    "status": profile.meta.get("status")},
        "parameters": {**book.files,
                       "indicators": file_sha256(PARAMS_DIR / "indicators.csv")},
        "price_overrides": book.overrides_info,
        "inputs": {k: v for k, v in sorted(inputs.items()) if v is not None},
        "code": code_version(),
        "options": options,
    }
    man["account_id"] = account_id(man)
    man["created_utc"] = datetime.now(UTC).isoformat()
    return man
