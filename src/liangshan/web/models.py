"""The ``account_runs`` table: an account run started from the web page, and its progress.

A run is kept in the database (not in memory) so that a reload, another browser
or another server process shows the same state. The actor's role and region are
copied at submission: the run stores accounts with the rights the user had when
they started it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from liangshan.db import Base, Timestamped, UTCDateTime

#: Status values, in the order a run goes through them.
RUN_STATUSES = ("queued", "running", "done", "failed")


class AccountRun(Timestamped, Base):
    __tablename__ = "account_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(32))
    actor_region: Mapped[str | None] = mapped_column(String(12), index=True)
    source: Mapped[str] = mapped_column(String(16))        # sample / configured / upload
    source_label: Mapped[str] = mapped_column(String(300))  # what the user chose, for display
    study_dir: Mapped[str | None] = mapped_column(Text)     # server path (None for the sample)
    regions: Mapped[list[str]] = mapped_column(JSON)        # zones to store (inside the scope)
    year: Mapped[int] = mapped_column()
    profile: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    stage: Mapped[str] = mapped_column(String(200), default="")
    fraction: Mapped[float] = mapped_column(Float, default=0.0)  # 0–1
    worker: Mapped[str | None] = mapped_column(String(120))      # host:pid running it
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message: Mapped[str | None] = mapped_column(Text)   # the error (failed) or a note (done)
    hint: Mapped[str | None] = mapped_column(Text)
    account_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # warnings, skipped zones
