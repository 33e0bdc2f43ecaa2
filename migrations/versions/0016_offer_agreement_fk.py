"""The foreign key from an offer to the 总对总 agreement guaranteeing it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 02:40:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    # Nothing stopped an offer from naming an agreement that does not exist; such an offer carries no guarantee,
    # and the constraint cannot be created over it.
    op.execute(sa.text(
        'UPDATE offers SET agreement_id = NULL WHERE agreement_id IS NOT NULL '
        'AND NOT EXISTS (SELECT 1 FROM agreements WHERE agreements.id = offers.agreement_id)'))
    # On SQLite the table is rebuilt, with foreign-key enforcement off and checked afterwards (migrations/env.py).
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_offers_agreement_id_agreements'), 'agreements',
                                    ['agreement_id'], ['id'])


def downgrade():
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_offers_agreement_id_agreements'), type_='foreignkey')
