"""market agreements: listed-agreement listings (挂牌) and their fills, block deals (大宗)

Revision ID: 0009_market_agreements
Revises: 0008_market_orders
Create Date: 2026-11-29 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import liangshan.db

revision = '0009_market_agreements'
down_revision = '0008_market_orders'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('market_listed_orders',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('instrument', sa.String(length=32), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('price_fen', sa.BigInteger(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('remaining', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('fee_bp', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('placed_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', liangshan.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', liangshan.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f('ck_market_listed_orders_side')),
    sa.CheckConstraint('quantity > 0 AND remaining >= 0 AND remaining <= quantity AND price_fen > 0',
                       name=op.f('ck_market_listed_orders_quantities')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'],
                            name=op.f('fk_market_listed_orders_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_listed_orders')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_market_listed_orders_idempotency_key'))
    )
    with op.batch_alter_table('market_listed_orders', schema=None) as batch_op:
        batch_op.create_index('ix_market_listed_orders_board',
                              ['instrument', 'status', 'side', 'price_fen'], unique=False)
        batch_op.create_index('ix_market_listed_orders_owner', ['org_id', 'status'], unique=False)

    op.create_table('market_listed_fills',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('listing_id', BigId, nullable=False),
    sa.Column('taker_org_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('trade_id', BigId, nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('created_at', liangshan.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_market_listed_fills_positive')),
    sa.ForeignKeyConstraint(['listing_id'], ['market_listed_orders.id'],
                            name=op.f('fk_market_listed_fills_listing_id_market_listed_orders')),
    sa.ForeignKeyConstraint(['taker_org_id'], ['organisations.id'],
                            name=op.f('fk_market_listed_fills_taker_org_id_organisations')),
    sa.ForeignKeyConstraint(['trade_id'], ['market_trades.id'],
                            name=op.f('fk_market_listed_fills_trade_id_market_trades')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_listed_fills')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_market_listed_fills_idempotency_key'))
    )
    with op.batch_alter_table('market_listed_fills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_market_listed_fills_listing_id'), ['listing_id'],
                              unique=False)

    op.create_table('market_block_deals',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('instrument', sa.String(length=32), nullable=False),
    sa.Column('seller_org_id', sa.Integer(), nullable=False),
    sa.Column('buyer_org_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('price_fen', sa.BigInteger(), nullable=False),
    sa.Column('fee_bp', sa.Integer(), nullable=False),
    sa.Column('proposer_org_id', sa.Integer(), nullable=False),
    sa.Column('seller_confirmed', sa.Boolean(), nullable=False),
    sa.Column('buyer_confirmed', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('rejected_by', sa.Integer(), nullable=True),
    sa.Column('trade_id', BigId, nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('updated_at', liangshan.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', liangshan.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity > 0 AND price_fen > 0', name=op.f('ck_market_block_deals_positive')),
    sa.CheckConstraint('seller_org_id <> buyer_org_id',
                       name=op.f('ck_market_block_deals_two_parties')),
    sa.ForeignKeyConstraint(['seller_org_id'], ['organisations.id'],
                            name=op.f('fk_market_block_deals_seller_org_id_organisations')),
    sa.ForeignKeyConstraint(['buyer_org_id'], ['organisations.id'],
                            name=op.f('fk_market_block_deals_buyer_org_id_organisations')),
    sa.ForeignKeyConstraint(['trade_id'], ['market_trades.id'],
                            name=op.f('fk_market_block_deals_trade_id_market_trades')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_block_deals')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_market_block_deals_idempotency_key'))
    )
    with op.batch_alter_table('market_block_deals', schema=None) as batch_op:
        for col in ('instrument', 'seller_org_id', 'buyer_org_id', 'status'):
            batch_op.create_index(batch_op.f(f'ix_market_block_deals_{col}'), [col], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('market_block_deals', schema=None) as batch_op:
        for col in ('instrument', 'seller_org_id', 'buyer_org_id', 'status'):
            batch_op.drop_index(batch_op.f(f'ix_market_block_deals_{col}'))
    op.drop_table('market_block_deals')
    with op.batch_alter_table('market_listed_fills', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_market_listed_fills_listing_id'))
    op.drop_table('market_listed_fills')
    with op.batch_alter_table('market_listed_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_market_listed_orders_owner')
        batch_op.drop_index('ix_market_listed_orders_board')
    op.drop_table('market_listed_orders')
