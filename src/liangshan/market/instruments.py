"""Instrument types and their per-instrument rules, loaded from ``instruments.toml``.

Quantities are integers in the instrument's smallest step (``unit``: 亩, kg,
tCO2e, m³, tce, tree-year); prices are integer fen per unit. Each instrument
names the evidence its issuance needs and carries the confidence tag of its
rules ([V] confirmed, [K] to verify, [NF] placeholder; MECHANISMS.md §1).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime, time
from functools import cache
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo

from liangshan.errors import InvalidInput, NotFound

SHANGHAI = ZoneInfo("Asia/Shanghai")
EVIDENCE_KINDS = frozenset({"parcel", "parcel_increment", "coverage_surplus", "project"})


@dataclass(frozen=True)
class Instrument:
    """One tradable right; see ``instruments.toml`` for the meaning of each field."""

    code: str
    name_zh: str
    name_en: str
    unit: str
    tick_fen: int
    lot: int
    listed_band_bp: int
    block_band_bp: int
    block_threshold: int
    hours: tuple[tuple[time, time], ...]
    evidence: str
    confidence: str
    source: str
    block_hours: tuple[tuple[time, time], ...] = ()
    reference_price_fen: int | None = None
    fixed_price_fen: int | None = None
    household_share_bp: int | None = None
    resource_types: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def in_hours(self, at: datetime, *, block: bool = False) -> bool:
        """True when ``at`` (timezone-aware) lies in a Monday–Friday session (Shanghai time)."""
        if at.tzinfo is None:
            raise InvalidInput(f"time {at!r} is naive", hint="give a timezone-aware time")
        local = at.astimezone(SHANGHAI)
        sessions = self.block_hours if block and self.block_hours else self.hours
        if sessions == ((time(0), time(0)),):  # "00:00-24:00": round the clock, every day
            return True
        if local.weekday() >= 5:
            return False
        return any(a <= local.time() < b for a, b in sessions)


def _session(text: str, where: str) -> tuple[time, time]:
    try:
        a, b = text.split("-")
        start = time.fromisoformat(a)
        end = time(0) if b == "24:00" else time.fromisoformat(b)
    except ValueError:
        raise InvalidInput(f"{where}: trading session {text!r} is not 'HH:MM-HH:MM'") from None
    return start, end


_REQUIRED = ("name_zh", "name_en", "unit", "tick_fen", "lot", "listed_band_bp", "block_band_bp",
             "block_threshold", "hours", "evidence", "confidence", "source")


def parse_instruments(data: dict[str, Any], where: str = "instruments.toml"
                      ) -> dict[str, Instrument]:
    """Instruments from the parsed TOML tables; every rule field must be present."""
    out: dict[str, Instrument] = {}
    for code, row in data.items():
        missing = [k for k in _REQUIRED if k not in row]
        if missing:
            raise InvalidInput(f"{where} [{code}]: missing {', '.join(missing)}",
                               hint="every instrument states its rules and their source")
        if row["evidence"] not in EVIDENCE_KINDS:
            raise InvalidInput(f"{where} [{code}]: evidence {row['evidence']!r} unknown",
                               hint="one of " + ", ".join(sorted(EVIDENCE_KINDS)))
        for k in ("tick_fen", "lot"):
            if not isinstance(row[k], int) or row[k] < 1:
                raise InvalidInput(f"{where} [{code}]: {k} must be a positive integer")
        known = set(_REQUIRED) | {"block_hours", "reference_price_fen", "fixed_price_fen",
                                  "household_share_bp", "resource_types"}
        out[code] = Instrument(
            code=code, **{k: row[k] for k in _REQUIRED if k != "hours"},
            hours=tuple(_session(s, f"{where} [{code}]") for s in row["hours"]),
            block_hours=tuple(_session(s, f"{where} [{code}]") for s in row.get("block_hours", [])),
            reference_price_fen=row.get("reference_price_fen"),
            fixed_price_fen=row.get("fixed_price_fen"),
            household_share_bp=row.get("household_share_bp"),
            resource_types=tuple(row.get("resource_types", ())),
            extra={k: v for k, v in row.items() if k not in known})
    return out


@cache
def load_instruments() -> dict[str, Instrument]:
    """The packaged instruments, by code."""
    text = (files("liangshan.market") / "instruments.toml").read_text(encoding="utf-8")
    return parse_instruments(tomllib.loads(text))


def get_instrument(code: str) -> Instrument:
    """One instrument by code, or :class:`NotFound` naming the known codes."""
    try:
        return load_instruments()[code]
    except KeyError:
        raise NotFound(f"instrument {code!r} is not defined",
                       hint="known: " + ", ".join(sorted(load_instruments()))) from None
