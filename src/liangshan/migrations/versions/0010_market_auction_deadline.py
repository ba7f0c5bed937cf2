"""market auctions: an optional bidding deadline (closes_at, UTC)

Revision ID: 0010_market_auction_deadline
Revises: 0009_market_agreements
Create Date: 2026-11-29 12:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import liangshan.db

revision = '0010_market_auction_deadline'
down_revision = '0009_market_agreements'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('market_auctions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closes_at', liangshan.db.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('market_auctions', schema=None) as batch_op:
        batch_op.drop_column('closes_at')
