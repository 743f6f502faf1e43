"""activities: requests, decisions, receipts, leads

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 22:27:47.721872
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('requester_staff_id', sa.Integer(), nullable=False),
    sa.Column('dealer_unit_id', sa.Integer(), nullable=False),
    sa.Column('org_path', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('activity_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('kpi', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('product_line', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('series', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
    sa.Column('starts_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('city', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('natures', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('expected_attendance', sa.Integer(), nullable=False),
    sa.Column('budget_fen', sa.BigInteger(), nullable=False),
    sa.Column('budget_lines', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('chain', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('step_index', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('step_started_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('reminded_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('escalated_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('results_asked_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('result_attendance', sa.Integer(), nullable=True),
    sa.Column('result_leads', sa.Integer(), nullable=True),
    sa.Column('result_orders', sa.Integer(), nullable=True),
    sa.Column('actual_expenses_fen', sa.BigInteger(), nullable=True),
    sa.Column('reported_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('evaluation_comment', sa.Text(), nullable=True),
    sa.Column('evaluated_by_staff_id', sa.Integer(), nullable=True),
    sa.Column('evaluated_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('submitted_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['dealer_unit_id'], ['org_unit.id'], ),
    sa.ForeignKeyConstraint(['evaluated_by_staff_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['requester_staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_token')
    )
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_dealer_unit_id'), ['dealer_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_kpi'), ['kpi'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_org_path'), ['org_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_requester_staff_id'), ['requester_staff_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_starts_at'), ['starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_state'), ['state'], unique=False)

    op.create_table('activity_decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('actor_staff_id', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('decided_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], ),
    sa.ForeignKeyConstraint(['actor_staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('activity_id', 'version', name='uq_activity_decision_version')
    )
    with op.batch_alter_table('activity_decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_decision_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_decision_actor_staff_id'), ['actor_staff_id'], unique=False)

    op.create_table('activity_lead',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('activity_lead', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_lead_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_lead_customer_id'), ['customer_id'], unique=False)

    op.create_table('activity_receipt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('file_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('file_unique_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('activity_receipt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_receipt_activity_id'), ['activity_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('activity_receipt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_receipt_activity_id'))

    op.drop_table('activity_receipt')
    with op.batch_alter_table('activity_lead', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_lead_customer_id'))
        batch_op.drop_index(batch_op.f('ix_activity_lead_activity_id'))

    op.drop_table('activity_lead')
    with op.batch_alter_table('activity_decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_decision_actor_staff_id'))
        batch_op.drop_index(batch_op.f('ix_activity_decision_activity_id'))

    op.drop_table('activity_decision')
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_state'))
        batch_op.drop_index(batch_op.f('ix_activity_starts_at'))
        batch_op.drop_index(batch_op.f('ix_activity_requester_staff_id'))
        batch_op.drop_index(batch_op.f('ix_activity_org_path'))
        batch_op.drop_index(batch_op.f('ix_activity_kpi'))
        batch_op.drop_index(batch_op.f('ix_activity_dealer_unit_id'))

    op.drop_table('activity')
