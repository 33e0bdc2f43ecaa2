"""The deal as agreed: counter-offers, several applications a request (another offer after a decline), the bank's
answer deadline, the timeline, notifications, users' e-mail, and mail through the outbox.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 19:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

OLD_STATUSES = ('submitted', 'approved', 'declined', 'guarantee_unavailable', 'withdrawn')
NEW_STATUSES = OLD_STATUSES + ('countered', 'counter_declined', 'counter_lapsed')


def upgrade():
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_applications_request_id'), type_='unique')
        batch_op.create_index(batch_op.f('ix_applications_request_id'), ['request_id'], unique=False)
        batch_op.add_column(sa.Column('respond_by', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('reminded', sa.String(length=20), nullable=True))
        batch_op.drop_constraint(batch_op.f('ck_applications_application_status'), type_='check')
        batch_op.create_check_constraint('application_status', sa.column('status').in_(NEW_STATUSES))

    op.create_table('counter_offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('rate_spread_bp', sa.Integer(), nullable=False),
    sa.Column('interest_rate', sa.Numeric(precision=10, scale=6), nullable=False),
    sa.Column('list_fee_rate', sa.Numeric(precision=10, scale=6), nullable=False),
    sa.Column('guarantee_fee_rate', sa.Numeric(precision=10, scale=6), nullable=False),
    sa.Column('fee_subsidy_rate', sa.Numeric(precision=10, scale=6), nullable=False),
    sa.Column('all_in_rate', sa.Numeric(precision=10, scale=6), nullable=False),
    sa.Column('applied_rules', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('made_by_id', sa.Integer(), nullable=False),
    sa.Column('made_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answer_reason', sa.String(length=1000), nullable=True),
    sa.CheckConstraint('amount > 0', name=op.f('ck_counter_offers_amount_positive')),
    sa.ForeignKeyConstraint(['answered_by_id'], ['users.id'], name=op.f('fk_counter_offers_answered_by_id_users')),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_counter_offers_application_id_applications')),
    sa.ForeignKeyConstraint(['made_by_id'], ['users.id'], name=op.f('fk_counter_offers_made_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counter_offers')),
    sa.UniqueConstraint('application_id', name=op.f('uq_counter_offers_application_id'))
    )

    op.create_table('timeline_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('application_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_timeline_events_actor_id_users')),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_timeline_events_application_id_applications')),
    sa.ForeignKeyConstraint(['request_id'], ['financing_requests.id'], name=op.f('fk_timeline_events_request_id_financing_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timeline_events'))
    )
    op.create_index('ix_timeline_events_request', 'timeline_events', ['request_id'], unique=False)
    op.create_index('ix_timeline_events_application', 'timeline_events', ['application_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.String(length=2000), nullable=False),
    sa.Column('link', sa.String(length=300), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    op.create_index('ix_notifications_user_read', 'notifications', ['user_id', 'read_at'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('email_notifications', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))

    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.alter_column('bank_id', existing_type=sa.Integer(), nullable=True)
    op.create_index('uq_outbox_messages_mail_key', 'outbox_messages', ['topic', 'idempotency_key'], unique=True,
                    sqlite_where=sa.text('bank_id IS NULL'), postgresql_where=sa.text('bank_id IS NULL'))

    # What is on record already, on the timeline: each request filed, each offer chosen, each bank decision.
    op.execute(sa.text(
        "INSERT INTO timeline_events (request_id, at, event, actor_id, detail) "
        "SELECT id, created_at, 'request.filed', created_by_id, '{}' FROM financing_requests"))
    op.execute(sa.text(
        "INSERT INTO timeline_events (request_id, application_id, at, event, actor_id, detail) "
        "SELECT a.request_id, a.id, a.created_at, 'offer.chosen', r.created_by_id, '{}' "
        "FROM applications a JOIN financing_requests r ON r.id = a.request_id"))
    op.execute(sa.text(
        "INSERT INTO timeline_events (request_id, application_id, at, event, actor_id, detail) "
        "SELECT request_id, id, decided_at, CASE status WHEN 'declined' THEN 'application.declined' "
        "ELSE 'application.approved' END, decided_by_id, '{}' FROM applications "
        "WHERE decided_at IS NOT NULL AND status IN ('approved', 'declined')"))


def downgrade():
    op.drop_index('uq_outbox_messages_mail_key', table_name='outbox_messages')
    op.execute(sa.text("DELETE FROM outbox_messages WHERE bank_id IS NULL"))
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.alter_column('bank_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_notifications')
        batch_op.drop_column('email')
    op.drop_index('ix_notifications_user_read', table_name='notifications')
    op.drop_table('notifications')
    op.drop_index('ix_timeline_events_application', table_name='timeline_events')
    op.drop_index('ix_timeline_events_request', table_name='timeline_events')
    op.drop_table('timeline_events')
    op.drop_table('counter_offers')
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_applications_application_status'), type_='check')
        batch_op.create_check_constraint('application_status', sa.column('status').in_(OLD_STATUSES))
        batch_op.drop_column('reminded')
        batch_op.drop_column('respond_by')
        batch_op.drop_index(batch_op.f('ix_applications_request_id'))
        batch_op.create_unique_constraint(batch_op.f('uq_applications_request_id'), ['request_id'])
