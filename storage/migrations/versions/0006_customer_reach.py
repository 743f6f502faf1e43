"""customer reach: linked Telegram accounts, opt-outs, link codes, service bookings

Revision ID: 0006
Revises: 0004, 0005 (joins the inbox and outbox heads)
Create Date: 2026-12-01 22:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tg_user_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('locale', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('linked_at', storage.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('reminders_off', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('sms_opt_out_at', storage.types.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_customer_tg_user_id'), ['tg_user_id'], unique=False)
        # The maintenance and replacement jobs select customers by purchase day.
        batch_op.create_index('ix_customer_purchase_date', ['purchase_date'], unique=False)

    op.create_table('customer_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('issued_by_staff_id', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('expires_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('used_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('used_by_tg_user_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['issued_by_staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('customer_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_link_code_hash'), ['code_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_customer_link_customer_id'), ['customer_id'], unique=False)

    op.create_table('service_booking',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_token', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('dealer_unit_id', sa.Integer(), nullable=False),
    sa.Column('org_path', sa.String(length=512), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('slot_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['dealer_unit_id'], ['org_unit.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_token'),
    )
    with op.batch_alter_table('service_booking', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_booking_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_booking_dealer_unit_id'), ['dealer_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_booking_org_path'), ['org_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_booking_slot_at'), ['slot_at'], unique=False)


def downgrade() -> None:
    op.drop_table('service_booking')
    op.drop_table('customer_link')
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_purchase_date')
        batch_op.drop_index(batch_op.f('ix_customer_tg_user_id'))
        batch_op.drop_column('sms_opt_out_at')
        batch_op.drop_column('reminders_off')
        batch_op.drop_column('linked_at')
        batch_op.drop_column('locale')
        batch_op.drop_column('tg_user_id')
