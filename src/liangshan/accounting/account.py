"""The ``Account``: tidy GEP results, totals, official tables, roll-up (GEP_METHOD §5).

The tidy table (``Account.records``) has one row per region × indicator × item ×
ecosystem type: quantity + unit (per year), price + price unit + price id, reference,
year, base value and index used, ``value_yuan`` (float, CNY/yr, for analysis) and
``value_fen`` (nullable int, 分/yr, for anything stored), method and profile. Rows whose
``value_yuan`` is NaN are physical-only (e.g. soil_retention) and never count in a total.
Indicators that could not be accounted are listed in ``Account.gaps``.

Official tables (GEP_METHOD §5.2): :meth:`Account.table_a` physical account,
:meth:`Account.table_b` value account (万元), :meth:`Account.table_c` summary.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from liangshan.accounting.params import read_indicators
from liangshan.accounting.valuation import GAP_COLUMNS, RECORD_COLUMNS
from liangshan.errors import InvalidInput

CLASSES = ("provisioning", "regulating", "cultural")
CLASS_ZH = {"provisioning": "物质供给", "regulating": "调节服务", "cultural": "文化服务"}
ECOSYSTEM_COLUMNS = {11: "森林", 12: "灌丛", 13: "草地", 14: "湿地", 15: "农田", 16: "城镇"}
OTHER_ECOSYSTEM = "其他"
LEVELS = ("county", "prefecture", "province")


def to_fen(value_yuan: pd.Series) -> pd.Series:
    """CNY (float) -> integer fen (分), rounded half to even; NaN stays missing."""
    v = pd.to_numeric(value_yuan, errors="coerce").to_numpy(dtype=float)
    out = pd.array(np.where(np.isfinite(v), np.rint(v * 100.0), 0).astype("int64"),
                   dtype="Int64")
    out[~np.isfinite(v)] = pd.NA
    return pd.Series(out, index=value_yuan.index)


def region_at(code: str, level: str) -> str:
    """GB/T 2260 code of the ``level`` containing ``code`` (county / prefecture / province)."""
    c = str(code)
    if level == "county":
        return c[:6]
    if level == "prefecture":
        return c[:4] + "00"
    if level == "province":
        return c[:2] + "0000"
    raise InvalidInput(f"unknown roll-up level {level!r}", hint=f"use one of {LEVELS}")


def _eco_label(code: Any) -> str:
    try:
        return ECOSYSTEM_COLUMNS.get(int(code), OTHER_ECOSYSTEM)
    except (TypeError, ValueError):
        return OTHER_ECOSYSTEM


@dataclass
class Account:
    """A GEP account for one year and profile. See the module docstring for the columns.

    ``socioeconomic`` has region_code, gdp_yuan, population, area_km2 (may be empty);
    ``manifest`` is the provenance record of :mod:`liangshan.accounting.manifest`.
    """

    records: pd.DataFrame
    year: int
    profile: str
    gaps: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=GAP_COLUMNS))
    rules: list[dict[str, Any]] = field(default_factory=list)
    socioeconomic: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["region_code", "gdp_yuan", "population", "area_km2"]))
    manifest: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    region_names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in RECORD_COLUMNS if c not in self.records.columns]
        if missing:
            raise InvalidInput(f"Account records: missing column(s) {missing}",
                               hint="build records with the valuation functions")
        rec = self.records.copy()
        rec["region_code"] = rec["region_code"].astype(str)
        rec["value_yuan"] = pd.to_numeric(rec["value_yuan"], errors="coerce")
        rec["quantity"] = pd.to_numeric(rec["quantity"], errors="coerce")
        rec["value_fen"] = to_fen(rec["value_yuan"])
        self.records = rec.reset_index(drop=True)
        self.gaps = pd.DataFrame(self.gaps, columns=GAP_COLUMNS).drop_duplicates(
            ignore_index=True)

    # -- identity -------------------------------------------------------------------------
    @property
    def id(self) -> str:
        """Content-hash ID from the manifest (same inputs -> same ID); '' if none."""
        return str(self.manifest.get("account_id", ""))

    @property
    def regions(self) -> list[str]:
        return sorted(self.records["region_code"].unique())

    # -- totals ---------------------------------------------------------------------------
    @property
    def valued(self) -> pd.DataFrame:
        """Records that carry a value (physical-only rows removed)."""
        return self.records[self.records["value_yuan"].notna()]

    def totals(self) -> pd.DataFrame:
        """Region × class values in CNY/yr and fen, with GEP; one row per region.

        Columns: region_code, provisioning_yuan, regulating_yuan, cultural_yuan, gep_yuan,
        and the same in ``*_fen`` (sums of the rows' fen, so stored totals add up exactly).
        """
        v = self.valued
        out = pd.DataFrame({"region_code": self.regions})
        for c in CLASSES:
            sub = v[v["class"] == c].groupby("region_code")
            out[f"{c}_yuan"] = out["region_code"].map(sub["value_yuan"].sum()).fillna(0.0)
            out[f"{c}_fen"] = out["region_code"].map(
                sub["value_fen"].sum()).fillna(0).astype("int64")
        out["gep_yuan"] = out[[f"{c}_yuan" for c in CLASSES]].sum(axis=1)
        out["gep_fen"] = out[[f"{c}_fen" for c in CLASSES]].sum(axis=1).astype("int64")
        return out

    def gep(self) -> float:
        """GEP of all regions of the account, CNY/yr."""
        return float(self.valued["value_yuan"].sum())

    def gep_fen(self) -> int:
        """GEP of all regions, integer fen (sum of the stored row values)."""
        return int(self.valued["value_fen"].sum())

    def class_totals(self) -> dict[str, float]:
        """Value by class (CNY/yr) over all regions."""
        g = self.valued.groupby("class")["value_yuan"].sum()
        return {c: float(g.get(c, 0.0)) for c in CLASSES}

    def indicator_totals(self) -> pd.DataFrame:
        """Value by indicator and item over all regions (CNY/yr), with share of GEP."""
        g = (self.valued.groupby(["class", "indicator", "item"], sort=False)["value_yuan"]
             .sum().reset_index())
        total = self.gep()
        g["share_of_gep"] = g["value_yuan"] / total if total else math.nan
        return g

    def ratios(self) -> pd.DataFrame:
        """GEP/GDP (绿金指数), GEP per capita (CNY/person) and per km² (CNY/km²) by region.

        NaN where the socioeconomic table lacks the region (listed in ``warnings``).
        """
        t = self.totals()[["region_code", "gep_yuan"]]
        se = self.socioeconomic.groupby("region_code")[["gdp_yuan", "population",
                                                         "area_km2"]].sum(min_count=1)
        t = t.join(se, on="region_code")
        t["gep_gdp_ratio"] = t["gep_yuan"] / t["gdp_yuan"]
        t["gep_per_capita_yuan"] = t["gep_yuan"] / t["population"]
        t["gep_per_km2_yuan"] = t["gep_yuan"] / t["area_km2"]
        return t

    # -- official tables ------------------------------------------------------------------
    def _labels(self, df: pd.DataFrame) -> pd.DataFrame:
        reg = read_indicators()
        df = df.copy()
        df["一级类"] = df["class"].map(CLASS_ZH)
        df["二级指标"] = df["indicator"].map(reg["level2_zh"])
        name = df["indicator"].map(reg["name_zh"])
        df["核算科目"] = np.where(df["item"].astype(str) != "", name + "(" +
                              df["item"].astype(str) + ")", name)
        df["_order"] = df["indicator"].map(reg["order"])
        df["生态系统"] = df["ecosystem_level1"].map(_eco_label)
        return df

    def _select(self, region: str | None) -> pd.DataFrame:
        if region is None:
            return self.records
        rows = self.records[self.records["region_code"] == str(region)]
        if rows.empty:
            raise InvalidInput(f"region {region!r} is not in the account",
                               hint=f"use one of {self.regions}")
        return rows

    def table_a(self, region: str | None = None) -> pd.DataFrame:
        """Table A, physical account (实物量核算表): quantities by ecosystem type.

        One row per indicator × item; columns 一级类, 二级指标, 实物量指标, 单位, the
        ecosystem columns (森林 … 其他), 合计, 方法, 数据源. Rows without a physical
        quantity (output-value statistics) are left out.
        """
        df = self._labels(self._select(region))
        df = df[df["quantity"].notna()]
        cols = [*ECOSYSTEM_COLUMNS.values(), OTHER_ECOSYSTEM]
        keys = ["_order", "一级类", "二级指标", "核算科目", "unit"]
        piv = df.pivot_table(index=keys, columns="生态系统", values="quantity",
                             aggfunc="sum", dropna=False).reindex(columns=cols)
        piv = piv.dropna(how="all")
        piv["合计"] = piv[cols].sum(axis=1, min_count=1)
        meta = df.groupby(keys, dropna=False).agg(
            方法=("method", lambda s: "; ".join(dict.fromkeys(map(str, s)))),
            数据源=("source", lambda s: "; ".join(dict.fromkeys(map(str, s)))))
        out = piv.join(meta).reset_index().sort_values("_order", kind="stable")
        out = out.rename(columns={"核算科目": "实物量指标", "unit": "单位"})
        return out.drop(columns="_order").reset_index(drop=True)

    def table_b(self, region: str | None = None) -> pd.DataFrame:
        """Table B, value account (价值量核算表), values in 万元 (10⁴ CNY) per year.

        Columns: 一级类, 二级指标, 价值量科目, 定价方法, 单价, 单价单位, 价格年份/来源,
        the ecosystem columns, 合计(万元), 占GEP(%).
        """
        df = self._labels(self._select(region))
        df = df[df["value_yuan"].notna()]
        cols = [*ECOSYSTEM_COLUMNS.values(), OTHER_ECOSYSTEM]
        keys = ["_order", "一级类", "二级指标", "核算科目"]
        df = df.assign(value_10k=df["value_yuan"] / 1e4)
        piv = df.pivot_table(index=keys, columns="生态系统", values="value_10k",
                             aggfunc="sum", dropna=False).reindex(columns=cols)
        piv = piv.dropna(how="all")
        piv["合计(万元)"] = piv[cols].sum(axis=1, min_count=1)
        total = float(df["value_10k"].sum())
        piv["占GEP(%)"] = piv["合计(万元)"] / total * 100 if total else math.nan

        def _price(s: pd.Series) -> Any:
            u = pd.unique(s.dropna().round(6))
            return float(u[0]) if len(u) == 1 else ("按类型/地区不同" if len(u) else "")

        meta = df.groupby(keys, dropna=False).agg(
            定价方法=("method", lambda s: "; ".join(dict.fromkeys(
                str(x).split(" → ")[-1] for x in s))),
            单价=("price", _price),
            单价单位=("price_unit", lambda s: "; ".join(dict.fromkeys(map(str, s)))),
            **{"价格年份/来源": ("price_id", lambda s: "; ".join(dict.fromkeys(map(str, s))))})
        out = piv.join(meta).reset_index().sort_values("_order", kind="stable")
        out = out.rename(columns={"核算科目": "价值量科目"})
        order = ["一级类", "二级指标", "价值量科目", "定价方法", "单价", "单价单位",
                 "价格年份/来源", *cols, "合计(万元)", "占GEP(%)"]
        return out[order].reset_index(drop=True)

    def table_c(self, region: str | None = None) -> pd.DataFrame:
        """Table C, summary: GEP, class subtotals and shares, top indicators, ratios.

        Columns: 项目, 数值, 单位. Values in 万元 unless the unit says otherwise.
        """
        rec = self._select(region)
        v = rec[rec["value_yuan"].notna()]
        gep = float(v["value_yuan"].sum())
        rows: list[tuple[str, float, str]] = [("生态产品总值 GEP", gep / 1e4, "万元")]
        for c in CLASSES:
            x = float(v.loc[v["class"] == c, "value_yuan"].sum())
            rows.append((CLASS_ZH[c], x / 1e4, "万元"))
            rows.append((f"{CLASS_ZH[c]}占比", x / gep * 100 if gep else math.nan, "%"))
        top = v.groupby("indicator")["value_yuan"].sum().sort_values(ascending=False)
        reg = read_indicators()
        for ind, x in top.head(5).items():
            rows.append((f"主要指标: {reg.loc[ind, 'name_zh']}", x / 1e4, "万元"))
        r = self.ratios()
        if region is not None:
            r = r[r["region_code"] == str(region)]
        gdp, pop, area = (r["gdp_yuan"].sum(min_count=1), r["population"].sum(min_count=1),
                          r["area_km2"].sum(min_count=1))
        rows += [("GEP/GDP (绿金指数)", gep / gdp if gdp else math.nan, "1"),
                 ("人均GEP", gep / pop if pop else math.nan, "元/人"),
                 ("地均GEP", gep / area / 1e4 if area else math.nan, "万元/km²")]
        if len(self.gaps):
            rows.append(("未核算指标数 (见缺口清单)", float(len(self.gaps)), "项"))
        return pd.DataFrame(rows, columns=["项目", "数值", "单位"])

    # -- roll-up --------------------------------------------------------------------------
    def rollup(self, level: str = "prefecture") -> Account:
        """Aggregate county -> prefecture -> province by GB/T 2260 code prefixes.

        Quantities and values are summed over rows that share every other key, so the
        GEP of the rolled-up account equals the GEP of this one (to the fen).
        """
        rec = self.records.copy()
        rec["region_code"] = rec["region_code"].map(lambda c: region_at(c, level))
        keys = [c for c in RECORD_COLUMNS if c not in ("quantity", "value_yuan")]
        agg = (rec.groupby(keys, dropna=False, sort=True)[["quantity", "value_yuan", "value_fen"]]
               .sum(min_count=1).reset_index())
        se = self.socioeconomic.copy()
        if len(se):
            se["region_code"] = se["region_code"].map(lambda c: region_at(c, level))
            se = se.groupby("region_code", as_index=False).sum(min_count=1)
        gaps = self.gaps.copy()
        gaps["region_code"] = gaps["region_code"].map(
            lambda c: c if c == "*" else region_at(c, level))
        acc = Account(agg[RECORD_COLUMNS], self.year, self.profile, gaps=gaps,
                      rules=list(self.rules), socioeconomic=se,
                      manifest={**self.manifest, "rollup": level}, warnings=list(self.warnings))
        # Keep the fen of the source rows rather than re-rounding the summed floats.
        acc.records["value_fen"] = agg["value_fen"].astype("Int64").to_numpy()
        return acc

    def for_region(self, code: str) -> Account:
        """The account of one region: its own rows, gaps and ratios, and its own content ID
        (the run's manifest plus ``region``), so each county publishes its own account."""
        from liangshan.accounting.manifest import account_id

        code = str(code)
        if code not in self.regions:
            raise InvalidInput(f"region {code} is not in this account",
                               hint=f"regions here: {', '.join(self.regions)}")
        manifest = {k: v for k, v in self.manifest.items() if k != "account_id"}
        manifest["region"] = code
        manifest["account_id"] = account_id(manifest)
        return Account(
            records=self.records[self.records["region_code"] == code].copy(), year=self.year,
            profile=self.profile, gaps=self.gaps[self.gaps["region_code"].astype(str).isin(
                [code, "", "None", "nan"])].copy(),
            rules=list(self.rules),
            socioeconomic=self.socioeconomic[self.socioeconomic["region_code"] == code].copy(),
            manifest=manifest, warnings=list(self.warnings),
            region_names={code: self.region_names.get(code, code)})

    # -- storage hand-over ----------------------------------------------------------------
    @property
    def kind(self) -> str:
        """'GEP' or 'VEP' (from the manifest)."""
        return str(self.manifest.get("kind", "gep")).upper()

    def lines(self) -> pd.DataFrame:
        """Valued rows in the storage shape: region_code, service_class, indicator, item,
        value_fen (int, 分/yr), ecosystem_code, quantity, unit, price, price_unit,
        price_reference, method. Physical-only rows are left out (they carry no value)."""
        v = self.valued
        out = pd.DataFrame({
            "region_code": v["region_code"], "service_class": v["class"],
            "indicator": v["indicator"], "item": v["item"].fillna("").astype(str),
            "value_fen": v["value_fen"].astype("int64"),
            "ecosystem_code": v["ecosystem_code"].astype("Int64"), "quantity": v["quantity"],
            "unit": v["unit"], "price": v["price"], "price_unit": v["price_unit"],
            "price_reference": v["price_reference"], "method": v["method"]})
        return out.reset_index(drop=True)

    def summary(self) -> dict[str, Any]:
        """Headline figures for storage and display: fen totals by class, GEP, ratios,
        gaps and warnings (JSON-ready)."""
        t = self.totals()
        r = self.ratios()
        gdp, pop, area = (r["gdp_yuan"].sum(min_count=1), r["population"].sum(min_count=1),
                          r["area_km2"].sum(min_count=1))
        gep = self.gep()

        def num(x: float) -> float | None:
            return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)

        return {"gep_fen": self.gep_fen(),
                **{f"{c}_fen": int(t[f"{c}_fen"].sum()) for c in CLASSES},
                "gdp_yuan": num(gdp), "population": num(pop), "area_km2": num(area),
                "gep_gdp_ratio": num(gep / gdp) if gdp else None,
                "gep_per_capita_yuan": num(gep / pop) if pop else None,
                "gep_per_km2_yuan": num(gep / area) if area else None,
                "gaps": json.loads(self.gaps.to_json(orient="records", force_ascii=False)),
                "rules": [r.get("rule") for r in self.rules], "warnings": list(self.warnings)}

    # -- export ---------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """The tidy table (copy)."""
        return self.records.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: manifest, totals, records, gaps, rules, warnings."""
        def clean(df: pd.DataFrame) -> list[dict[str, Any]]:
            return json.loads(df.to_json(orient="records", force_ascii=False))
        return {"account_id": self.id, "year": self.year, "profile": self.profile,
                "gep_yuan": self.gep(), "gep_fen": self.gep_fen(),
                "class_totals_yuan": self.class_totals(), "totals": clean(self.totals()),
                "ratios": clean(self.ratios()), "records": clean(self.records),
                "gaps": clean(self.gaps), "rules": self.rules, "warnings": self.warnings,
                "socioeconomic": clean(self.socioeconomic), "region_names": self.region_names,
                "manifest": self.manifest}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Account:
        """Rebuild an account from :meth:`to_dict` output (e.g. a saved gep_account.json)."""
        try:
            records = pd.DataFrame(data["records"])
            year, profile = int(data["year"]), str(data["profile"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"not a saved account: missing or bad field {exc}",
                               hint="give the gep_account.json written by `liangshan gep run`"
                               ) from None
        if len(records):
            records["region_code"] = records["region_code"].astype(str)
        socio = pd.DataFrame(data.get("socioeconomic") or [],
                             columns=["region_code", "gdp_yuan", "population", "area_km2"])
        socio["region_code"] = socio["region_code"].astype(str)
        return cls(records=records, year=year, profile=profile,
                   gaps=pd.DataFrame(data.get("gaps") or [], columns=GAP_COLUMNS),
                   rules=list(data.get("rules") or []), socioeconomic=socio,
                   manifest=dict(data.get("manifest") or {}),
                   warnings=list(data.get("warnings") or []),
                   region_names=dict(data.get("region_names") or {}))


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file and a rename (no half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


@dataclass
class Comparison:
    """Result of :func:`compare`: ``rows`` by region × indicator × item, ``totals`` by region.

    rows: region_code, class, indicator, item, value_a_yuan, value_b_yuan,
    value_b_const_yuan (b at a's prices if constant_prices, else = value_b_yuan),
    change_yuan, change_pct, contribution_share (of the region's total change),
    contribution_pp (percentage points of the region's GEP growth), constant_price_method.
    totals: region_code, gep_a_yuan, gep_b_yuan, gep_b_const_yuan, change_yuan, change_pct.
    """

    rows: pd.DataFrame
    totals: pd.DataFrame
    year_a: int
    year_b: int
    constant_prices: bool


def _keyed(acc: Account) -> pd.DataFrame:
    v = acc.valued.copy()
    v["item"] = v["item"].fillna("").astype(str)
    v["ecosystem_level1"] = v["ecosystem_level1"].fillna(-1).astype(int)
    keys = ["region_code", "class", "indicator", "item", "ecosystem_level1"]
    return v.groupby(keys, dropna=False).agg(
        quantity=("quantity", lambda s: s.sum(min_count=1)), value=("value_yuan", "sum"),
        price=("price", "first"), price_unit=("price_unit", "first"),
        index=("price_index", "first")).reset_index()


def compare(a: Account, b: Account, constant_prices: bool = True,
            book: Any | None = None) -> Comparison:
    """Change from account ``a`` (base) to ``b``, with each indicator's contribution.

    With ``constant_prices`` b is revalued at a's prices: Q_b × P_a where both rows have
    a quantity and the same price unit; otherwise (output-value statistics, revenue)
    b's value is deflated to a's year with the row's price index (CPI for statistics),
    using ``book`` (a :class:`PriceBook`; the shipped one by default). The method used is
    recorded per row. Values in CNY/yr.
    """
    ka, kb = _keyed(a), _keyed(b)
    keys = ["region_code", "class", "indicator", "item", "ecosystem_level1"]
    m = ka.merge(kb, on=keys, how="outer", suffixes=("_a", "_b"))
    m["value_a"] = m["value_a"].fillna(0.0)
    m["value_b"] = m["value_b"].fillna(0.0)
    method = np.array(["current prices"] * len(m), dtype=object)
    const = m["value_b"].to_numpy(dtype=float).copy()
    if constant_prices and a.year != b.year:
        if book is None:
            from liangshan.accounting.params import PriceBook
            book = PriceBook.load()
            book.index_substitutes = {"fai": "ppi"}
        qp = (m["quantity_b"].notna() & m["price_a"].notna()
              & (m["price_unit_a"] == m["price_unit_b"])).to_numpy()
        const[qp] = (m["quantity_b"] * m["price_a"]).to_numpy(dtype=float)[qp]
        method[qp] = f"Q_{b.year} x P_{a.year}"
        for i in np.where(~qp & (m["value_b"].to_numpy() != 0))[0]:
            idx = str(m.at[i, "index_b"] or "")
            idx_id = idx.split(" ")[0] if idx and idx != "none" else "cpi"
            f, series = book.index_level(idx_id, a.year, b.year)
            const[i] = m.at[i, "value_b"] * f
            method[i] = f"deflated by {series}"
    m["value_b_const"] = const
    m["constant_price_method"] = method
    m["change"] = m["value_b_const"] - m["value_a"]
    m["change_pct"] = np.where(m["value_a"] != 0, m["change"] / m["value_a"] * 100, np.nan)
    reg_change = m.groupby("region_code")["change"].transform("sum")
    reg_a = m.groupby("region_code")["value_a"].transform("sum")
    m["contribution_share"] = np.where(reg_change != 0, m["change"] / reg_change, np.nan)
    m["contribution_pp"] = np.where(reg_a != 0, m["change"] / reg_a * 100, np.nan)
    rows = m.rename(columns={"value_a": "value_a_yuan", "value_b": "value_b_yuan",
                             "value_b_const": "value_b_const_yuan", "change": "change_yuan"})
    rows = rows[[*keys, "value_a_yuan", "value_b_yuan", "value_b_const_yuan", "change_yuan",
                 "change_pct", "contribution_share", "contribution_pp",
                 "constant_price_method"]]
    rows = rows.groupby([k for k in keys if k != "ecosystem_level1"], as_index=False).agg(
        value_a_yuan=("value_a_yuan", "sum"), value_b_yuan=("value_b_yuan", "sum"),
        value_b_const_yuan=("value_b_const_yuan", "sum"), change_yuan=("change_yuan", "sum"),
        contribution_share=("contribution_share", "sum"),
        contribution_pp=("contribution_pp", "sum"),
        constant_price_method=("constant_price_method",
                               lambda s: "; ".join(dict.fromkeys(map(str, s)))))
    rows["change_pct"] = np.where(rows["value_a_yuan"] != 0,
                                  rows["change_yuan"] / rows["value_a_yuan"] * 100, np.nan)
    tot = rows.groupby("region_code", as_index=False).agg(
        gep_a_yuan=("value_a_yuan", "sum"), gep_b_yuan=("value_b_yuan", "sum"),
        gep_b_const_yuan=("value_b_const_yuan", "sum"), change_yuan=("change_yuan", "sum"))
    tot["change_pct"] = np.where(tot["gep_a_yuan"] != 0,
                                 tot["change_yuan"] / tot["gep_a_yuan"] * 100, np.nan)
    return Comparison(rows=rows, totals=tot, year_a=a.year, year_b=b.year,
                      constant_prices=constant_prices)
