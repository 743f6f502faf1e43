"""targets per unit, KPI and quarter; the county-level cities of each dealer's area; indexes the digest reads

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01 21:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('target',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('quarter', sa.Integer(), nullable=False),
    sa.Column('kpi', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
    sa.Column('explicit', sa.Boolean(), nullable=False),
    sa.Column('updated_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('year', 'quarter', 'kpi', 'org_unit_id', name='uq_target_unit_kpi')
    )
    op.create_index(op.f('ix_target_year'), 'target', ['year'], unique=False)
    op.create_index(op.f('ix_target_org_unit_id'), 'target', ['org_unit_id'], unique=False)
    op.create_table('dealer_area',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dealer_unit_id', sa.Integer(), nullable=False),
    sa.Column('province', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('city', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['dealer_unit_id'], ['org_unit.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dealer_unit_id', 'city', name='uq_dealer_area_city')
    )
    op.create_index(op.f('ix_dealer_area_dealer_unit_id'), 'dealer_area', ['dealer_unit_id'], unique=False)
    # The digest and progress read visits by time and group them by dealer: one range scan, no table lookups.
    op.create_index('ix_visit_time_dealer', 'visit', ['visited_at', 'dealer_unit_id', 'visit_kind',
                                                      'location_status'], unique=False)
    op.create_index('ix_customer_follow_up_dealer', 'customer', ['next_follow_up', 'dealer_unit_id'], unique=False)
    op.create_index('ix_customer_created_dealer', 'customer', ['created_at', 'dealer_unit_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_customer_created_dealer', table_name='customer')
    op.drop_index('ix_customer_follow_up_dealer', table_name='customer')
    op.drop_index('ix_visit_time_dealer', table_name='visit')
    op.drop_index(op.f('ix_dealer_area_dealer_unit_id'), table_name='dealer_area')
    op.drop_table('dealer_area')
    op.drop_index(op.f('ix_target_org_unit_id'), table_name='target')
    op.drop_index(op.f('ix_target_year'), table_name='target')
    op.drop_table('target')
