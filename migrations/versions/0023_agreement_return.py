"""The bank can return a pending agreement to its agency with a reason instead of countersigning it (issue 22): the
agreement status `returned`, and the reason and time of the last return.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 00:10:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

OLD_STATUSES = ('pending_bank', 'active', 'suspended', 'expired', 'terminated')
NEW_STATUSES = ('pending_bank', 'returned', 'active', 'suspended', 'expired', 'terminated')

agreements = sa.table('agreements', sa.column('status', sa.String(20)))


def upgrade():
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('return_reason', sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(batch_op.f('ck_agreements_agreement_status'), type_='check')
        batch_op.create_check_constraint('agreement_status', sa.column('status').in_(NEW_STATUSES))


def downgrade():
    # Before this revision a returned agreement could only wait for the bank: it goes back to waiting.
    op.execute(agreements.update().where(agreements.c.status == 'returned').values(status='pending_bank'))
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_agreements_agreement_status'), type_='check')
        batch_op.create_check_constraint('agreement_status', sa.column('status').in_(OLD_STATUSES))
        batch_op.drop_column('returned_at')
        batch_op.drop_column('return_reason')
