"""The ``liangshan`` command line: thin wrappers that parse, call a service, and print.

Every :class:`~liangshan.errors.LiangshanError` ends the command with a one-line
message (and a hint) on stderr and a non-zero exit code — never a traceback.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from liangshan.errors import InvalidInput, LiangshanError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from liangshan.accounting.account import Account
    from liangshan.datasets.study import StudyArea

app = typer.Typer(help="Liangshan 两山 — 生态产品价值实现平台 / ecological product value platform",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema (数据库).", no_args_is_help=True)
user_app = typer.Typer(help="Users and roles (用户).", no_args_is_help=True)
gep_app = typer.Typer(help="GEP accounts (生态产品总值核算).", no_args_is_help=True)
invest_app = typer.Typer(help="InVEST-compatible models.", no_args_is_help=True)
log_app = typer.Typer(help="Transparency log (透明日志).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(gep_app, name="gep")
app.add_typer(invest_app, name="invest")
app.add_typer(log_app, name="log")


def _add_platform_commands() -> None:
    from liangshan.cli_platform import market_app, registry_app, trace_app

    app.add_typer(registry_app, name="registry")
    app.add_typer(trace_app, name="trace")
    app.add_typer(market_app, name="market")


_add_platform_commands()
console = Console(soft_wrap=True)  # a message holding a long path stays one line
err_console = Console(stderr=True, soft_wrap=True)


def main() -> None:
    """Entry point: run the app and turn domain errors into one clear line."""
    try:
        app()
    except LiangshanError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        if exc.hint:
            err_console.print(f"[yellow]how to fix:[/] {exc.hint}", highlight=False, soft_wrap=True)
        sys.exit(2)


def _read_json(path: Path, what: str, fix: str) -> Any:
    """A JSON file the user named, or a one-line error saying what is wrong with it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{what} {path} does not exist", hint=fix) from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{what} {path} is not valid JSON: {exc}",
                           hint="fix the JSON syntax at the position named") from None


def _codes(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [c.strip() for c in text.split(",") if c.strip()]


def _years(text: str) -> list[int]:
    try:
        return [int(y) for y in text.split(",") if y.strip()]
    except ValueError:
        raise InvalidInput(f"--years '{text}' is not a comma-separated list of years",
                           hint="write e.g. --years 2022,2023") from None


# ---------------------------------------------------------------- database, users, server
@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema (SQLite file by default)."""
    from liangshan.db import get_engine
    from liangshan.migrate import upgrade

    engine = get_engine()
    heads = upgrade(engine)
    console.print(f"database {engine.url.render_as_string()} is at {', '.join(heads)}")


@user_app.command("create")
def user_create(
    username: str,
    role: Annotated[str, typer.Option(help="province_admin, county_operator, department_staff, "
                                      "enterprise, bank_officer, auditor, public")],
    region: Annotated[str | None, typer.Option(help="GB/T 2260 region scope, e.g. 520381")] = None,
    display_name: Annotated[str | None, typer.Option()] = None,
    password: Annotated[str | None, typer.Option(help="omit to be prompted", envvar=
                                                 "LIANGSHAN_NEW_USER_PASSWORD")] = None,
) -> None:
    """Create a user (the first province admin is created this way)."""
    from pydantic import ValidationError

    from liangshan.db import get_engine, session_scope
    from liangshan.identity import service
    from liangshan.identity.access import SYSTEM
    from liangshan.identity.schemas import UserIn
    from liangshan.migrate import upgrade

    if password is None:
        password = getpass.getpass("password (at least 10 characters): ")
    try:
        data = UserIn(username=username, display_name=display_name or username,
                      password=password, role=role, region_code=region)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(f"{first['loc'][0]}: {first['msg']}",
                           hint="see liangshan user create --help") from None
    engine = get_engine()
    upgrade(engine)
    with session_scope(engine) as session:
        user = service.create_user(session, SYSTEM, data)
        console.print(f"created user {user.username} ({user.role}, region {user.region_code or '52'})")


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the platform (API and web pages)."""
    import uvicorn

    from liangshan.api import create_app
    from liangshan.db import get_engine
    from liangshan.migrate import upgrade

    engine = get_engine()
    upgrade(engine)
    console.print(f"serving Liangshan at http://{host}:{port} (API docs: /docs)")
    uvicorn.run(create_app(engine), host=host, port=port, log_level="warning")


# ---------------------------------------------------------------- data and accounts
@app.command("sample-data")
def sample_data(
    out: Path,
    counties: Annotated[str | None, typer.Option(help="county codes, comma-separated "
                                                 "(default: the five pilot counties)")] = None,
    years: Annotated[str, typer.Option(help="accounting years")] = "2022,2023",
    resolution: Annotated[float, typer.Option(help="grid cell size in metres")] = 30.0,
    seed: Annotated[int, typer.Option(help="random seed; same seed, same data")] = 42,
) -> None:
    """Write a generated study area over real Guizhou county boundaries."""
    from liangshan.datasets.sample import write_sample_study_area
    from liangshan.progress import progress_bar

    with progress_bar("sample data") as report:
        path = write_sample_study_area(out, counties=_codes(counties), years=_years(years),
                                       resolution_m=resolution, seed=seed, progress=report)
    console.print(f"study area written to {path}")


def _open_study(path: Path) -> StudyArea:
    from liangshan.datasets.study import StudyArea

    return StudyArea.open(path)


def _scheduler(address: str | None) -> str | None:
    from liangshan.config import get_settings

    return address or get_settings().scheduler


@gep_app.command("run")
def gep_run(
    study: Annotated[Path, typer.Argument(help="study-area folder (with study.toml)")],
    year: Annotated[int, typer.Option(help="accounting year")],
    out: Annotated[Path, typer.Option(help="folder for the tables and the report")],
    profile: Annotated[str, typer.Option(help="ndrc-2022, mee-2020, gbt-46869-2025, "
                                         "ouyang-research, or a local TOML")] = "ndrc-2022",
    prices: Annotated[Path | None, typer.Option(help="local price overrides (prices.csv "
                                                "format); recorded in the manifest")] = None,
    scheduler: Annotated[str | None, typer.Option(help="dask.distributed scheduler address")] = None,
    store: Annotated[bool, typer.Option(help="store the account in the platform database")] = True,
    publish: Annotated[bool, typer.Option(help="publish it (immutable, logged)")] = False,
    uncertainty: Annotated[int, typer.Option(
        help="Monte Carlo draws over the uncertain prices and physical coefficients "
        "(0 = none): 5–95 % intervals in the reports")] = 0,
    seed: Annotated[int, typer.Option(help="random seed of the Monte Carlo")] = 0,
) -> None:
    """Account GEP for one year: physical → value → official tables, report and manifest."""
    from liangshan.accounting.reports import write_account_folder
    from liangshan.accounting.run import run_gep
    from liangshan.accounting.scale import use_scheduler
    from liangshan.accounting.uncertainty import account_uncertainty
    from liangshan.progress import progress_bar

    area = _open_study(study)
    names = dict(zip(area.zones["region_code"], area.zones["name"], strict=True))
    mc = None
    with use_scheduler(_scheduler(scheduler)), progress_bar(f"GEP {year}") as report:
        if uncertainty:
            account, mc = account_uncertainty(area, year, profile, n=uncertainty, seed=seed,
                                              overrides=prices, progress=report)
        else:
            account = run_gep(area, year, profile, overrides=prices, progress=report)
    title = f"{area.name} {year} 年生态产品总值 (GEP) 核算"
    write_account_folder(account, out, title=title, region_names=names, uncertainty=mc)
    console.print(f"GEP {year}: {account.gep() / 1e8:,.2f} 亿元 · account {account.id[:12]} · "
                  f"reports in {out}")
    if mc is not None:
        g = mc.by_indicator.set_index("indicator").loc["GEP"]
        fixed = mc.parameters[mc.parameters["status"] == "fixed"]
        console.print(f"GEP 5–95 %: {g['p05_yuan'] / 1e8:,.2f} – {g['p95_yuan'] / 1e8:,.2f} 亿元 "
                      f"({uncertainty} draws, seed {seed}); {len(mc.varied)} price(s) and "
                      f"{len(mc.parameters) - len(fixed)} coefficient(s) varied, "
                      f"{len(fixed)} coefficient(s) held fixed (uncertainty_parameters.csv)")
    if len(account.gaps):
        console.print("[yellow]not accounted:[/] "
                      + "; ".join(sorted(set(account.gaps["indicator"].astype(str)))))
    if store or publish:
        _store_account(account, title, area.is_sample, publish)


def _store_account(account: Account, title: str, sample: bool, publish: bool) -> None:
    from liangshan.accounts import service as accounts
    from liangshan.accounts.schemas import AccountIn
    from liangshan.db import get_engine, session_scope
    from liangshan.identity.access import SYSTEM
    from liangshan.migrate import upgrade

    engine = get_engine()
    upgrade(engine)
    regions = account.regions
    scope = regions[0] if len(regions) == 1 else "52"
    with session_scope(engine) as session:
        row = accounts.store_revision(session, SYSTEM, AccountIn(
            id=account.id, kind=account.kind, title=title, region_code=scope, year=account.year,
            profile=account.profile, lines=account.lines(), manifest=account.manifest,
            summary=account.summary(), sample_data=sample))
        if publish and row.status != "published":
            accounts.publish(session, SYSTEM, row.id)
        console.print(f"stored as account {row.id} ({row.status})")


def _saved_account(folder: Path) -> Account:
    from liangshan.accounting.account import Account

    path = folder / "gep_account.json" if folder.is_dir() else folder
    data = _read_json(path, "saved account", "give a folder written by `liangshan gep run --out`")
    return Account.from_dict(data)


@gep_app.command("compare")
def gep_compare(
    a: Annotated[Path, typer.Argument(help="earlier account (folder of `gep run --out`)")],
    b: Annotated[Path, typer.Argument(help="later account")],
    out: Annotated[Path | None, typer.Option(help="write the comparison CSVs here")] = None,
    current_prices: Annotated[bool, typer.Option(help="compare at current prices instead of "
                                                 "constant (剔除价格因素)")] = False,
) -> None:
    """Compare two accounts, with each indicator's contribution to the change."""
    from rich.table import Table

    from liangshan.accounting.account import compare
    from liangshan.accounting.reports import write_comparison

    result = compare(_saved_account(a), _saved_account(b), constant_prices=not current_prices)
    basis = "current prices" if current_prices else f"constant {result.year_a} prices"
    table = Table(title=f"GEP {result.year_a} → {result.year_b} ({basis}), 亿元")
    for col in ("region", f"GEP {result.year_a}", f"GEP {result.year_b}", "change", "%"):
        table.add_column(col, justify="right")
    for row in result.totals.itertuples():
        b_value = row.gep_b_const_yuan if not current_prices else row.gep_b_yuan
        table.add_row(str(row.region_code), f"{row.gep_a_yuan / 1e8:,.2f}",
                      f"{b_value / 1e8:,.2f}", f"{row.change_yuan / 1e8:+,.2f}",
                      f"{row.change_pct:+.1f}")
    console.print(table)
    top = result.rows.reindex(result.rows["change_yuan"].abs().sort_values(ascending=False).index)
    for row in top.head(8).itertuples():
        console.print(f"  {row.region_code} {row.indicator} {row.item or ''}: "
                      f"{row.change_yuan / 1e4:+,.0f} 万元")
    if out is not None:
        write_comparison(result, out)
        console.print(f"written to {out}")


vep_app = typer.Typer(help="VEP of specific units (特定地域单元生态产品价值).", no_args_is_help=True)
app.add_typer(vep_app, name="vep")


@vep_app.command("run")
def vep_run(
    study: Annotated[Path, typer.Argument(help="study-area folder")],
    area: Annotated[Path, typer.Option(help="polygons (GeoPackage/GeoJSON/Shapefile)")],
    year: Annotated[int, typer.Option(help="accounting year")],
    out: Annotated[Path, typer.Option(help="folder for the tables and the report")],
    id_field: Annotated[str, typer.Option(help="the polygons' ID column")] = "unit_id",
    profile: str = "ndrc-2022",
    scheduler: Annotated[str | None, typer.Option(help="dask.distributed scheduler address")] = None,
    before_year: Annotated[int | None, typer.Option(
        help="also account this earlier year on the same footprint: per-indicator "
        "increments at its prices")] = None,
    baseline: Annotated[Path | None, typer.Option(
        help="before-project study area (other land cover), same year: increments")] = None,
    npv: Annotated[bool, typer.Option(help="asset value: annual VEP as an annuity")] = False,
    discount_rate: Annotated[float, typer.Option(
        help="NPV discount rate, a fraction (博文静 2017: 0.0277)")] = 0.0277,
    horizon: Annotated[int, typer.Option(help="NPV horizon in years (博文静 2017: 100)")] = 100,
) -> None:
    """VEP of each polygon (a parcel, a project site, a basin), with the origin rule;
    optionally the increments against a baseline or an earlier year, and asset values."""
    import geopandas as gpd

    from liangshan.accounting.account import write_atomic
    from liangshan.accounting.reports import write_account_folder
    from liangshan.accounting.scale import use_scheduler
    from liangshan.accounting.vep import asset_values, increments, npv_options, run_vep
    from liangshan.progress import progress_bar

    if before_year is not None and baseline is not None:
        raise InvalidInput("give --before-year or --baseline, not both",
                           hint="two years on one footprint, or two scenarios in one year")
    npv_rec = npv_options(discount_rate, horizon) if npv else None

    try:
        footprint = gpd.read_file(area)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InvalidInput(f"cannot read polygons from {area}: {exc}".splitlines()[0],
                           hint="give a GeoPackage, GeoJSON or Shapefile with a CRS") from None
    with use_scheduler(_scheduler(scheduler)), progress_bar(f"VEP {year}") as report:
        account = run_vep(_open_study(study), year, footprint, profile, id_field=id_field,
                          progress=report, npv=npv_rec)
    write_account_folder(account, out, title=f"VEP {year} ({area.name})")
    for row in account.totals().itertuples():
        console.print(f"{row.region_code}: {row.gep_yuan / 1e4:,.1f} 万元/年")
    if before_year is not None or baseline is not None:
        before_study = _open_study(baseline if baseline is not None else study)
        before_y = before_year if before_year is not None else year
        with use_scheduler(_scheduler(scheduler)), progress_bar("VEP before") as report:
            before = run_vep(before_study, before_y, footprint, profile, id_field=id_field,
                             progress=report)
        label = f"baseline {baseline.name}" if baseline is not None else str(before_y)
        write_account_folder(before, out / "before", title=f"VEP {before_y} ({label})")
        inc = increments(before, account)
        write_atomic(out / "vep_increments.csv", inc.to_csv(index=False).encode("utf-8-sig"))
        for row in inc[inc["indicator"] == "GEP"].itertuples():
            console.print(f"{row.region_code}: {row.value_change_yuan / 1e4:+,.1f} 万元/年 "
                          f"against {label}")
    if npv_rec is not None:
        assets = asset_values(account)
        write_atomic(out / "vep_assets.csv", assets.to_csv(index=False).encode("utf-8-sig"))
        for row in assets.itertuples():
            console.print(f"{row.region_code}: asset value {row.npv_yuan / 1e8:,.2f} 亿元 "
                          f"({horizon} years at {discount_rate:.2%})")
    console.print(f"reports in {out}")


@invest_app.command("run")
def invest_run(
    model: Annotated[str, typer.Argument(help="annual_water_yield, carbon, sdr, ndr, "
                                         "habitat_quality")],
    args: Annotated[Path, typer.Option("--args", help="InVEST arguments as JSON")],
    workspace: Annotated[Path | None, typer.Option(help="overrides args' workspace_dir")] = None,
) -> None:
    """Run an InVEST-compatible model with InVEST 3.20's arguments and output names."""
    from liangshan.accounting.invest import run_model

    model_args = _read_json(args, "argument file",
                            "give the JSON file InVEST's workbench saves (datastack)")
    if isinstance(model_args, dict) and "args" in model_args and "model_id" in model_args:
        model_args = model_args["args"]  # an InVEST datastack file
    if not isinstance(model_args, dict):
        raise InvalidInput(f"argument file {args} holds no JSON object of arguments",
                           hint='write {"workspace_dir": ..., "lulc_cur_path": ...}')
    base = args.resolve().parent
    for key, value in model_args.items():
        # InVEST datastacks store paths relative to the JSON file
        if key.endswith(("_path", "_dir")) and isinstance(value, str) and value \
                and not Path(value).is_absolute():
            model_args[key] = str(base / value)
    if workspace is not None:
        model_args["workspace_dir"] = str(workspace)
    run_model(model, model_args)
    console.print(f"{model} written to {model_args.get('workspace_dir')}")


@log_app.command("checkpoint")
def log_checkpoint() -> None:
    """Print the log's signed checkpoint (C2SP signed note), signing one if the log grew."""
    from liangshan.db import session_scope
    from liangshan.ledger.service import current_checkpoint

    with session_scope(_migrated_engine()) as session:
        typer.echo(current_checkpoint(session).note, nl=False)


@gep_app.command("list")
def gep_list(
    region: Annotated[str | None, typer.Option(help="region code (prefix)")] = None,
    year: Annotated[int | None, typer.Option(help="accounting year")] = None,
) -> None:
    """List stored accounts (drafts and published) with their IDs."""
    from rich.table import Table

    from liangshan.accounts import service as accounts
    from liangshan.db import session_scope

    table = Table("id", "region", "year", "profile", "status", "GEP (亿元)", "title")
    with session_scope(_migrated_engine()) as session:
        for row in accounts.list_accounts(session, region_code=region, year=year):
            table.add_row(row.id[:16], row.region_code, str(row.year), row.profile, row.status,
                          f"{row.gep_fen / 1e10:,.2f}", row.title)
    console.print(table)


def _migrated_engine() -> Engine:
    from liangshan.db import get_engine
    from liangshan.migrate import upgrade

    engine = get_engine()
    upgrade(engine)
    return engine


@log_app.command("verify")
def log_verify() -> None:
    """Recompute the transparency log and name any row changed behind the application's back."""
    from liangshan.db import get_engine, session_scope
    from liangshan.ledger.service import verify_cli
    from liangshan.migrate import upgrade
    from liangshan.trace import service as _trace  # noqa: F401  (registers its row checks)

    engine = get_engine()
    upgrade(engine)
    with session_scope(engine) as session:
        code = verify_cli(session)
    raise typer.Exit(code)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="where reports go")] = Path("liangshan-demo"),
    resolution: Annotated[float, typer.Option(help="grid cell size of the sample data, m")] = 90.0,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="stop after the reports")] = False,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """The main job: sample data → GEP accounts for two years → database → reports → platform."""
    from liangshan.demo import run_demo

    run_demo(out, resolution_m=resolution, console=console)
    if not no_serve:
        serve(host=host, port=port)


if __name__ == "__main__":
    main()
