"""Account runs from the web: queue a run, run it in a background thread, record progress.

One worker thread per server process runs the queued runs one at a time (an
account run is CPU- and memory-heavy; two at once on a small server only slow each
other). The state lives in the ``account_runs`` table, so a reload shows it: the
worker writes the stage and fraction (0–1) at most every :data:`PROGRESS_EVERY_S`
seconds, and at the end the IDs of the stored accounts or the error's message and
hint — never a traceback (that goes to the server log).

What a run does: study area → :func:`~liangshan.accounting.run.run_gep` →
one draft account per zone inside the user's region (as ``liangshan demo`` stores
them, :meth:`Account.for_region`), through :func:`accounts.store_revision`.
Publishing stays a separate action on the account's manage page.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from liangshan.accounts import service as accounts
from liangshan.accounts.schemas import AccountIn
from liangshan.config import get_settings
from liangshan.datasets.boundaries import PILOT_COUNTIES
from liangshan.datasets.study import StudyArea
from liangshan.db import session_factory, utcnow
from liangshan.errors import Forbidden, InvalidInput, LiangshanError, NotFound
from liangshan.identity.access import READER_ROLES, WRITER_ROLES, Principal
from liangshan.identity.models import Role
from liangshan.web.models import AccountRun

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5
#: The demo's sample: years and grid cell (m); generated under <data_dir>/samples on first use.
SAMPLE_YEARS = (2022, 2023)
SAMPLE_RESOLUTION_M = 90.0
#: Share of the progress bar the preparation (generating the sample) takes.
PREPARE_SHARE = 0.2


@dataclass(frozen=True)
class StudyChoice:
    """A study area the form offers: ``key`` is what the form sends."""

    key: str
    label: str
    path: Path | None  # None: the demo sample (generated on first use)


def study_choices() -> list[StudyChoice]:
    """The demo sample, then every folder of ``LIANGSHAN_STUDY_DIRS``."""
    out = [StudyChoice("sample", "贵州省五个试点县样例数据 (sample data, 2022–2023)", None)]
    for i, path in enumerate(get_settings().study_dirs):
        out.append(StudyChoice(f"dir:{i}", f"{Path(path).name} ({path})", Path(path)))
    return out


def _this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _scope(actor: Principal, codes: list[str]) -> list[str]:
    """The zones the actor may store accounts for; Forbidden when there are none."""
    if actor.role not in WRITER_ROLES:
        actor.require_write(codes[0] if codes else "52")  # raises with the role's message
    inside = [c for c in codes if actor.covers_region(c)]
    if not inside:
        raise Forbidden(
            f"{actor.label} is scoped to region {actor.region_code or '(none)'}; this study "
            f"area covers {', '.join(codes)}, none of them inside that region",
            hint="choose a study area of your region, or ask a province admin to run it")
    return inside


def check_year_profile(year: int, profile: str, years: list[int] | tuple[int, ...]) -> None:
    from liangshan.accounting.profiles import list_profiles

    if year not in years:
        raise InvalidInput(f"year {year} is not a year of this study area "
                           f"({', '.join(str(y) for y in years)})",
                           hint="choose one of the study area's years")
    if profile not in list_profiles():
        raise InvalidInput(f"unknown profile {profile!r}",
                           hint=f"choose one of: {', '.join(list_profiles())}")


def submit(session: Session, actor: Principal, *, source: str, label: str,
           study: StudyArea | None, year: int, profile: str) -> AccountRun:
    """Record a queued run after checking the study, year, profile and the actor's region.

    ``study`` is None for the demo sample (the five pilot counties, made on first use).
    The caller commits and then hands the run to :func:`start`.
    """
    codes = list(PILOT_COUNTIES) if study is None else \
        sorted(str(c) for c in study.zones["region_code"])
    regions = _scope(actor, codes)
    check_year_profile(year, profile, SAMPLE_YEARS if study is None else study.years)
    run = AccountRun(created_by=actor.user_id, actor_name=actor.label,
                     actor_role=actor.role.value, actor_region=actor.region_code,
                     source=source, source_label=label[:300],
                     study_dir=None if study is None else str(study.root), regions=regions,
                     year=year, profile=profile, status="queued", stage="", fraction=0.0,
                     worker=_this_worker(),  # the process whose queue holds it
                     account_ids=[], detail={"outside_scope": sorted(set(codes) - set(regions))})
    session.add(run)
    session.flush()
    return run


def visible_runs(session: Session, actor: Principal, limit: int = 20) -> list[AccountRun]:
    """Recent runs the actor may see: their own, and those of their region (all for
    province-wide government roles and auditors)."""
    query = select(AccountRun).order_by(AccountRun.id.desc()).limit(limit)
    rows = list(session.scalars(query))
    return [r for r in rows if may_see(actor, r)]


def may_see(actor: Principal, run: AccountRun) -> bool:
    if run.created_by is not None and run.created_by == actor.user_id:
        return True
    if actor.role not in READER_ROLES:
        return False
    if not actor.region_code:
        return True
    return bool(run.actor_region) and str(run.actor_region).startswith(actor.region_code)


def get_run(session: Session, actor: Principal, run_id: int) -> AccountRun:
    run = session.get(AccountRun, run_id)
    if run is None or not may_see(actor, run):
        raise NotFound(f"account run {run_id} does not exist or is not yours to see",
                       hint="open the list of runs at /web/runs")
    return run


# ---------------------------------------------------------------- the worker


class _Worker:
    """One daemon thread that runs queued runs in order."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[tuple[Engine, int]] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def put(self, engine: Engine, run_id: int) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="liangshan-account-runs",
                                               daemon=True)
                self.thread.start()
        self.jobs.put((engine, run_id))

    def _loop(self) -> None:
        while True:
            engine, run_id = self.jobs.get()
            try:
                execute(engine, run_id)
            except Exception:  # execute records its own failures; this is the last resort
                log.exception("account run %s: the worker failed", run_id)
            finally:
                self.jobs.task_done()


_worker = _Worker()


def start(engine: Engine, run_id: int) -> None:
    """Hand a committed, queued run to this process's worker thread."""
    _worker.put(engine, run_id)


def fail_orphans(session: Session) -> int:
    """Mark as failed the queued or running runs of worker processes on this host that no
    longer exist (the server stopped before or during the run). Returns how many."""
    host = socket.gethostname()
    count = 0
    unfinished = AccountRun.status.in_(("queued", "running"))
    for run in session.scalars(select(AccountRun).where(unfinished)):
        where, _, pid = (run.worker or "").rpartition(":")
        if where != host or not pid.isdigit() or _alive(int(pid)):
            continue
        run.message = f"the run was interrupted: the server stopped while it was {run.status}"
        run.status, run.finished_at = "failed", utcnow()
        run.hint = "start the run again"
        count += 1
    return count


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _update(engine: Engine, run_id: int, **values: object) -> None:
    with session_factory(engine)() as session:
        run = session.get(AccountRun, run_id)
        if run is None:
            return
        for key, value in values.items():
            setattr(run, key, value)
        session.commit()


def _reporter(engine: Engine, run_id: int, start: float, share: float
              ) -> Callable[[str, float], None]:
    """A progress callback that maps 0–1 onto [start, start + share] and writes it to the
    run at most every PROGRESS_EVERY_S seconds (and on every new top-level stage)."""
    last_at, last_stage = 0.0, ""

    def report(stage: str, fraction: float) -> None:
        nonlocal last_at, last_stage
        now = time.monotonic()
        top = stage.split(":")[0]
        if now - last_at < PROGRESS_EVERY_S and top == last_stage:
            return
        last_at, last_stage = now, top
        value = start + share * max(0.0, min(1.0, float(fraction)))
        _update(engine, run_id, stage=stage[:200], fraction=min(value, 0.999))

    return report


def _open_study(engine: Engine, run: AccountRun) -> StudyArea:
    if run.study_dir is not None:
        return StudyArea.open(run.study_dir)
    from liangshan.datasets.sample import demo_study_area

    path = demo_study_area(get_settings().data_dir / "samples", resolution_m=SAMPLE_RESOLUTION_M,
                           progress=_reporter(engine, run.id, 0.0, PREPARE_SHARE))
    return StudyArea.open(path)


def execute(engine: Engine, run_id: int) -> None:
    """Run one queued run to the end, recording progress, result or error in its row."""
    from liangshan.accounting.run import run_gep

    with session_factory(engine)() as session:
        run = session.get(AccountRun, run_id)
        if run is None or run.status != "queued":
            return
        run.status, run.started_at, run.worker = "running", utcnow(), _this_worker()
        run.stage = "preparing"
        session.commit()
        session.expunge(run)
    actor = Principal(role=Role(run.actor_role), region_code=run.actor_region,
                      user_id=run.created_by, username=run.actor_name)
    try:
        study = _open_study(engine, run)
        first = PREPARE_SHARE if run.study_dir is None else 0.0
        account = run_gep(study, run.year, run.profile,
                          progress=_reporter(engine, run_id, first, 0.95 - first))
        _update(engine, run_id, stage="storing", fraction=0.95)
        names = dict(zip(study.zones["region_code"].astype(str), study.zones["name"],
                         strict=True)) if "name" in study.zones.columns else {}
        ids: list[str] = []
        stored: list[dict[str, object]] = []
        with session_factory(engine)() as session:
            for code in [c for c in account.regions if c in run.regions]:
                county = account.for_region(code)
                title = f"{names.get(code, code)} {run.year} 年 GEP ({run.source_label})"
                row = accounts.store_revision(session, actor, AccountIn(
                    id=county.id, kind=county.kind, title=title[:300], region_code=code,
                    year=county.year, profile=county.profile, lines=county.lines(),
                    manifest=county.manifest, summary=county.summary(),
                    sample_data=study.is_sample))
                ids.append(row.id)
                stored.append({"id": row.id, "region_code": code, "gep_fen": row.gep_fen,
                               "status": row.status})
            session.commit()
        missing = sorted(set(run.regions) - set(account.regions))
        note = None if not missing else \
            f"no values for zone(s) {', '.join(missing)}: nothing stored for them"
        _update(engine, run_id, status="done", stage="done", fraction=1.0, account_ids=ids,
                finished_at=utcnow(), message=note,
                detail={**run.detail, "stored": stored,
                        "warnings": [str(w) for w in account.warnings][:50]})
    except LiangshanError as exc:
        _update(engine, run_id, status="failed", finished_at=utcnow(), message=exc.message,
                hint=exc.hint)
    except Exception as exc:  # shown as a message; the traceback goes to the log
        log.exception("account run %s failed", run_id)
        _update(engine, run_id, status="failed", finished_at=utcnow(),
                message=f"the run stopped with an unexpected error: {type(exc).__name__}: {exc}",
                hint="the server log has the details; tell the platform operator")
