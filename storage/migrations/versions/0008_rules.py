"""rules: live-location period on visits, stranger notices, cross-dealer duplicate flags, revoked invites

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-01 21:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('live_period', sa.Integer(), nullable=True))
    with op.batch_alter_table('invite', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_at', storage.types.UTCDateTime(), nullable=True))
    op.create_table('stranger_notice',
    sa.Column('tg_user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('refused_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', storage.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('tg_user_id')
    )
    op.create_table('duplicate_flag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('other_customer_id', sa.Integer(), nullable=False),
    sa.Column('dealer_unit_id', sa.Integer(), nullable=False),
    sa.Column('other_dealer_unit_id', sa.Integer(), nullable=False),
    sa.Column('reviewer_unit_id', sa.Integer(), nullable=False),
    sa.Column('reviewer_path', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('raised_by_staff_id', sa.Integer(), nullable=False),
    sa.Column('resolved_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['other_customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['dealer_unit_id'], ['org_unit.id'], ),
    sa.ForeignKeyConstraint(['other_dealer_unit_id'], ['org_unit.id'], ),
    sa.ForeignKeyConstraint(['reviewer_unit_id'], ['org_unit.id'], ),
    sa.ForeignKeyConstraint(['raised_by_staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('customer_id', 'other_customer_id', name='uq_duplicate_flag_pair')
    )
    with op.batch_alter_table('duplicate_flag', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duplicate_flag_phone'), ['phone'], unique=False)
        batch_op.create_index(batch_op.f('ix_duplicate_flag_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_duplicate_flag_other_customer_id'), ['other_customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_duplicate_flag_reviewer_unit_id'), ['reviewer_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_duplicate_flag_reviewer_path'), ['reviewer_path'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('duplicate_flag', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duplicate_flag_reviewer_path'))
        batch_op.drop_index(batch_op.f('ix_duplicate_flag_reviewer_unit_id'))
        batch_op.drop_index(batch_op.f('ix_duplicate_flag_other_customer_id'))
        batch_op.drop_index(batch_op.f('ix_duplicate_flag_customer_id'))
        batch_op.drop_index(batch_op.f('ix_duplicate_flag_phone'))
    op.drop_table('duplicate_flag')
    op.drop_table('stranger_notice')
    with op.batch_alter_table('invite', schema=None) as batch_op:
        batch_op.drop_column('revoked_at')
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.drop_column('live_period')
