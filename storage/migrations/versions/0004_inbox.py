"""inbox: every update stored before it is acknowledged, claimed per user in order, marked done with its writes

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Times are epoch seconds (float): compared with one another only, never shown, same on both databases.
    op.create_table(
        'inbox',
        sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('chat_key', sa.BigInteger(), nullable=False),
        sa.Column('payload', sa.Text(), nullable=True),
        sa.Column('status', sa.SmallInteger(), nullable=False, server_default='0'),
        sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('claim_token', sa.String(length=32), nullable=True),
        sa.Column('claim_until', sa.Float(), nullable=False, server_default='0'),
        sa.Column('not_before', sa.Float(), nullable=False, server_default='0'),
        sa.Column('received_at', sa.Float(), nullable=False),
        sa.Column('done_at', sa.Float(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('pending_reply', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('update_id'),
    )
    # The head-of-queue check (is there an earlier open update of this user?) and the claim scan.
    op.create_index('ix_inbox_open_key', 'inbox', ['chat_key', 'status', 'update_id'])
    op.create_index('ix_inbox_status', 'inbox', ['status', 'update_id'])


def downgrade() -> None:
    op.drop_index('ix_inbox_status', table_name='inbox')
    op.drop_index('ix_inbox_open_key', table_name='inbox')
    op.drop_table('inbox')
