"""Loading and validation of the price, price-index, indicator and valuation-parameter files.

Every row of a shipped or user file must carry a unit and a reference, and a
confidence tag ([V] [K] [D] [?] [NF] [Hyp], see GEP_METHOD §0). Loading fails with
:class:`~liangshan.errors.InvalidInput` naming the file, the row and the column
otherwise. Units are never converted silently: a price in ``CNY/t C`` where the
model expects ``CNY/t CO2`` (or ``CNY/kg`` for ``CNY/t``, ``CNY/10k m3`` for
``CNY/m3``) is an error whose hint gives the factor that fixes it.

Prices are re-based to the accounting year with a chained price index
(preceding year = 100): ``P_t = P_base × L(t) / L(base)`` (GEP_METHOD §7).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from liangshan.errors import InvalidInput, ParameterNotFound

PARAMS_DIR = Path(__file__).resolve().parent
PRICES_FILE = PARAMS_DIR / "prices.csv"
INDICES_FILE = PARAMS_DIR / "price_indices.csv"
INDICATORS_FILE = PARAMS_DIR / "indicators.csv"
VALUATION_PARAMS_FILE = PARAMS_DIR / "valuation_params.csv"

CONFIDENCE_TAGS = ("[V]", "[K]", "[D]", "[?]", "[NF]", "[Hyp]")
UNCERTAIN_TAGS = ("[K]", "[D]", "[?]", "[NF]", "[Hyp]")

PRICE_COLUMNS = (
    "price_id", "indicator", "item", "ecosystem_level1", "value", "unit", "price_year",
    "low", "high", "range_basis", "index_id", "region", "reference", "confidence",
)
INDEX_COLUMNS = ("index_id", "region", "year", "value", "unit", "reference", "confidence")
VALUATION_PARAM_COLUMNS = (
    "parameter", "indicator", "value", "unit", "year", "low", "high", "range_basis",
    "reference", "confidence",
)

# Unit pairs that the source documents mix up (GEP_METHOD §7): found -> (expected, hint).
_UNIT_CONFUSIONS = {
    ("CNY/t C", "CNY/t CO2"): "a price per tonne of carbon is 44/12 = 3.667 times a price per "
    "tonne of CO2: divide by 3.667 and write the unit 'CNY/t CO2'",
    ("CNY/t CO2", "CNY/t C"): "multiply by 44/12 = 3.667 and write the unit 'CNY/t C'",
    ("CNY/kg", "CNY/t"): "multiply by 1000 and write the unit 'CNY/t'",
    ("CNY/t", "CNY/kg"): "divide by 1000 and write the unit 'CNY/kg'",
    ("CNY/10k m3", "CNY/m3"): "divide by 10000 and write the unit 'CNY/m3'",
    ("CNY/m3", "CNY/10k m3"): "multiply by 10000 and write the unit 'CNY/10k m3'",
    ("CNY/10k kWh", "CNY/kWh"): "divide by 10000 and write the unit 'CNY/kWh'",
    ("CNY/ha", "CNY/hm2"): "1 ha = 1 hm2: write the unit 'CNY/hm2'",
    ("CNY/mu", "CNY/hm2"): "1 hm2 = 15 mu: multiply by 15 and write the unit 'CNY/hm2'",
}


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes (provenance of every input file)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_unit(found: str, expected: str, *, where: str) -> None:
    """Raise :class:`InvalidInput` unless ``found`` equals ``expected`` (no silent conversion)."""
    f, e = str(found).strip(), str(expected).strip()
    if f == e:
        return
    hint = _UNIT_CONFUSIONS.get((f, e), f"convert the value to {e!r} and change the unit")
    raise InvalidInput(
        f"{where}: unit {f!r} does not match the unit the model expects, {e!r}", hint=hint
    )


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == ""


def _read_csv(path: Path | str, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"{what} file {path} does not exist", hint="check the path")
    df = pd.read_csv(path, dtype=str, keep_default_na=False, comment=None)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InvalidInput(
            f"{what} file {path}: missing column(s) {missing}",
            hint=f"the header must hold: {', '.join(columns)}",
        )
    return df


def _require(df: pd.DataFrame, path: Path | str, cols: tuple[str, ...]) -> None:
    """Every row must have non-blank ``cols``; the confidence column must start with a tag."""
    for i, row in df.iterrows():
        line = int(i) + 2  # header is line 1
        for c in cols:
            if _blank(row[c]):
                raise InvalidInput(
                    f"{path}, line {line}: column {c!r} is empty",
                    hint=f"every row needs a {c}; {'cite the source' if c == 'reference' else ''}"
                    .rstrip("; "),
                )
        if "confidence" in df.columns and not str(row["confidence"]).startswith(CONFIDENCE_TAGS):
            raise InvalidInput(
                f"{path}, line {line}: confidence {row['confidence']!r} is not a tag",
                hint=f"use one of {', '.join(CONFIDENCE_TAGS)}",
            )


def _to_float(df: pd.DataFrame, path: Path | str, cols: tuple[str, ...]) -> pd.DataFrame:
    df = df.copy()
    for c in cols:
        out = pd.to_numeric(df[c].replace("", None), errors="coerce")
        bad = out.isna() & df[c].astype(str).str.strip().ne("")
        if bad.any():
            line = int(bad.idxmax()) + 2
            raise InvalidInput(
                f"{path}, line {line}: column {c!r} value {df.loc[bad.idxmax(), c]!r} "
                "is not a number", hint="write a plain decimal number")
        df[c] = out.astype(float)
    return df


def read_prices(path: str | Path = PRICES_FILE) -> pd.DataFrame:
    """Read and validate a price file (format of ``params/prices.csv``).

    Columns: price_id, indicator (``;``-separated), item (``*`` = any), ecosystem_level1
    (``*`` or a level-1 code such as 11), value, unit (e.g. ``CNY/m3``), price_year, low,
    high (optional absolute range in the price year), range_basis, index_id (``cpi``,
    ``ppi``, ``fai`` or ``none``), region, reference, confidence.
    """
    df = _read_csv(path, PRICE_COLUMNS, "price")
    _require(df, path, ("price_id", "indicator", "value", "unit", "price_year", "index_id",
                        "reference", "confidence"))
    df = _to_float(df, path, ("value", "low", "high"))
    df["price_year"] = df["price_year"].astype(int)
    for i, row in df.iterrows():
        if not str(row["unit"]).startswith("CNY/"):
            raise InvalidInput(f"{path}, line {int(i) + 2}: price unit {row['unit']!r} "
                               "is not a price", hint="write units as 'CNY/<quantity unit>'")
        lo, hi = row["low"], row["high"]
        if not (math.isnan(lo) and math.isnan(hi)) and not (lo <= row["value"] <= hi):
            raise InvalidInput(f"{path}, line {int(i) + 2}: range [{lo}, {hi}] does not "
                               f"contain the value {row['value']}",
                               hint="give low <= value <= high, or leave both empty")
    dup = df.duplicated(["price_id", "item", "ecosystem_level1"], keep=False)
    if dup.any():
        raise InvalidInput(f"{path}: price_id {df.loc[dup, 'price_id'].iloc[0]!r} appears "
                           "twice for the same item and ecosystem type",
                           hint="make (price_id, item, ecosystem_level1) unique")
    return df


def read_price_indices(path: str | Path = INDICES_FILE) -> pd.DataFrame:
    """Read and validate a price-index file (chained, preceding year = 100)."""
    df = _read_csv(path, INDEX_COLUMNS, "price index")
    _require(df, path, INDEX_COLUMNS)
    df = _to_float(df, path, ("value",))
    df["year"] = df["year"].astype(int)
    bad = df[df["unit"] != "preceding year=100"]
    if len(bad):
        raise InvalidInput(f"{path}, line {int(bad.index[0]) + 2}: index unit "
                           f"{bad['unit'].iloc[0]!r}", hint="use 'preceding year=100' series")
    return df


def read_indicators(path: str | Path = INDICATORS_FILE) -> pd.DataFrame:
    """The indicator registry: class, table order, Chinese names, expected units."""
    df = _read_csv(path, ("indicator", "class", "order", "level2_zh", "name_zh",
                          "quantity_unit", "accepted_units", "price_unit", "valued",
                          "reference", "confidence"), "indicator")
    _require(df, path, ("indicator", "class", "quantity_unit", "price_unit", "reference",
                        "confidence"))
    df["order"] = df["order"].astype(int)
    return df.set_index("indicator", drop=False)


def read_valuation_params(path: str | Path = VALUATION_PARAMS_FILE) -> pd.DataFrame:
    """Valuation-stage parameters (e.g. sand bulk density), each with unit and reference."""
    df = _read_csv(path, VALUATION_PARAM_COLUMNS, "valuation parameter")
    _require(df, path, ("parameter", "value", "unit", "reference", "confidence"))
    return _to_float(df, path, ("value", "low", "high"))


def _compress(used: list[str]) -> str:
    """'fai:CN:2011', 'fai:CN:2012', 'ppi:CN:2020' -> 'fai:CN 2011-2012; ppi:CN 2020'."""
    runs: list[tuple[str, int, int]] = []
    for u in used:
        key, y = u.rsplit(":", 1)
        if runs and runs[-1][0] == key and runs[-1][2] == int(y) - 1:
            runs[-1] = (key, runs[-1][1], int(y))
        else:
            runs.append((key, int(y), int(y)))
    return "; ".join(f"{k} {a}-{b}" if a != b else f"{k} {a}" for k, a, b in runs)


@dataclass(frozen=True)
class PriceRecord:
    """One price after lookup and re-basing. ``value`` is in ``unit`` at ``year`` prices."""

    price_id: str
    value: float
    unit: str
    year: int
    base_value: float
    base_year: int
    index_id: str
    index_factor: float
    index_series: str
    reference: str
    confidence: str
    low: float
    high: float


@dataclass
class PriceBook:
    """Prices and price indices with lookup and re-basing.

    ``overrides_info`` records a user override file (path, sha256, replaced ids) so the
    account manifest can carry it.
    """

    prices: pd.DataFrame
    indices: pd.DataFrame
    valuation_params: pd.DataFrame
    files: dict[str, str] = field(default_factory=dict)
    overrides_info: dict[str, object] | None = None
    index_substitutes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, prices: str | Path = PRICES_FILE, indices: str | Path = INDICES_FILE,
             overrides: str | Path | pd.DataFrame | None = None,
             valuation_params: str | Path = VALUATION_PARAMS_FILE) -> PriceBook:
        """Load the shipped (or given) files, then apply a user override price file."""
        book = cls(read_prices(prices), read_price_indices(indices),
                   read_valuation_params(valuation_params),
                   files={"prices": file_sha256(prices), "price_indices": file_sha256(indices),
                          "valuation_params": file_sha256(valuation_params)})
        if overrides is not None:
            book.apply_overrides(overrides)
        return book

    def apply_overrides(self, overrides: str | Path | pd.DataFrame) -> None:
        """Replace or add price rows from a user file in ``prices.csv`` format (recorded)."""
        if isinstance(overrides, pd.DataFrame):
            import tempfile

            with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as tmp:
                overrides.to_csv(tmp.name, index=False)
                path = Path(tmp.name)
            src = "<DataFrame>"
        else:
            path, src = Path(overrides), str(overrides)
        new = read_prices(path)
        sha = file_sha256(path)
        if src == "<DataFrame>":
            path.unlink()
        key = ["price_id", "item", "ecosystem_level1"]
        merged = self.prices.merge(new[key], on=key, how="left", indicator=True)
        kept = self.prices[(merged["_merge"] == "left_only").to_numpy()]
        replaced = sorted(set(self.prices["price_id"]) & set(new["price_id"]))
        self.prices = pd.concat([kept, new], ignore_index=True)
        self.overrides_info = {"source": src, "sha256": sha, "replaced": replaced,
                               "added": sorted(set(new["price_id"]) - set(replaced))}

    # -- lookup ---------------------------------------------------------------------------
    def _index_lookup(self) -> dict[tuple[str, str, int], float]:
        """(index_id, region, year) -> value; rebuilt if the indices frame is replaced."""
        cache = getattr(self, "_index_cache", None)
        if cache is None or cache[0] is not self.indices:
            d = {(str(a), str(b), int(c)): float(v) for a, b, c, v in zip(
                self.indices["index_id"], self.indices["region"], self.indices["year"],
                self.indices["value"], strict=True)}
            cache = (self.indices, d)
            self._index_cache = cache
        return cache[1]

    def find(self, price_id: str, *, indicator: str, item: str = "*",
             ecosystem_level1: int | str = "*") -> pd.Series:
        """The row of ``price_id`` for this item / ecosystem (exact match first, then ``*``)."""
        cache = getattr(self, "_by_id", None)
        if cache is None or cache[0] is not self.prices:
            cache = (self.prices, {k: g for k, g in self.prices.groupby("price_id")})
            self._by_id = cache
        rows = cache[1].get(price_id)
        if rows is None:
            raise ParameterNotFound(
                f"price {price_id!r} (for indicator {indicator!r}) is not in the price table",
                hint="add it to a price override file or choose another price in the profile")
        eco = str(ecosystem_level1)
        for it in (str(item), "*"):
            for e in (eco, "*"):
                hit = rows[(rows["item"] == it) & (rows["ecosystem_level1"] == e)]
                if len(hit):
                    row = hit.iloc[0]
                    allowed = str(row["indicator"]).split(";")
                    if indicator not in allowed:
                        raise InvalidInput(
                            f"price {price_id!r} is declared for {allowed}, not for "
                            f"{indicator!r}", hint="pick a price declared for this indicator")
                    return row
        raise ParameterNotFound(
            f"price {price_id!r} has no row for item {item!r}, ecosystem type {eco!r} "
            f"(indicator {indicator!r})",
            hint="add a row with that item / ecosystem_level1, or '*' for all")

    def index_level(self, index_id: str, year: int, base_year: int,
                    region: str = "CN") -> tuple[float, str]:
        """Cumulative price level ratio L(year)/L(base_year) of a chained index.

        Returns (factor, description of the series used). For each needed year the
        ``region`` series is used when present, then the national one (``CN``), then the
        substitute index of ``self.index_substitutes`` (e.g. PPI for the fixed-asset
        investment index after it was discontinued); the description names every
        splice. A year found in none of them is an error.
        """
        if index_id == "none" or year == base_year:
            return 1.0, "none" if index_id == "none" else f"{index_id}:{region}"
        lo, hi = sorted((year, base_year))
        factor, used, missing = 1.0, [], []
        for y in range(lo + 1, hi + 1):
            v = None
            lookup = self._index_lookup()
            for idx in dict.fromkeys((index_id, self.index_substitutes.get(index_id, index_id))):
                for reg in dict.fromkeys((region, "CN")):
                    if (idx, reg, y) in lookup:
                        v = lookup[(idx, reg, y)]
                        used.append(f"{idx}:{reg}:{y}")
                        break
                if v is not None:
                    break
            if v is None:
                missing.append(y)
            else:
                factor *= v / 100.0
        if missing:
            raise ParameterNotFound(
                f"price index {index_id!r} has no value for year(s) {missing} (needed to "
                f"re-base a {base_year} price to {year})",
                hint="add the year to price_indices.csv (preceding year=100), set a "
                "substitute index in the profile ([prices] index_substitutes), or override "
                "the price with one of the accounting year")
        return (factor if year > base_year else 1.0 / factor), _compress(used)

    def price(self, price_id: str, *, indicator: str, year: int, expected_unit: str,
              item: str = "*", ecosystem_level1: int | str = "*", region: str = "CN",
              rebase: bool = True) -> PriceRecord:
        """Look up a price, check its unit, and re-base it to ``year`` (if ``rebase``)."""
        row = self.find(price_id, indicator=indicator, item=item,
                        ecosystem_level1=ecosystem_level1)
        check_unit(row["unit"], expected_unit,
                   where=f"price {price_id!r} (indicator {indicator!r})")
        base_year = int(row["price_year"])
        idx = str(row["index_id"]) if rebase else "none"
        factor, reg = self.index_level(idx, year, base_year, region)
        return PriceRecord(
            price_id=price_id, value=float(row["value"]) * factor, unit=str(row["unit"]),
            year=year if rebase else base_year, base_value=float(row["value"]),
            base_year=base_year, index_id=idx, index_factor=factor, index_series=reg,
            reference=str(row["reference"]), confidence=str(row["confidence"]),
            low=float(row["low"]) * factor, high=float(row["high"]) * factor)

    def param(self, name: str, *, indicator: str, expected_unit: str) -> pd.Series:
        """A valuation parameter row (value, unit, reference), unit checked."""
        rows = self.valuation_params[self.valuation_params["parameter"] == name]
        if rows.empty:
            raise ParameterNotFound(f"valuation parameter {name!r} (indicator {indicator!r}) "
                                    "is missing", hint="add it to valuation_params.csv")
        row = rows.iloc[0]
        check_unit(row["unit"], expected_unit, where=f"valuation parameter {name!r}")
        return row
