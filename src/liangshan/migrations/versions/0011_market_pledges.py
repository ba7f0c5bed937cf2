"""market pledges (质押): units pledged to a bank, released or enforced

Revision ID: 0011_market_pledges
Revises: 0010_market_auction_deadline
Create Date: 2026-11-29 12:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import liangshan.db

revision = '0011_market_pledges'
down_revision = '0010_market_auction_deadline'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('market_pledges',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('instrument', sa.String(length=32), nullable=False),
    sa.Column('holder_org_id', sa.Integer(), nullable=False),
    sa.Column('bank_org_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('serials', sa.JSON(), nullable=False),
    sa.Column('account_code', sa.String(length=200), nullable=False),
    sa.Column('loan_ref', sa.String(length=200), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('maturity_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('entry_id', sa.BigInteger(), nullable=False),
    sa.Column('closing_entry_id', sa.BigInteger(), nullable=True),
    sa.Column('closing_key', sa.String(length=200), nullable=True),
    sa.Column('closed_at', liangshan.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', liangshan.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity > 0 AND amount_fen > 0', name=op.f('ck_market_pledges_positive')),
    sa.CheckConstraint('holder_org_id <> bank_org_id', name=op.f('ck_market_pledges_two_parties')),
    sa.CheckConstraint('maturity_date > start_date', name=op.f('ck_market_pledges_term')),
    sa.ForeignKeyConstraint(['holder_org_id'], ['organisations.id'],
                            name=op.f('fk_market_pledges_holder_org_id_organisations')),
    sa.ForeignKeyConstraint(['bank_org_id'], ['organisations.id'],
                            name=op.f('fk_market_pledges_bank_org_id_organisations')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'],
                            name=op.f('fk_market_pledges_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['closing_entry_id'], ['ledger_entries.id'],
                            name=op.f('fk_market_pledges_closing_entry_id_ledger_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_pledges')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_market_pledges_idempotency_key'))
    )
    with op.batch_alter_table('market_pledges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_market_pledges_instrument'), ['instrument'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_market_pledges_holder_org_id'), ['holder_org_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_market_pledges_bank_org_id'), ['bank_org_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_market_pledges_status'), ['status'], unique=False)


def downgrade() -> None:
    op.drop_table('market_pledges')
