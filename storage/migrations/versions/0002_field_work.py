"""field work: customers, visits, opinion leaders, info stations, sales

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 22:24:44.554290
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('customer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('nature', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('sales_mode', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('vehicle_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('industry', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=True),
    sa.Column('fleet_size', sa.Integer(), nullable=True),
    sa.Column('province', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('city', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('stage', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=True),
    sa.Column('owner_staff_id', sa.Integer(), nullable=False),
    sa.Column('dealer_unit_id', sa.Integer(), nullable=False),
    sa.Column('org_path', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('known_lat', sa.Float(), nullable=True),
    sa.Column('known_lon', sa.Float(), nullable=True),
    sa.Column('purchase_date', sa.Date(), nullable=True),
    sa.Column('next_follow_up', sa.Date(), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['dealer_unit_id'], ['org_unit.id'], ),
    sa.ForeignKeyConstraint(['owner_staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dealer_unit_id', 'phone', name='uq_customer_dealer_phone')
    )
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_dealer_unit_id'), ['dealer_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_next_follow_up'), ['next_follow_up'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_org_path'), ['org_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_owner_staff_id'), ['owner_staff_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_phone'), ['phone'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_stage'), ['stage'], unique=False)

    op.create_table('info_station',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
    sa.Column('contact_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('province', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('city', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('created_by_staff_id', sa.Integer(), nullable=False),
    sa.Column('dealer_unit_id', sa.Integer(), nullable=False),
    sa.Column('org_path', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_staff_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['dealer_unit_id'], ['org_unit.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_token')
    )
    with op.batch_alter_table('info_station', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_info_station_created_by_staff_id'), ['created_by_staff_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_info_station_dealer_unit_id'), ['dealer_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_info_station_org_path'), ['org_path'], unique=False)

    op.create_table('opinion_leader',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('province', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('city', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('vehicles', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('fleet_size', sa.Integer(), nullable=True),
    sa.Column('maintainer_staff_id', sa.Integer(), nullable=False),
    sa.Column('dealer_unit_id', sa.Integer(), nullable=False),
    sa.Column('org_path', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['dealer_unit_id'], ['org_unit.id'], ),
    sa.ForeignKeyConstraint(['maintainer_staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_token'),
    sa.UniqueConstraint('dealer_unit_id', 'phone', name='uq_leader_dealer_phone')
    )
    with op.batch_alter_table('opinion_leader', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opinion_leader_dealer_unit_id'), ['dealer_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_opinion_leader_maintainer_staff_id'), ['maintainer_staff_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_opinion_leader_org_path'), ['org_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_opinion_leader_phone'), ['phone'], unique=False)

    op.create_table('sale',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('product_line', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('series', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
    sa.Column('vehicle_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('trucks', sa.Integer(), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=True),
    sa.Column('reward_multiplier', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('ceremony_tier', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('sold_on', sa.Date(), nullable=False),
    sa.Column('dealer_unit_id', sa.Integer(), nullable=False),
    sa.Column('org_path', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['dealer_unit_id'], ['org_unit.id'], ),
    sa.ForeignKeyConstraint(['leader_id'], ['opinion_leader.id'], ),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_token')
    )
    with op.batch_alter_table('sale', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sale_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sale_dealer_unit_id'), ['dealer_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sale_leader_id'), ['leader_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sale_org_path'), ['org_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_sale_sold_on'), ['sold_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_sale_staff_id'), ['staff_id'], unique=False)

    op.create_table('visit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('dealer_unit_id', sa.Integer(), nullable=False),
    sa.Column('org_path', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('visit_kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('stage_after', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('next_follow_up', sa.Date(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('location_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('distance_m', sa.Float(), nullable=True),
    sa.Column('photo_file_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('visited_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['dealer_unit_id'], ['org_unit.id'], ),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_token')
    )
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visit_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_visit_dealer_unit_id'), ['dealer_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_visit_org_path'), ['org_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_visit_staff_id'), ['staff_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_visit_visited_at'), ['visited_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visit_visited_at'))
        batch_op.drop_index(batch_op.f('ix_visit_staff_id'))
        batch_op.drop_index(batch_op.f('ix_visit_org_path'))
        batch_op.drop_index(batch_op.f('ix_visit_dealer_unit_id'))
        batch_op.drop_index(batch_op.f('ix_visit_customer_id'))

    op.drop_table('visit')
    with op.batch_alter_table('sale', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sale_staff_id'))
        batch_op.drop_index(batch_op.f('ix_sale_sold_on'))
        batch_op.drop_index(batch_op.f('ix_sale_org_path'))
        batch_op.drop_index(batch_op.f('ix_sale_leader_id'))
        batch_op.drop_index(batch_op.f('ix_sale_dealer_unit_id'))
        batch_op.drop_index(batch_op.f('ix_sale_customer_id'))

    op.drop_table('sale')
    with op.batch_alter_table('opinion_leader', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opinion_leader_phone'))
        batch_op.drop_index(batch_op.f('ix_opinion_leader_org_path'))
        batch_op.drop_index(batch_op.f('ix_opinion_leader_maintainer_staff_id'))
        batch_op.drop_index(batch_op.f('ix_opinion_leader_dealer_unit_id'))

    op.drop_table('opinion_leader')
    with op.batch_alter_table('info_station', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_info_station_org_path'))
        batch_op.drop_index(batch_op.f('ix_info_station_dealer_unit_id'))
        batch_op.drop_index(batch_op.f('ix_info_station_created_by_staff_id'))

    op.drop_table('info_station')
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_stage'))
        batch_op.drop_index(batch_op.f('ix_customer_phone'))
        batch_op.drop_index(batch_op.f('ix_customer_owner_staff_id'))
        batch_op.drop_index(batch_op.f('ix_customer_org_path'))
        batch_op.drop_index(batch_op.f('ix_customer_next_follow_up'))
        batch_op.drop_index(batch_op.f('ix_customer_name'))
        batch_op.drop_index(batch_op.f('ix_customer_dealer_unit_id'))

    op.drop_table('customer')
