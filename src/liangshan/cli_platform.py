"""CLI commands of the platform domains: registry, traceability, market.

Thin like the rest of the CLI: parse, call the domain's service, print. Writes made
here are recorded in the audit trail as the ``system`` actor (the operator at the
console); people act through the API and the web pages with their own accounts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from liangshan.db import get_engine, session_scope
from liangshan.identity.access import SYSTEM
from liangshan.migrate import upgrade

registry_app = typer.Typer(help="Natural-resource rights registry (自然资源确权登记).",
                           no_args_is_help=True)
trace_app = typer.Typer(help="Traceability (质量追溯): codes, labels, verification.",
                        no_args_is_help=True)
market_app = typer.Typer(help="Trading centre (生态产品交易中心).", no_args_is_help=True)
console = Console(soft_wrap=True)  # a message holding a long path stays one line


def _engine() -> Engine:
    engine = get_engine()
    upgrade(engine)
    return engine


@registry_app.command("import")
def registry_import(
    path: Annotated[Path, typer.Argument(help="GeoPackage, Shapefile or GeoJSON of parcels")],
    layer: Annotated[str | None, typer.Option(help="layer of a multi-layer file")] = None,
    assume_crs: Annotated[str | None, typer.Option(help="CRS for a file that has none, "
                                                   "e.g. EPSG:4490")] = None,
    report: Annotated[Path | None, typer.Option(help="write the per-row report (CSV)")] = None,
) -> None:
    """Import parcels; every row is accepted or refused with its reason."""
    from liangshan.registry.io import import_parcels

    with session_scope(_engine()) as session:
        result = import_parcels(session, SYSTEM, path, layer=layer, assume_crs=assume_crs)
    console.print(f"{path}: {result.accepted} accepted, {result.refused} refused "
                  f"(source CRS {result.crs})")
    for row, reason in list(result.refusals().items())[:20]:
        console.print(f"  row {row}: {reason}", highlight=False)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        result.to_frame().to_csv(report, index=False, encoding="utf-8-sig")
        console.print(f"report written to {report}")


@registry_app.command("export")
def registry_export(
    path: Annotated[Path, typer.Argument(help=".gpkg, .shp or .geojson")],
    region: Annotated[str | None, typer.Option(help="only this region code (prefix)")] = None,
) -> None:
    """Export parcels (current versions) in WGS84."""
    from liangshan.registry.io import export_parcels

    with session_scope(_engine()) as session:
        written = export_parcels(session, path, region_code=region)
    console.print(f"written to {written}")


@trace_app.command("show")
def trace_show(
    code: Annotated[str, typer.Argument(help="batch or item code")],
    as_json: Annotated[bool, typer.Option("--json", help="the JSON with proofs")] = False,
) -> None:
    """What the public page shows for a code, with the verification of every event."""
    from liangshan.trace.public import public_view

    with session_scope(_engine()) as session:
        view = public_view(session, code, with_proofs=as_json)
    if as_json:
        typer.echo(json.dumps(view, ensure_ascii=False, indent=1, default=str))
        return
    product = view["product"]
    console.print(f"[bold]{view['display_code']}[/] {product['name']} · "
                  f"{view['origin']['region_name']} · {view['status']} · "
                  f"verification: [bold]{view['verification']['overall']}[/]", highlight=False)
    table = Table("time (UTC+8)", "step", "where", "who", "verification")
    for event in view["events"]:
        where = event.get("where") or {}
        table.add_row(str(event.get("local_time")), str(event.get("biz_step_zh")),
                      str(where.get("zone") or where.get("region_code") or ""),
                      str((event.get("who") or {}).get("name", "")),
                      str(event["verification"]["status"]))
    console.print(table)
    for problem in view["verification"]["problems"]:
        console.print(f"[red]problem:[/] {problem}", highlight=False)
    if view["status"] == "recalled":
        raise typer.Exit(3)


@trace_app.command("labels")
def trace_labels(
    code: Annotated[str, typer.Argument(help="batch code")],
    count: Annotated[int, typer.Option(help="how many item codes to issue")],
    out: Annotated[Path, typer.Option(help="folder for the label sheets")],
    base_url: Annotated[str, typer.Option(help="where the public pages are served")] =
        "http://127.0.0.1:8000",
    png: Annotated[bool, typer.Option(help="PNG pages as well as SVG")] = False,
) -> None:
    """Issue item codes of a batch and write QR label sheets (SVG, optionally PNG)."""
    from liangshan.trace.labels import label_sheet_png, label_sheet_svg
    from liangshan.trace.service import issue_items

    with session_scope(_engine()) as session:
        items = issue_items(session, SYSTEM, code, count)
    out.mkdir(parents=True, exist_ok=True)
    pages = label_sheet_svg(items, base_url, title=code)
    for i, page in enumerate(pages, 1):
        (out / f"labels_{i:03d}.svg").write_text(page, encoding="utf-8")
    if png:
        for i, data in enumerate(label_sheet_png(items, base_url), 1):
            (out / f"labels_{i:03d}.png").write_bytes(data)
    console.print(f"{len(items)} item codes, {len(pages)} sheet(s) in {out}")


@trace_app.command("expire-licences")
def trace_expire_licences(
    on: Annotated[str | None, typer.Option(help="date YYYY-MM-DD (default: today, UTC)")] = None,
) -> None:
    """Expire brand licences whose validity has ended, logging each new state (run daily)."""
    from datetime import date

    from liangshan.errors import InvalidInput
    from liangshan.trace.brands import expire_licences

    try:
        day = date.fromisoformat(on) if on else None
    except ValueError:
        raise InvalidInput(f"--on {on!r} is not a date", hint="write it as YYYY-MM-DD") from None
    with session_scope(_engine()) as session:
        rows = expire_licences(session, SYSTEM, day)
        numbers = [r.number for r in rows]
    console.print(f"{len(numbers)} licence(s) expired" + (": " + ", ".join(numbers) if numbers else ""))


@trace_app.command("log-licences")
def trace_log_licences() -> None:
    """Log the current state of licences granted before licence changes were logged (once)."""
    from liangshan.trace.brands import log_unlogged_licences

    with session_scope(_engine()) as session:
        n = len(log_unlogged_licences(session, SYSTEM))
    console.print(f"{n} licence(s) logged")


@market_app.command("report")
def market_report(
    instrument: Annotated[str | None, typer.Option(help="one instrument code")] = None,
    format: Annotated[str, typer.Option(help="csv or json")] = "csv",
) -> None:
    """The public registry report: issued, retired, cancelled by instrument, vintage, region."""
    from liangshan.errors import InvalidInput
    from liangshan.market.service import registry_report, report_csv

    if format not in ("csv", "json"):
        raise InvalidInput(f"--format {format!r} is not csv or json", hint="use --format csv")
    with session_scope(_engine()) as session:
        rows = registry_report(session, instrument=instrument)
    if format == "json":
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1, default=str))
    else:
        typer.echo(report_csv(rows).decode("utf-8-sig"), nl=False)


@market_app.command("book")
def market_book(
    instrument: Annotated[str, typer.Argument(help="instrument code, e.g. EMIS-COD")],
    levels: Annotated[int, typer.Option(help="price levels per side")] = 5,
) -> None:
    """Order-book depth: best bids and asks (price fen, open quantity, orders)."""
    from liangshan.market.orders import depth

    with session_scope(_engine()) as session:
        book = depth(session, instrument, levels)
    typer.echo(f"{'side':<5} {'price_fen':>10} {'quantity':>10} {'orders':>7}")
    for side in ("asks", "bids"):
        rows = reversed(book[side]) if side == "asks" else book[side]
        for price, qty, n in rows:
            typer.echo(f"{side[:-1]:<5} {price:>10} {qty:>10} {n:>7}")


@market_app.command("close-book")
def market_close_book(
    instrument: Annotated[str, typer.Argument(help="instrument code")],
) -> None:
    """End of the trading day: every open order of the instrument expires."""
    from liangshan.market.orders import close_book

    with session_scope(_engine()) as session:
        n = close_book(session, SYSTEM, instrument)
    console.print(f"{instrument}: {n} open order(s) expired")


@market_app.command("pledges")
def market_pledges(
    bank: Annotated[int | None, typer.Option("--bank", help="pledgee bank organisation id")
                    ] = None,
) -> None:
    """Pledges (质押): holder, bank, units and serials, loan (fen), term, status."""
    from liangshan.market.pledges import list_pledges

    with session_scope(_engine()) as session:
        rows = list_pledges(session, SYSTEM, bank_org_id=bank)
        lines = [f"{p.id}\t{p.instrument}\t{p.holder_org_id}\t{p.bank_org_id}\t{p.quantity}\t"
                 f"{' '.join(p.serials)}\t{p.loan_ref}\t{p.amount_fen}\t{p.start_date}\t"
                 f"{p.maturity_date}\t{p.status}" for p in rows]
    typer.echo("id\tinstrument\tholder\tbank\tunits\tserials\tloan\tamount_fen\tstart\t"
               "maturity\tstatus")
    for line in lines:
        typer.echo(line)


@market_app.command("award")
def market_award(auction_id: Annotated[int, typer.Argument(help="auction id")],
                 force_reason: Annotated[str | None, typer.Option(
                     "--force-reason", help="close before the deadline; the reason is "
                                            "kept in the audit trail")] = None) -> None:
    """Award a one-way-bidding auction (单向竞价) and settle its winning bids."""
    from liangshan.market.auctions import award_auction

    with session_scope(_engine()) as session:
        done = award_auction(session, SYSTEM, auction_id, force_reason=force_reason)
        lines = [f"org {t.buyer_org_id}: {t.quantity} at {t.price_fen} fen" for t in done.trades]
    console.print(f"auction {auction_id} awarded, {len(lines)} winner(s)")
    for line in lines:
        console.print("  " + line)
