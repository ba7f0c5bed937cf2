"""``liangshan demo``: the main job, end to end on the sample study area.

sample study area (cached) → GEP accounts for both years → reports on disk →
accounts stored and published in the platform database (their manifests in the
transparency log) → comparison between the years → a summary table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from liangshan.accounting.account import Account, compare
from liangshan.accounting.reports import write_account_folder, write_comparison
from liangshan.accounting.run import run_gep
from liangshan.accounts import service as accounts
from liangshan.accounts.schemas import AccountIn
from liangshan.datasets.boundaries import PILOT_COUNTIES
from liangshan.datasets.sample import write_sample_study_area
from liangshan.datasets.study import StudyArea
from liangshan.db import get_engine, session_scope
from liangshan.errors import Conflict
from liangshan.identity.access import SYSTEM
from liangshan.migrate import upgrade
from liangshan.progress import ProgressCallback, progress_bar

YEARS = (2022, 2023)
PROFILE = "ndrc-2022"
SEED = 42


@dataclass
class DemoResult:
    """What the demo produced: the counties' account IDs by year, and where the reports went."""

    out: Path
    account_ids: dict[int, list[str]] = field(default_factory=dict)
    reports: list[Path] = field(default_factory=list)
    seeded: dict[str, Any] = field(default_factory=dict)


def _store_and_publish(account: Account, names: dict[str, str]) -> list[str]:
    """Each county publishes its own account (its own ID, its own log leaf)."""
    ids = []
    with session_scope(get_engine()) as session:
        for code in account.regions:
            county = account.for_region(code)
            title = f"{names.get(code, code)} {account.year} 年 GEP (样例数据 sample data)"
            row = accounts.store_revision(session, SYSTEM, AccountIn(
                id=county.id, kind=county.kind, title=title, region_code=code,
                year=county.year, profile=county.profile, lines=county.lines(),
                manifest=county.manifest, summary=county.summary(), sample_data=True))
            if row.status != "published":
                accounts.publish(session, SYSTEM, row.id)
            ids.append(row.id)
    return ids


def _seed_domains(study: StudyArea, report: ProgressCallback) -> dict[str, Any]:
    """Seed each platform domain's demo records once; a re-run leaves them as they are."""
    from liangshan.market.demo import seed_demo as seed_market
    from liangshan.registry.demo import seed_demo as seed_registry
    from liangshan.trace.demo import seed_demo as seed_trace

    seeders: list[tuple[str, Callable[[Session], Any]]] = [
        ("registry", lambda s: seed_registry(s, study.zones, seed=SEED, years=YEARS)),
        ("trace", lambda s: seed_trace(s, seed=SEED)),
        ("market", lambda s: seed_market(s, seed=SEED)),
    ]
    done: dict[str, Any] = {}
    for i, (name, seeder) in enumerate(seeders):
        try:
            with session_scope(get_engine()) as session:
                done[name] = seeder(session)
        except Conflict:
            done[name] = "already seeded"
        report(name, (i + 1) / len(seeders))
    return done


def _describe(outcome: Any) -> str:
    """One line for a domain's seeding outcome: counts, and product codes to try."""
    if not isinstance(outcome, dict):
        return str(outcome)
    counts = ", ".join(f"{k} {v}" for k, v in outcome.items() if isinstance(v, int))
    items = outcome.get("items", {})
    tries = [f"/t/{codes[0]}" for codes in items.values() if codes]
    recalled = outcome.get("batches", {}).get("dafang_tianma_recalled")
    if recalled:
        tries.append(f"/t/{recalled} (recalled)")
    return "; ".join(part for part in (counts, "try " + ", ".join(tries) if tries else "")
                     if part)


def _summary_table(results: dict[int, Account], names: dict[str, str]) -> Table:
    first, last = min(results), max(results)
    table = Table(title=f"GEP 样例核算 (sample data, {PROFILE}) — 亿元/年")
    for column in ("县 county", "代码", f"GEP {first}", f"GEP {last}", "变化 %",
                   f"GEP/km² {last} (万元)", f"GEP/GDP {last}"):
        table.add_column(column, justify="right")
    totals = {year: acc.totals().set_index("region_code") for year, acc in results.items()}
    ratios = results[last].ratios().set_index("region_code")
    for code in results[last].regions:
        a = totals[first].loc[code, "gep_yuan"] if code in totals[first].index else float("nan")
        b = totals[last].loc[code, "gep_yuan"]
        per_km2 = ratios.loc[code, "gep_per_km2_yuan"] if code in ratios.index else float("nan")
        ratio = ratios.loc[code, "gep_gdp_ratio"] if code in ratios.index else float("nan")
        table.add_row(names.get(code, code), code, f"{a / 1e8:,.2f}", f"{b / 1e8:,.2f}",
                      f"{(b - a) / a * 100:+.1f}", f"{per_km2 / 1e4:,.0f}", f"{ratio:.2f}")
    return table


def run_demo(out: Path, *, resolution_m: float = 90.0, console: Console | None = None) -> DemoResult:
    """Run the whole demo into ``out``; returns what was produced."""
    console = console or Console()
    out = Path(out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    result = DemoResult(out=out)

    with progress_bar("1/4 样例研究区 sample study area") as report:
        study_dir = write_sample_study_area(out / "study-area", counties=PILOT_COUNTIES,
                                            years=YEARS, resolution_m=resolution_m, seed=SEED,
                                            progress=report)
    study = StudyArea.open(study_dir)
    names = dict(zip(study.zones["region_code"], study.zones["name"], strict=True))

    engine = get_engine()
    upgrade(engine)
    results: dict[int, Account] = {}
    for year in study.years:
        with progress_bar(f"2/4 GEP {year} 核算 accounting") as report:
            results[year] = run_gep(study, year, PROFILE, progress=report)
        title = f"贵州省五个试点县 {year} 年生态产品总值 (GEP) 核算 — 样例数据 SAMPLE DATA"
        result.reports += write_account_folder(results[year], out / "accounts" / str(year),
                                               title=title, region_names=names)

    with progress_bar("3/4 入库与发布 store and publish") as report:
        for i, (year, account) in enumerate(sorted(results.items())):
            result.account_ids[year] = _store_and_publish(account, names)
            report(f"{year} published", (i + 1) / len(results))

    with progress_bar("4/4 登记、普查、监测、追溯、交易 registry … market") as report:
        result.seeded = _seed_domains(study, report)

    first, last = min(results), max(results)
    comparison = compare(results[first], results[last], constant_prices=True)
    result.reports += write_comparison(comparison, out / "accounts" / f"compare_{first}_{last}")

    table = _summary_table(results, names)
    console.print(table)
    with (out / "summary.txt").open("w", encoding="utf-8") as fh:
        Console(file=fh, width=120).print(table)
    gaps = results[last].gaps
    if len(gaps):
        console.print(f"[yellow]gaps in {last} (wholly or partly not accounted; reasons in "
                      f"the reports):[/] "
                      + "; ".join(sorted(set(gaps["indicator"].astype(str)))))
    for name, outcome in result.seeded.items():
        console.print(f"[bold]{name}:[/] {_describe(outcome)}")
    console.print(f"[bold]reports:[/] {out / 'accounts'}  ·  [bold]database:[/] "
                  f"{engine.url.render_as_string()}  ·  SAMPLE DATA — not real accounts")
    return result
