"""The "run a new account" pages: the form, the run page and its progress fragment.

Thin by rule (DESIGN §3 rule 4): the checks of an upload live in
:mod:`liangshan.web.uploads`, queueing and running in :mod:`liangshan.web.runs`.
The run page polls ``/web/runs/{id}/status`` with HTMX every second until the run
is done or failed; the fragment shows stage, percent and elapsed time, then links
to the stored draft accounts (publishing stays a separate action).
"""

from __future__ import annotations

import secrets
import shutil
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from liangshan.accounting.profiles import list_profiles
from liangshan.config import get_settings
from liangshan.datasets.study import StudyArea
from liangshan.db import utcnow
from liangshan.errors import InvalidInput, LiangshanError, NotAuthenticated
from liangshan.identity.access import Principal
from liangshan.web import auth, geo, runs, uploads
from liangshan.web.auth import WebPrincipal, WebSession
from liangshan.web.i18n import pick_lang
from liangshan.web.models import AccountRun
from liangshan.web.render import HtmlErrorRoute, page

router = APIRouter(route_class=HtmlErrorRoute, include_in_schema=False)

#: Room for the form's other fields beside the zip, bytes.
FORM_OVERHEAD = 64 * 1024


async def body_limit(request: Request) -> None:
    """Refuse an oversized POST from its Content-Length, before the body is read."""
    if request.method != "POST" or request.url.path != "/web/runs":
        return
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise InvalidInput("the form was sent without a Content-Length",
                           hint="send the form from the page (browsers set it)")
    if int(length) > uploads.max_bytes() + FORM_OVERHEAD:
        raise uploads.too_large(int(length), "study-area zip")


async def _form(request: Request) -> FormData:
    return await request.form()


RunForm = Annotated[FormData, Depends(_form)]


def elapsed(run: AccountRun) -> str:
    """Running time as m:ss (h:mm:ss past an hour)."""
    if run.started_at is None:
        return "0:00"
    end: datetime = run.finished_at or utcnow()
    seconds = max(0, int((end - run.started_at).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _form_page(request: Request, session: WebSession, actor: Principal,
               error: LiangshanError | None = None, status_code: int = 200,
               values: dict[str, str] | None = None) -> Response:
    return page(request, "runs.html", actor, status_code=status_code,
                choices=runs.study_choices(), profiles=list_profiles(),
                rows=runs.visible_runs(session, actor), may_run=auth.can_write(actor),
                error=error, values=values or {}, max_mb=get_settings().upload_max_mb)


@router.get("/web/runs")
def runs_page(request: Request, session: WebSession, principal: WebPrincipal) -> Response:
    actor = auth.require_user(principal)
    return _form_page(request, session, actor)


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _study_from_form(form: FormData) -> tuple[str, str, StudyArea | None]:
    """(source, label, study) from the form; the upload is checked and unpacked here."""
    key = _field(form, "study")
    upload = form.get("upload")
    if key == "upload":
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("no zip file was chosen for the upload",
                               hint="choose the zip of a study-area folder, or another study")
        name = Path(upload.filename).name[:120]
        folder = get_settings().data_dir / "uploads" / secrets.token_hex(8)
        archive = uploads.save_upload(upload.file, folder / "upload.zip", name)
        try:
            study = uploads.open_uploaded(archive, folder / "study", name)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        archive.unlink(missing_ok=True)
        return "upload", f"upload {name}", study
    choice = next((c for c in runs.study_choices() if c.key == key), None)
    if choice is None:
        raise InvalidInput(f"unknown study area {key!r}",
                           hint="choose one of the list, or upload a zip")
    if choice.path is None:
        return "sample", choice.label, None
    return "configured", choice.label, StudyArea.open(choice.path)


@router.post("/web/runs")
def start_run(request: Request, session: WebSession, principal: WebPrincipal,
              form: RunForm) -> Response:
    """Check the choice, queue the run, start the worker, go to the run's page."""
    actor = auth.require_user(principal)
    values = {k: _field(form, k) for k in ("study", "year", "profile")}
    try:
        year_text = values["year"]
        if not year_text.isdigit():
            raise InvalidInput(f"year {year_text!r} is not a year",
                               hint="type the accounting year, e.g. 2023")
        source, label, study = _study_from_form(form)
        run = runs.submit(session, actor, source=source, label=label, study=study,
                          year=int(year_text), profile=values["profile"] or "ndrc-2022")
    except NotAuthenticated:
        raise
    except LiangshanError as exc:
        session.rollback()
        return _form_page(request, session, actor, exc, exc.http_status, values)
    session.commit()
    runs.start(request.app.state.engine, run.id)
    return RedirectResponse(f"/web/runs/{run.id}", status_code=303)


def _run(session: WebSession, actor: Principal, run_id: int) -> AccountRun:
    run = runs.get_run(session, actor, run_id)
    if run.status in ("queued", "running") and runs.fail_orphans(session):
        session.commit()
        session.refresh(run)
    return run


@router.get("/web/runs/{run_id}")
def run_page(request: Request, session: WebSession, principal: WebPrincipal,
             run_id: int) -> Response:
    actor = auth.require_user(principal)
    run = _run(session, actor, run_id)
    return page(request, "run.html", actor, run=run, elapsed=elapsed(run),
                region_name=geo.namer(pick_lang(request)))


@router.get("/web/runs/{run_id}/status")
def run_status(request: Request, session: WebSession, principal: WebPrincipal,
               run_id: int) -> Response:
    """The progress fragment that the run page swaps in every second."""
    actor = auth.require_user(principal)
    run = _run(session, actor, run_id)
    return page(request, "run_status.html", actor, run=run, elapsed=elapsed(run),
                region_name=geo.namer(pick_lang(request)))
