"""Per-ecosystem physical coefficients of the GEP models, with unit, reference and confidence.

The coefficients live in ``accounting/params/physical_coefficients.csv`` (long format:
``parameter, ecosystem_code, value, unit, reference, confidence``). ``ecosystem_code`` is a
level-3 code of ``params/ecosystem_types.csv`` or ``*`` for "every type"; a row for a specific
code overrides the ``*`` row. Every row must carry a unit, a reference and a confidence tag
([V], [K], [D], [?], [NF], [Hyp], as in GEP_METHOD §0); loading fails, naming the file and
line, if one is missing. Values are returned converted to the unit the caller asks for, so a
model never guesses whether a runoff coefficient is in % or a fraction.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from liangshan.errors import InvalidInput, ParameterNotFound

DEFAULT_PATH = Path(__file__).parent / "params" / "physical_coefficients.csv"
COLUMNS = ("parameter", "ecosystem_code", "value", "unit", "reference", "confidence")
TAGS = ("V", "K", "D", "?", "NF", "Hyp")
# Largest ecosystem code a lookup table covers (codes are uint16 in the raster contract).
MAX_CODE = 65535

# (stored unit, requested unit) -> factor; identical units need no entry.
_CONVERSIONS: Mapping[tuple[str, str], float] = {
    ("%", "1"): 0.01,
    ("1", "%"): 100.0,
    ("kg/(hm2·a)", "t/(ha·yr)"): 1e-3,
    ("t/(hm2·a)", "t/(ha·yr)"): 1.0,
    ("kg/(hm2·a)", "kg/(ha·yr)"): 1.0,
    ("J/g", "kJ/kg"): 1.0,
    ("kJ/kg", "J/g"): 1.0,
    ("t/m3", "kg/m3"): 1e3,
}


@dataclass(frozen=True)
class Coefficient:
    """One row of the coefficient table."""

    parameter: str
    ecosystem_code: int | None  # None = every type ('*')
    value: float
    unit: str
    reference: str
    confidence: str


def _convert(value: float, unit: str, to_unit: str, *, parameter: str) -> float:
    if unit == to_unit:
        return value
    try:
        return value * _CONVERSIONS[(unit, to_unit)]
    except KeyError:
        raise InvalidInput(
            f"coefficient {parameter!r} is stored in {unit!r}, but the model needs {to_unit!r} "
            "and no conversion between them is known",
            hint="store the value in the unit the model needs, or add the conversion",
        ) from None


class CoefficientTable:
    """Validated coefficients; look them up by parameter and ecosystem code."""

    def __init__(self, rows: Iterable[Coefficient], *, source: str = "<memory>") -> None:
        self.source = source
        self._rows: dict[str, dict[int | None, Coefficient]] = {}
        for row in rows:
            self._rows.setdefault(row.parameter, {})[row.ecosystem_code] = row

    def __contains__(self, parameter: object) -> bool:
        return parameter in self._rows

    @property
    def parameters(self) -> list[str]:
        return sorted(self._rows)

    def rows(self, parameter: str) -> list[Coefficient]:
        """All rows of one parameter (for provenance); raises ParameterNotFound if none."""
        try:
            return list(self._rows[parameter].values())
        except KeyError:
            raise ParameterNotFound(
                f"coefficient {parameter!r} is not in {self.source}",
                hint="add a row with its value, unit, reference and confidence tag",
            ) from None

    def scalar(self, parameter: str, unit: str) -> float:
        """The every-type ('*') value of ``parameter`` in ``unit``."""
        row = self._rows.get(parameter, {}).get(None)
        if row is None:
            raise ParameterNotFound(
                f"coefficient {parameter!r} with ecosystem_code '*' is not in {self.source}",
                hint="add a row with ecosystem_code '*', value, unit, reference and confidence",
            )
        return _convert(row.value, row.unit, unit, parameter=parameter)

    def by_ecosystem(self, parameter: str, codes: Iterable[int], unit: str) -> dict[int, float]:
        """Values for the given level-3 codes in ``unit``; codes without a row are left out.

        A specific row wins over the '*' row. A parameter with no row at all gives ``{}``.
        """
        table = self._rows.get(parameter, {})
        out: dict[int, float] = {}
        for code in codes:
            row = table.get(int(code), table.get(None))
            if row is not None:
                out[int(code)] = _convert(row.value, row.unit, unit, parameter=parameter)
        return out

    def lut(self, parameter: str, codes: Iterable[int], unit: str) -> np.ndarray:
        """A float64 lookup array indexed by ecosystem code; NaN where there is no value."""
        lut = np.full(MAX_CODE + 1, np.nan)
        for code, value in self.by_ecosystem(parameter, codes, unit).items():
            lut[code] = value
        return lut

    def digest(self) -> str:
        """SHA-256 of the rows (order-independent): the provenance id of these coefficients."""
        lines = sorted(
            f"{r.parameter}|{'*' if r.ecosystem_code is None else r.ecosystem_code}|"
            f"{r.value!r}|{r.unit}|{r.reference}|{r.confidence}"
            for table in self._rows.values() for r in table.values())
        return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()

    def references(self, parameter: str) -> list[str]:
        """'confidence reference' strings of a parameter, for provenance and docs."""
        return sorted({f"{r.confidence} {r.reference}" for r in self.rows(parameter)})


def _parse(frame: pd.DataFrame, source: str) -> list[Coefficient]:
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"{source}: missing column(s) {', '.join(missing)}; found {list(frame.columns)}",
            hint=f"the header must be {','.join(COLUMNS)}",
        )
    rows: list[Coefficient] = []
    for i, rec in enumerate(frame.to_dict("records")):
        line = i + 2  # header is line 1
        where = f"{source} line {line} ({rec.get('parameter')!r})"
        param = str(rec["parameter"] or "").strip()
        if not param:
            raise InvalidInput(f"{where}: empty parameter name", hint="name the parameter")
        for field in ("unit", "reference"):
            if not str(rec[field] or "").strip():
                raise InvalidInput(
                    f"{where}: the {field} is missing",
                    hint=f"every coefficient needs a {field}; write '1' for a unitless value"
                    if field == "unit"
                    else f"every coefficient needs a {field} (document, table, year)",
                )
        conf = str(rec["confidence"] or "").strip()
        tag = conf[1:].split("]")[0].split(";")[0].strip() if conf.startswith("[") else ""
        if tag not in TAGS:
            raise InvalidInput(
                f"{where}: confidence {conf!r} is not a tag",
                hint=f"start it with one of {', '.join('[' + t + ']' for t in TAGS)}",
            )
        try:
            value = float(rec["value"])
        except (TypeError, ValueError):
            raise InvalidInput(
                f"{where}: value {rec['value']!r} is not a number", hint="write a plain number"
            ) from None
        if not math.isfinite(value):
            raise InvalidInput(f"{where}: value is not finite", hint="write a finite number")
        code_text = str(rec["ecosystem_code"] or "").strip()
        if code_text == "*":
            code: int | None = None
        else:
            try:
                code = int(code_text)
            except ValueError:
                raise InvalidInput(
                    f"{where}: ecosystem_code {code_text!r} is neither '*' nor an integer",
                    hint="use a level-3 code of params/ecosystem_types.csv or '*'",
                ) from None
        rows.append(
            Coefficient(param, code, value, str(rec["unit"]).strip(), str(rec["reference"]), conf)
        )
    return rows


def load_coefficients(path: str | Path | None = None) -> CoefficientTable:
    """Read and validate a coefficient CSV (the shipped one when ``path`` is None)."""
    if path is None:
        return _default_table()
    return _load(Path(path))


def _load(path: Path, *, label: str | None = None) -> CoefficientTable:
    if not path.is_file():
        raise InvalidInput(
            f"coefficient file {path} does not exist",
            hint="pass the path of a CSV with columns " + ",".join(COLUMNS),
        )
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    source = label or str(path)
    return CoefficientTable(_parse(frame, source), source=source)


@functools.lru_cache(maxsize=1)
def _default_table() -> CoefficientTable:
    return _load(DEFAULT_PATH, label="accounting/params/physical_coefficients.csv")
