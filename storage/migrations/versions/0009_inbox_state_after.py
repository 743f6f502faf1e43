"""inbox.state_after: with Redis, the conversation state an update leaves, kept with its done mark

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 02:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Written with status 3 (done, state not yet in Redis) in the handler's transaction; cleared once Redis has it.
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state_after', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_column('state_after')
