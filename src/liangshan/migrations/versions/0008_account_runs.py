"""web: account runs started from the web page (account_runs)

Revision ID: 0008_account_runs
Revises: 0003_accounts
Create Date: 2026-11-29 11:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import liangshan.db

revision = "0008_account_runs"
down_revision = "0003_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("actor_role", sa.String(length=32), nullable=False),
        sa.Column("actor_region", sa.String(length=12), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_label", sa.String(length=300), nullable=False),
        sa.Column("study_dir", sa.Text(), nullable=True),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=200), nullable=False),
        sa.Column("fraction", sa.Float(), nullable=False),
        sa.Column("worker", sa.String(length=120), nullable=True),
        sa.Column("started_at", liangshan.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", liangshan.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("hint", sa.Text(), nullable=True),
        sa.Column("account_ids", sa.JSON(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", liangshan.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"],
                                name=op.f("fk_account_runs_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_runs")),
    )
    with op.batch_alter_table("account_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_runs_actor_region"), ["actor_region"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_account_runs_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("account_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_runs_status"))
        batch_op.drop_index(batch_op.f("ix_account_runs_actor_region"))
    op.drop_table("account_runs")
