"""Running a new account from the web: the form, uploads, the background run, progress.

The study area is the accounting tests' tiny case (tests/accounting/_study_fixture.py:
two zones, 520381 and 520521, 18 × 24 cells of 100 m, year 2022). A full run takes a
few seconds; the tests poll the progress fragment as the page's HTMX does.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import time
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from liangshan import config
from liangshan.accounts import service as accounts
from liangshan.db import session_factory
from liangshan.web import runs
from liangshan.web.models import AccountRun
from tests.accounting._study_fixture import make_study
from tests.web._web_seed import csrf_token, login

TIMEOUT_S = 300


@pytest.fixture
def study_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny study area, configured on the server as LIANGSHAN_STUDY_DIRS[0]."""
    root = make_study(tmp_path / "tiny")
    monkeypatch.setenv("LIANGSHAN_STUDY_DIRS", json.dumps([str(root)]))
    config.get_settings.cache_clear()
    return root


def _zip_of(folder: Path, top: str = "tiny") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"{top}/{path.relative_to(folder).as_posix()}")
    return buffer.getvalue()


def _start(client, data: dict[str, str], upload: tuple[str, bytes] | None = None):
    files = {"upload": (upload[0], upload[1], "application/zip")} if upload else None
    return client.post("/web/runs", data={"csrf_token": csrf_token(client, "/web/runs"), **data},
                       files=files, follow_redirects=False)


def _wait(client, run_url: str) -> str:
    """Poll the progress fragment until the run is done or failed; return its last HTML."""
    deadline = time.monotonic() + TIMEOUT_S
    seen = set()
    while time.monotonic() < deadline:
        text = client.get(run_url + "/status").text
        status = re.search(r'data-status="(\w+)"', text).group(1)
        seen.add(status)
        if status in ("done", "failed"):
            assert "hx-trigger" not in text  # polling stops
            return text
        assert 'hx-trigger="every 1s"' in text
        time.sleep(0.2)
    pytest.fail(f"the run did not finish within {TIMEOUT_S} s (statuses seen: {seen})")


def test_configured_study_runs_to_stored_drafts_in_the_users_region(client, study_dir,
                                                                     db_engine):
    login(client, "chishui")                                    # county operator, 520381
    form = client.get("/web/runs").text
    assert 'value="dir:0"' in form and "tiny" in form
    response = _start(client, {"study": "dir:0", "year": "2022", "profile": "ndrc-2022"})
    assert response.status_code == 303, response.text
    run_url = response.headers["location"]
    page = client.get(run_url).text
    assert "520381" in page and "520521" in page      # stored / outside the user's region
    text = _wait(client, run_url)
    assert 'data-status="done"' in text and "100%" in text, text
    ids = re.findall(r'href="/web/accounts/([0-9a-f]{64})"', text)
    assert len(ids) == 1
    assert 'data-region="520381"' in text and "赤水市 2022" in text and "草稿" in text
    with session_factory(db_engine)() as session:
        row = accounts.get(session, ids[0])
        assert (row.region_code, row.year, row.status) == ("520381", 2022, "draft")
        assert row.gep_fen > 0 and row.sample_data
        run = session.scalars(select(AccountRun)).one()
        assert run.account_ids == ids and run.fraction == 1.0
        assert run.detail["outside_scope"] == ["520521"]
        assert run.started_at <= run.finished_at
    # the draft is linked, and publishing stays a separate action on its manage page
    assert client.get(f"/web/accounts/{ids[0]}").status_code == 200
    assert 'id="publish"' in client.get(f"/web/accounts/{ids[0]}/edit").text
    # a reload shows the finished state from the database
    assert 'data-status="done"' in client.get(run_url).text
    assert f'href="{run_url}"' in client.get("/web/runs").text


def test_uploaded_study_runs_for_the_province(client, study_dir, db_engine):
    login(client, "province")
    response = _start(client, {"study": "upload", "year": "2022", "profile": "ndrc-2022"},
                      ("tiny-study.zip", _zip_of(study_dir)))
    assert response.status_code == 303, response.text
    text = _wait(client, response.headers["location"])
    assert 'data-status="done"' in text, text
    ids = re.findall(r'href="/web/accounts/([0-9a-f]{64})"', text)
    with session_factory(db_engine)() as session:
        assert sorted(accounts.get(session, i).region_code for i in ids) == ["520381", "520521"]


def _refused(client, upload: tuple[str, bytes], *needles: str, status: int = 422) -> None:
    response = _start(client, {"study": "upload", "year": "2022"}, upload)
    assert response.status_code == status, response.text
    message = html.unescape(response.text.split('id="run-error"')[1].split("</div>")[0])
    for needle in needles:
        assert needle in message, message
    assert "Traceback" not in response.text


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_bad_uploads_are_refused_with_a_message(client, study_dir, db_engine, tmp_path,
                                                monkeypatch):
    login(client, "province")
    _refused(client, ("notes.zip", b"this is not a zip"), "not a zip file")
    _refused(client, ("evil.zip", _zip({"../../escape.txt": b"x", "study.toml": b""})),
             "outside the study folder")
    _refused(client, ("abs.zip", _zip({"/etc/cron.d/x": b"x"})), "outside the study folder")
    _refused(client, ("empty.zip", _zip({"readme.txt": b"hello"})), "no study.toml")
    # a study.toml that breaks the contract: the message names the upload, not our folders
    bad = tmp_path / "bad"
    make_study(bad)
    toml = (bad / "study.toml").read_text(encoding="utf-8")
    (bad / "study.toml").write_text(toml.replace('units = "mm/yr"', 'units = "mm"', 1),
                                    encoding="utf-8")
    _refused(client, ("bad-units.zip", _zip_of(bad)), "bad-units.zip", "expected 'mm/yr'")
    response = _start(client, {"study": "upload", "year": "2022"},
                      ("bad-units.zip", _zip_of(bad)))
    assert str(config.get_settings().data_dir) not in response.text
    # over the size limit: refused from the Content-Length, before the body is read
    monkeypatch.setenv("LIANGSHAN_UPLOAD_MAX_MB", "1")
    config.get_settings.cache_clear()
    response = _start(client, {"study": "upload", "year": "2022"},
                      ("big.zip", b"0" * 1_200_000))
    assert response.status_code == 422 and "larger than the limit of 1 MB" in response.text
    # nothing was queued, and nothing was left unpacked
    with session_factory(db_engine)() as session:
        assert session.scalars(select(AccountRun)).all() == []
    uploads = config.get_settings().data_dir / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


def test_form_mistakes_are_messages(client, study_dir):
    login(client, "province")
    response = _start(client, {"study": "dir:0", "year": "1999"})
    assert response.status_code == 422 and "not a year of this study area (2022)" in response.text
    response = _start(client, {"study": "dir:0", "year": "2022", "profile": "nope"})
    assert response.status_code == 422 and "unknown profile 'nope'" in html.unescape(response.text)
    response = _start(client, {"study": "upload", "year": "2022"})
    assert response.status_code == 422 and "no zip file was chosen" in response.text


def test_only_writers_of_a_covered_region_may_run(client, study_dir, seeded, db_engine):
    assert client.get("/web/runs", follow_redirects=False).status_code == 303   # login first
    login(client, "citizen")
    page = client.get("/web/runs").text
    assert 'id="run-form"' not in page
    response = _start(client, {"study": "dir:0", "year": "2022"})
    assert response.status_code == 403 and "may not change records" in response.text


def test_a_failing_run_shows_the_error_not_a_traceback(client, tmp_path, monkeypatch):
    root = make_study(tmp_path / "broken")
    (root / "rasters" / "dem.tif").write_bytes(b"not a GeoTIFF")   # open() only checks it exists
    monkeypatch.setenv("LIANGSHAN_STUDY_DIRS", json.dumps([str(root)]))
    config.get_settings.cache_clear()
    login(client, "province")
    response = _start(client, {"study": "dir:0", "year": "2022"})
    text = _wait(client, response.headers["location"])
    assert 'data-status="failed"' in text and 'id="run-error"' in text
    assert "dem.tif" in text and "Traceback" not in text


def test_a_run_of_a_stopped_server_is_marked_interrupted(db_session):
    def run(status: str, pid: int) -> AccountRun:
        row = AccountRun(actor_name="x", actor_role="province_admin", source="sample",
                         source_label="s", regions=["520381"], year=2022, profile="ndrc-2022",
                         status=status, stage="", fraction=0.3, account_ids=[], detail={},
                         worker=f"{runs.socket.gethostname()}:{pid}")
        db_session.add(row)
        return row

    gone = 2**22 + 12345            # above the largest pid Linux allows (2^22): never alive
    running, queued, alive = run("running", gone), run("queued", gone), run("running", os.getpid())
    db_session.flush()
    assert runs.fail_orphans(db_session) == 2
    assert running.status == queued.status == "failed" and alive.status == "running"
    assert "interrupted" in (running.message or "") and "queued" in (queued.message or "")


def test_migration_matches_the_model(db_engine):
    """Migration 0008_account_runs creates exactly the table the model declares."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from liangshan.db import Base

    with db_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diff if "account_runs" in repr(d)] == []


@pytest.mark.slow
@pytest.mark.parametrize("db_engine", ["sqlite"], indirect=True)   # the source, not the DB
def test_the_demo_sample_is_generated_and_run(client, db_engine, monkeypatch):
    """The "sample" choice makes the demo's five-county study area on first use (here at
    1 km cells to keep the test short) and stores the user's own county only."""
    monkeypatch.setattr(runs, "SAMPLE_RESOLUTION_M", 1000.0)
    login(client, "chishui")
    response = _start(client, {"study": "sample", "year": "2023", "profile": "ndrc-2022"})
    assert response.status_code == 303, response.text
    text = _wait(client, response.headers["location"])
    assert 'data-status="done"' in text, text
    ids = re.findall(r'href="/web/accounts/([0-9a-f]{64})"', text)
    with session_factory(db_engine)() as session:
        assert [accounts.get(session, i).region_code for i in ids] == ["520381"]
        run = session.scalars(select(AccountRun)).one()
        assert run.detail["outside_scope"] == ["520521", "520621", "522634", "522701"]
    assert (config.get_settings().data_dir / "samples").is_dir()
