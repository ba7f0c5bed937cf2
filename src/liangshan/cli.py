"""The ``liangshan`` command line: thin wrappers that parse, call a service, and print.

Every :class:`~liangshan.errors.LiangshanError` ends the command with a one-line
message (and a hint) on stderr and a non-zero exit code — never a traceback.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from liangshan.errors import InvalidInput, LiangshanError

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

console = Console()
err_console = Console(stderr=True)


def main() -> None:
    """Entry point: run the app and turn domain errors into one clear line."""
    try:
        app()
    except LiangshanError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        if exc.hint:
            err_console.print(f"[yellow]how to fix:[/] {exc.hint}", highlight=False, soft_wrap=True)
        sys.exit(2)


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
                      password=password, role=role, region_code=region)  # type: ignore[arg-type]
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


@invest_app.command("run")
def invest_run(
    model: Annotated[str, typer.Argument(help="annual_water_yield, carbon, sdr, ndr, "
                                         "habitat_quality")],
    args: Annotated[Path, typer.Option("--args", help="InVEST arguments as JSON")],
    workspace: Annotated[Path | None, typer.Option(help="overrides args' workspace_dir")] = None,
) -> None:
    """Run an InVEST-compatible model with InVEST 3.20's arguments and output names."""
    from liangshan.accounting.invest import run_model

    try:
        model_args = json.loads(args.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"argument file {args} does not exist",
                           hint="give the JSON file InVEST's workbench saves (datastack)") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"argument file {args} is not valid JSON: {exc}",
                           hint="fix the JSON syntax at the position named") from None
    if isinstance(model_args, dict) and "args" in model_args and "model_id" in model_args:
        model_args = model_args["args"]  # an InVEST datastack file
    if workspace is not None:
        model_args["workspace_dir"] = str(workspace)
    run_model(model, model_args)
    console.print(f"{model} written to {model_args.get('workspace_dir')}")


@log_app.command("verify")
def log_verify() -> None:
    """Recompute the transparency log and name any row changed behind the application's back."""
    from liangshan.db import get_engine, session_scope
    from liangshan.ledger.service import verify_cli
    from liangshan.migrate import upgrade

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
