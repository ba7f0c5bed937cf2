"""A self-contained HTML report of an account: inline CSS and SVG charts, no internet resources.

Sections: summary (GEP, classes, ratios), a bar chart of the class totals and one of the
top indicators (inline SVG), tables A/B/C, gaps, applied rules, warnings and the
provenance manifest. Values in 万元 (10⁴ CNY) per year unless labelled. Written atomically.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from liangshan.accounting.account import CLASS_ZH, Account, write_atomic
from liangshan.accounting.params import read_indicators

_CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:2px solid #2b6cb0;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.85em}
th,td{border:1px solid #888;padding:.25em .5em}th{background:#ddebf7}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ccc;padding:.6em 1em;
border-radius:6px;min-width:10em}.card b{display:block;font-size:1.3em}
.warn{background:#fff4e5;border-left:4px solid #dd6b20;padding:.5em 1em}
code{font-size:.8em;word-break:break-all}
"""


def _fmt(v: Any) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:,.2f}"
    return html.escape(str(v))


def _table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = "".join(
            f'<td class="n">{_fmt(v)}</td>' if isinstance(v, int | float) else f"<td>{_fmt(v)}</td>"
            for v in row)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def bar_chart_svg(labels: list[str], values: list[float], *, unit: str = "万元",
                  width: int = 640, bar_h: int = 22) -> str:
    """A horizontal bar chart as an inline SVG string (values ≥ 0)."""
    vmax = max([v for v in values if v > 0] or [1.0])
    label_w, h = 170, bar_h * len(values) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
             f'role="img" aria-label="bar chart ({html.escape(unit)})">']
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        y = 5 + i * bar_h
        w = max(0.0, v) / vmax * (width - label_w - 110)
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_h * 0.7:.1f}" font-size="12" '
                     f'text-anchor="end">{html.escape(lab)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{bar_h - 6}" '
                     'fill="#2b6cb0"/>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h * 0.7:.1f}" '
                     f'font-size="11">{v:,.2f} {html.escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def uncertainty_html(result: Any) -> str:
    """The Monte Carlo section: 5/50/95 % per indicator, class and GEP (万元), the prices
    drawn and the status of every physical coefficient (varied or held fixed, and why)."""
    t = result.by_indicator.copy()
    reg = read_indicators()
    t.insert(1, "指标", [str(reg.loc[i, "name_zh"]) if i in reg.index else str(i)
                        for i in t["indicator"]])
    for c in ("value_yuan", "mean_yuan", "p05_yuan", "p50_yuan", "p95_yuan"):
        t[c.replace("_yuan", " (万元)")] = t.pop(c) / 1e4
    parts = [f"<h2>不确定性 (蒙特卡洛 {result.n} 次, seed {result.seed}, 5–95 %)</h2>",
             _table(t)]
    if len(result.varied):
        parts += ["<h3>随机抽取的价格</h3>", _table(result.varied)]
    if len(result.parameters):
        parts += ["<h3>实物量参数 (varied / fixed)</h3>", _table(result.parameters)]
    return "".join(parts)


def render_html(account: Account, *, title: str | None = None,
                uncertainty: Any = None) -> str:
    """The report as one HTML string (with the uncertainty section if a
    :class:`~liangshan.accounting.uncertainty.UncertaintyResult` is given)."""
    title = title or f"{account.year}年 生态产品总值(GEP)核算报告"
    ct = account.class_totals()
    gep = account.gep()
    r = account.ratios()
    gdp = r["gdp_yuan"].sum(min_count=1)
    pop = r["population"].sum(min_count=1)
    cards = [("GEP (万元)", f"{gep / 1e4:,.2f}")] + [
        (f"{CLASS_ZH[c]} (万元)", f"{v / 1e4:,.2f}") for c, v in ct.items()]
    cards += [("GEP/GDP", f"{gep / gdp:,.2f}" if gdp and not math.isnan(gdp) else "—"),
              ("人均GEP (元)", f"{gep / pop:,.0f}" if pop and not math.isnan(pop) else "—")]
    reg = read_indicators()
    top = account.valued.groupby("indicator")["value_yuan"].sum().sort_values(
        ascending=False).head(10)
    warn = "".join(f'<p class="warn">{html.escape(w)}</p>' for w in account.warnings)
    rules = pd.DataFrame(account.rules)
    parts = [
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>核算口径 (profile): <b>{html.escape(account.profile)}</b> · 核算ID: "
        f"<code>{html.escape(account.id)}</code> · 地区: "
        f"{html.escape(', '.join(account.region_names.get(r, r) + f' ({r})' for r in account.regions))}"
        "</p>", warn,
        '<div class="cards">' + "".join(f'<div class="card">{html.escape(k)}<b>{v}</b></div>'
                                       for k, v in cards) + "</div>",
        "<h2>分类价值</h2>",
        bar_chart_svg([CLASS_ZH[c] for c in ct], [v / 1e4 for v in ct.values()]),
        "<h2>主要指标</h2>",
        bar_chart_svg([str(reg.loc[i, "name_zh"]) if i in reg.index else str(i)
                       for i in top.index], [float(v) / 1e4 for v in top.values]),
        "<h2>表A 实物量核算表</h2>", _table(account.table_a()),
        "<h2>表B 价值量核算表 (万元)</h2>", _table(account.table_b()),
        "<h2>表C 汇总表</h2>", _table(account.table_c()),
        uncertainty_html(uncertainty) if uncertainty is not None else "",
        "<h2>未核算指标 (缺口)</h2>",
        _table(account.gaps) if len(account.gaps) else "<p>无</p>",
        "<h2>已应用的重复计算/边界规则</h2>",
        _table(rules.astype(str)) if len(rules) else "<p>无</p>",
        "<h2>来源 (manifest)</h2><pre><code>",
        html.escape(json.dumps(account.manifest, ensure_ascii=False, indent=1, default=str)),
        "</code></pre></body></html>"]
    return "".join(parts)


def write_html(account: Account, path: str | Path, *, title: str | None = None,
               uncertainty: Any = None) -> Path:
    """Write the self-contained HTML report to ``path`` (atomically)."""
    return write_atomic(path, render_html(account, title=title,
                                          uncertainty=uncertainty).encode("utf-8"))
