"""After the loan is made: the repayment method and contract number, repayments split into interest and principal,
renewals (无还本续贷), and compensation claims (代偿申请) with their evidence under `review` agreements.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 22:32:33

"""
import sqlalchemy as sa
from alembic import op

OLD_EVENT_TYPES = ('disbursed', 'repayment', 'overdue', 'default', 'recovery')
NEW_EVENT_TYPES = OLD_EVENT_TYPES + ('renewed',)


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('guarantee_id', sa.Integer(), nullable=False),
    sa.Column('bank_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.Column('filed_on', sa.Date(), nullable=False),
    sa.Column('due_by', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('filed', 'paid', 'rejected', 'withdrawn', name='claim_status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('filed_by_id', sa.Integer(), nullable=False),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=1000), nullable=True),
    sa.Column('allocation_id', sa.Integer(), nullable=True),
    sa.Column('overdue_on', sa.Date(), nullable=True),
    sa.CheckConstraint('amount > 0', name=op.f('ck_claims_amount_positive')),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], name=op.f('fk_claims_agreement_id_agreements')),
    sa.ForeignKeyConstraint(['allocation_id'], ['loss_allocations.id'], name=op.f('fk_claims_allocation_id_loss_allocations')),
    sa.ForeignKeyConstraint(['bank_id'], ['banks.id'], name=op.f('fk_claims_bank_id_banks')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_claims_decided_by_id_users')),
    sa.ForeignKeyConstraint(['filed_by_id'], ['users.id'], name=op.f('fk_claims_filed_by_id_users')),
    sa.ForeignKeyConstraint(['guarantee_id'], ['guarantees.id'], name=op.f('fk_claims_guarantee_id_guarantees')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_claims_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claims'))
    )
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.create_index('ix_claims_agreement_status', ['agreement_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_bank_id'), ['bank_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_loan_id'), ['loan_id'], unique=False)
        batch_op.create_index('uq_claims_one_filed_per_loan', ['loan_id'], unique=True, sqlite_where=sa.text("status = 'filed'"), postgresql_where=sa.text("status = 'filed'"))
        batch_op.create_index('uq_claims_one_paid_per_loan', ['loan_id'], unique=True, sqlite_where=sa.text("status = 'paid'"), postgresql_where=sa.text("status = 'paid'"))

    op.create_table('claim_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('size > 0', name=op.f('ck_claim_documents_size_positive')),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], name=op.f('fk_claim_documents_claim_id_claims')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_claim_documents_uploaded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_documents'))
    )
    with op.batch_alter_table('claim_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_documents_claim_id'), ['claim_id'], unique=False)

    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_mode', sa.Enum('automatic', 'review', name='claim_mode', native_enum=False, create_constraint=True, length=20), server_default='automatic', nullable=False))
        batch_op.add_column(sa.Column('claim_review_days', sa.Integer(), server_default='10', nullable=False))

    with op.batch_alter_table('loan_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('interest', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('principal', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('new_loan_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_loan_events_new_loan_id_loans'), 'loans', ['new_loan_id'], ['id'])
        batch_op.drop_constraint(batch_op.f('ck_loan_events_loan_event_type'), type_='check')
        batch_op.create_check_constraint('loan_event_type', sa.column('type').in_(NEW_EVENT_TYPES))

    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('contract_no', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('repayment_method', sa.Enum('equal_installment', 'equal_principal', 'interest_monthly', 'revolving', name='repayment_method', native_enum=False, create_constraint=True, length=20), nullable=True))
        batch_op.add_column(sa.Column('interest_paid', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('principal_repaid', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('renews_loan_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_loans_renews_loan_id'), ['renews_loan_id'])
        batch_op.create_foreign_key(batch_op.f('fk_loans_renews_loan_id_loans'), 'loans', ['renews_loan_id'], ['id'])
    # Repayments recorded before this revision paid principal only (the contract then said so).
    op.execute("UPDATE loans SET principal_repaid = (SELECT COALESCE(SUM(e.amount), 0) FROM loan_events e "
               "WHERE e.loan_id = loans.id AND e.type = 'repayment')")
    op.execute("UPDATE loan_events SET principal = amount, interest = 0 WHERE type = 'repayment'")



def downgrade():
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_loans_renews_loan_id_loans'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_loans_renews_loan_id'), type_='unique')
        batch_op.drop_column('renews_loan_id')
        batch_op.drop_column('principal_repaid')
        batch_op.drop_column('interest_paid')
        batch_op.drop_constraint(batch_op.f('ck_loans_repayment_method'), type_='check')
        batch_op.drop_column('repayment_method')
        batch_op.drop_column('contract_no')

    with op.batch_alter_table('loan_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_loan_events_new_loan_id_loans'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('ck_loan_events_loan_event_type'), type_='check')
        batch_op.create_check_constraint('loan_event_type', sa.column('type').in_(OLD_EVENT_TYPES))
        batch_op.drop_column('new_loan_id')
        batch_op.drop_column('principal')
        batch_op.drop_column('interest')

    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.drop_column('claim_review_days')
        batch_op.drop_constraint(batch_op.f('ck_agreements_claim_mode'), type_='check')
        batch_op.drop_column('claim_mode')

    with op.batch_alter_table('claim_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_documents_claim_id'))

    op.drop_table('claim_documents')
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_index('uq_claims_one_paid_per_loan', sqlite_where=sa.text("status = 'paid'"), postgresql_where=sa.text("status = 'paid'"))
        batch_op.drop_index('uq_claims_one_filed_per_loan', sqlite_where=sa.text("status = 'filed'"), postgresql_where=sa.text("status = 'filed'"))
        batch_op.drop_index(batch_op.f('ix_claims_loan_id'))
        batch_op.drop_index(batch_op.f('ix_claims_bank_id'))
        batch_op.drop_index('ix_claims_agreement_status')

    op.drop_table('claims')
