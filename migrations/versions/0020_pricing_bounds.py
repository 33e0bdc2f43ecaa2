"""The admin's pricing bounds per product type (issue 22's guardrails): spread, amounts and terms a product must
keep within when it is saved and published. A type without a row has the defaults in products.bounds.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 12:10:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

PRODUCT_TYPES = ('credit', 'renewal', 'revolving', 'term', 'ip_pledge', 'park')


def upgrade():
    op.create_table('pricing_bounds',
    sa.Column('product_type', sa.Enum(*PRODUCT_TYPES, name='product_type', native_enum=False, create_constraint=True,
                                      length=20), nullable=False),
    sa.Column('spread_min_bp', sa.Integer(), nullable=False),
    sa.Column('spread_max_bp', sa.Integer(), nullable=False),
    sa.Column('amount_min', sa.BigInteger(), nullable=False),
    sa.Column('amount_max', sa.BigInteger(), nullable=False),
    sa.Column('term_min_months', sa.Integer(), nullable=False),
    sa.Column('term_max_months', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('spread_min_bp <= spread_max_bp', name=op.f('ck_pricing_bounds_spread_range')),
    sa.CheckConstraint('amount_min > 0 AND amount_min <= amount_max', name=op.f('ck_pricing_bounds_amount_range')),
    sa.CheckConstraint('term_min_months >= 1 AND term_min_months <= term_max_months AND term_max_months <= 360',
                       name=op.f('ck_pricing_bounds_term_range')),
    sa.PrimaryKeyConstraint('product_type', name=op.f('pk_pricing_bounds'))
    )


def downgrade():
    op.drop_table('pricing_bounds')
