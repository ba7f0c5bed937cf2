"""ledger: accounts, journal, idempotency keys, transparency log, checkpoints

Every ledger table is append-only: besides the ORM guard in
liangshan.ledger.models, triggers refuse UPDATE and DELETE on both SQLite and
PostgreSQL (TRUNCATE, used to empty test databases, is not a row operation).

Revision ID: 0002_ledger
Revises: 0001_identity
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import liangshan.db

revision = "0002_ledger"
down_revision = "0001_identity"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = liangshan.db.UTCDateTime(timezone=True)

APPEND_ONLY = ("ledger_log_leaves", "ledger_log_nodes", "ledger_checkpoints", "ledger_accounts",
               "ledger_entries", "ledger_postings", "ledger_idempotency_keys")


def _create_tables() -> None:
    op.create_table(
        "ledger_log_leaves",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_ledger_log_leaves")),
    )
    op.create_index(op.f("ix_ledger_log_leaves_created_at"), "ledger_log_leaves",
                    ["created_at"])
    op.create_index(op.f("ix_ledger_log_leaves_kind"), "ledger_log_leaves", ["kind"])

    op.create_table(
        "ledger_log_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("node_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "node_index", name=op.f("pk_ledger_log_nodes")),
    )

    op.create_table(
        "ledger_checkpoints",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_checkpoints")),
        sa.UniqueConstraint("tree_size", name=op.f("uq_ledger_checkpoints_tree_size")),
    )

    op.create_table(
        "ledger_accounts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("asset", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner_user_id", sa.Integer(), nullable=True),
        sa.Column("owner_org_id", sa.Integer(), nullable=True),
        sa.Column("allow_negative", sa.Boolean(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.CheckConstraint("owner_user_id IS NULL OR owner_org_id IS NULL",
                           name=op.f("ck_ledger_accounts_one_owner")),
        sa.ForeignKeyConstraint(["log_index"], ["ledger_log_leaves.leaf_index"],
                                name=op.f("fk_ledger_accounts_log_index_ledger_log_leaves")),
        sa.ForeignKeyConstraint(["owner_org_id"], ["organisations.id"],
                                name=op.f("fk_ledger_accounts_owner_org_id_organisations")),
        sa.ForeignKeyConstraint(["owner_user_id"], ["users.id"],
                                name=op.f("fk_ledger_accounts_owner_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("code", name=op.f("uq_ledger_accounts_code")),
        sa.UniqueConstraint("log_index", name=op.f("uq_ledger_accounts_log_index")),
    )
    op.create_index(op.f("ix_ledger_accounts_asset"), "ledger_accounts", ["asset"])
    op.create_index(op.f("ix_ledger_accounts_owner_org_id"), "ledger_accounts",
                    ["owner_org_id"])
    op.create_index(op.f("ix_ledger_accounts_owner_user_id"), "ledger_accounts",
                    ["owner_user_id"])

    op.create_table(
        "ledger_entries",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"],
                                name=op.f("fk_ledger_entries_actor_id_users")),
        sa.ForeignKeyConstraint(["log_index"], ["ledger_log_leaves.leaf_index"],
                                name=op.f("fk_ledger_entries_log_index_ledger_log_leaves")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_entries_idempotency_key")),
        sa.UniqueConstraint("log_index", name=op.f("uq_ledger_entries_log_index")),
    )
    op.create_index(op.f("ix_ledger_entries_actor_id"), "ledger_entries", ["actor_id"])
    op.create_index(op.f("ix_ledger_entries_reference"), "ledger_entries", ["reference"])

    op.create_table(
        "ledger_idempotency_keys",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["ledger_entries.id"],
                                name=op.f("fk_ledger_idempotency_keys_entry_id_ledger_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_idempotency_keys")),
        sa.UniqueConstraint("key", name=op.f("uq_ledger_idempotency_keys_key")),
    )

    op.create_table(
        "ledger_postings",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_postings_nonzero")),
        sa.ForeignKeyConstraint(["account_id"], ["ledger_accounts.id"],
                                name=op.f("fk_ledger_postings_account_id_ledger_accounts")),
        sa.ForeignKeyConstraint(["entry_id"], ["ledger_entries.id"],
                                name=op.f("fk_ledger_postings_entry_id_ledger_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_postings")),
        sa.UniqueConstraint("entry_id", "seq", name="uq_ledger_postings_entry_seq"),
    )
    op.create_index(op.f("ix_ledger_postings_account_id"), "ledger_postings", ["account_id"])
    op.create_index(op.f("ix_ledger_postings_entry_id"), "ledger_postings", ["entry_id"])


def _create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'ledger table % is append-only: % refused', "
            "TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation'; END $$")
        for table in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()")
    else:
        for table in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} "
                           "refused'); END")


def upgrade() -> None:
    _create_tables()
    _create_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS ledger_refuse_change()")
    else:
        for table in APPEND_ONLY:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    for table in ("ledger_postings", "ledger_idempotency_keys", "ledger_entries",
                  "ledger_accounts", "ledger_checkpoints", "ledger_log_nodes",
                  "ledger_log_leaves"):
        op.drop_table(table)
