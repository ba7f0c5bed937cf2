"""trace: licence states in the log (log_index), idempotency keys of custodial POSTs

Revision ID: 0008_trace_idempotency
Revises: 0006_trace
Create Date: 2026-11-29 11:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import liangshan.db

revision = "0008_trace_idempotency"
down_revision = "0006_trace"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trace_brand_licences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("log_index", sa.BigInteger(), nullable=True))
    op.create_table(
        "trace_idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", liangshan.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_trace_idempotency_keys_org_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_idempotency_keys")),
        sa.UniqueConstraint("org_id", "key", name="uq_trace_idempotency_keys_org_key"),
    )


def downgrade() -> None:
    op.drop_table("trace_idempotency_keys")
    with op.batch_alter_table("trace_brand_licences", schema=None) as batch_op:
        batch_op.drop_column("log_index")
