"""Accounting profiles: indicator sets with their methods and price choices, as data.

A profile is a TOML file with three parts (see ``ndrc-2022.toml``):

* ``[profile]`` — id, names, the document it follows, its confidence tag and status;
  optionally ``extends = "<id or path>"`` and ``warning = "..."`` (emitted on load).
* ``[settings]`` — each setting a table ``{value, unit, reference, confidence}``.
* ``[indicators.<name>]`` — ``price`` (a price id of ``params/prices.csv``, a table
  item -> price id, ``"statistics"`` for values from the statistical tables,
  ``"revenue_share"``, ``"landscape_table"`` or ``"none"`` for physical-only rows; a
  ``{year}`` placeholder picks the accounting year's price), ``method``, ``reference``,
  ``confidence`` and optionally ``include = false``.

Shipped: ``ndrc-2022`` [K], ``mee-2020`` [K], ``gbt-46869-2025`` [?, warns],
``ouyang-research`` [V]. A local profile is any TOML file that ``extends`` one of them
and overrides settings or indicators; an indicator set to ``include = false`` is
dropped, and a child table replaces the parent's table of the same indicator.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liangshan.errors import InvalidInput, NotFound

PROFILES_DIR = Path(__file__).resolve().parent
SHIPPED = ("ndrc-2022", "mee-2020", "gbt-46869-2025", "ouyang-research")
SPECIAL_PRICES = ("statistics", "revenue_share", "landscape_table", "none")
_SETTING_KEYS = ("value", "unit", "reference", "confidence")
_REQUIRED_SETTINGS = (
    "material_value_basis", "material_categories", "water_supply_uses",
    "water_supply_with_conservation", "origin_rule", "purification_cap", "recreation_method",
    "nature_tourism_share", "rebase_prices", "index_substitutes",
)
_CHOICES = {
    "material_value_basis": ("quantity_price", "gross_output", "net_output"),
    "water_supply_with_conservation": ("both", "drop_supply"),
    "purification_cap": ("emissions", "none"),
    "recreation_method": ("travel_cost", "revenue_share"),
}


class ProfileWarning(UserWarning):
    """A profile whose content is not confirmed (e.g. GB/T 46869-2025)."""


@dataclass
class Profile:
    """A resolved profile (after ``extends``). ``content_hash`` identifies its content."""

    id: str
    meta: dict[str, Any]
    settings_meta: dict[str, dict[str, Any]]
    indicators: dict[str, dict[str, Any]]
    chain: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def setting(self, name: str) -> Any:
        """The value of a setting (:class:`InvalidInput` if the profile lacks it)."""
        if name not in self.settings_meta:
            raise InvalidInput(f"profile {self.id!r} has no setting {name!r}",
                               hint=f"add [settings] {name} = {{value=..., unit=..., "
                               "reference=..., confidence=...}}")
        return self.settings_meta[name]["value"]

    @property
    def included(self) -> dict[str, dict[str, Any]]:
        """Indicators the profile counts (``include`` not false)."""
        return {k: v for k, v in self.indicators.items() if v.get("include", True)}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "meta": self.meta, "settings": self.settings_meta,
                "indicators": self.indicators, "chain": self.chain}

    @property
    def content_hash(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput(f"profile file {path} is not valid TOML: {e}",
                           hint="fix the TOML syntax") from e


def _locate(name: str | Path, base: Path | None = None) -> Path:
    p = Path(name)
    if str(name) in SHIPPED or (p.suffix == "" and (PROFILES_DIR / f"{name}.toml").exists()):
        return PROFILES_DIR / f"{name}.toml"
    for cand in (p, (base / p) if base else None):
        if cand is not None and cand.exists():
            return cand
    raise NotFound(f"profile {str(name)!r} not found",
                   hint=f"use one of {', '.join(SHIPPED)} or the path of a local TOML file")


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(parent)
    for section in ("profile", "settings", "indicators"):
        out.setdefault(section, {})
        for k, v in child.get(section, {}).items():
            if section == "profile" and k in ("extends", "warning"):
                continue
            out[section][k] = copy.deepcopy(v)
    if "warning" in child.get("profile", {}):
        out["profile"]["warning"] = child["profile"]["warning"]
    return out


def _validate(doc: dict[str, Any], where: str) -> None:
    meta = doc.get("profile", {})
    for k in ("id", "name", "document", "confidence", "status"):
        if not meta.get(k):
            raise InvalidInput(f"profile {where}: [profile] lacks {k!r}",
                               hint="every profile states its id, name, document, "
                               "confidence and status")
    for name, entry in doc.get("settings", {}).items():
        if not isinstance(entry, dict) or any(k not in entry for k in _SETTING_KEYS):
            raise InvalidInput(
                f"profile {where}: setting {name!r} must be a table with "
                f"{', '.join(_SETTING_KEYS)}",
                hint=f"write {name} = {{ value = ..., unit = \"...\", reference = \"...\", "
                "confidence = \"[K]\" }")
        if not str(entry["unit"]).strip() or not str(entry["reference"]).strip():
            raise InvalidInput(f"profile {where}: setting {name!r} has an empty unit or "
                               "reference", hint="every default needs a unit and a reference")
        allowed = _CHOICES.get(name)
        if allowed and entry["value"] not in allowed:
            raise InvalidInput(f"profile {where}: setting {name!r} = {entry['value']!r}",
                               hint=f"expected one of {allowed}")
    for ind, entry in doc.get("indicators", {}).items():
        for k in ("price", "method", "reference", "confidence"):
            if k not in entry or entry[k] in ("", None):
                raise InvalidInput(f"profile {where}: indicator {ind!r} lacks {k!r}",
                                   hint="each indicator names its price, method, reference "
                                   "and confidence tag")


def load_profile(name: str | Path = "ndrc-2022", *, _seen: tuple[str, ...] = ()) -> Profile:
    """Load a shipped profile by id or a local TOML file by path, resolving ``extends``.

    Raises :class:`NotFound` for an unknown profile and :class:`InvalidInput` for a file
    that lacks a unit, reference or confidence on any default; warns
    (:class:`ProfileWarning`) when the profile's content is unconfirmed.
    """
    path = _locate(name)
    if str(path) in _seen:
        raise InvalidInput(f"profile {path} extends itself (cycle {list(_seen)})",
                           hint="remove the cycle in 'extends'")
    doc = _read(path)
    parent_name = doc.get("profile", {}).get("extends")
    chain: list[str] = []
    warns: list[str] = []
    if parent_name:
        parent_ref = (parent_name if str(parent_name) in SHIPPED
                      else _locate(parent_name, path.parent))
        parent = load_profile(parent_ref, _seen=(*_seen, str(path)))
        base = {"profile": copy.deepcopy(parent.meta), "settings": parent.settings_meta,
                "indicators": parent.indicators}
        base["profile"].pop("warning", None)
        doc = _merge(base, doc)
        chain, warns = [*parent.chain, parent.id], list(parent.warnings)
    _validate(doc, str(path))
    missing = [s for s in _REQUIRED_SETTINGS if s not in doc.get("settings", {})]
    if missing:
        raise InvalidInput(f"profile {path}: missing setting(s) {missing}",
                           hint="add them, or extend a shipped profile that has them")
    meta = doc["profile"]
    if meta.get("warning"):
        warns.append(str(meta["warning"]))
        if not _seen:
            warnings.warn(str(meta["warning"]), ProfileWarning, stacklevel=2)
    return Profile(id=str(meta["id"]), meta=meta, settings_meta=doc["settings"],
                   indicators=doc.get("indicators", {}), chain=chain, warnings=warns)


def list_profiles() -> list[str]:
    """Ids of the shipped profiles."""
    return list(SHIPPED)
