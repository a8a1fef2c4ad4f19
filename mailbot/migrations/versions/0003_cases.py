"""cases, their audit trail, identity challenges and the case-message link

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 12:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import mailbot.models


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# The audit trail is append-only; the database itself refuses to change a line,
# so no code path (or a hand-typed UPDATE) can rewrite history.
_PG_FUNCTION = """
CREATE FUNCTION mailbot_case_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'case_events is append-only: audit lines cannot be changed';
END;
$$ LANGUAGE plpgsql
"""
_PG_TRIGGER = """
CREATE TRIGGER case_events_append_only BEFORE UPDATE ON case_events
FOR EACH ROW EXECUTE FUNCTION mailbot_case_events_append_only()
"""
_SQLITE_TRIGGER = """
CREATE TRIGGER case_events_append_only BEFORE UPDATE ON case_events
BEGIN
    SELECT RAISE(ABORT, 'case_events is append-only: audit lines cannot be changed');
END
"""


def upgrade() -> None:
    op.create_table('cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=32), nullable=False),
    sa.Column('requester_address', sa.String(length=320), nullable=True),
    sa.Column('requester_name', sa.String(length=500), nullable=False),
    sa.Column('rights', sa.Text(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=30), nullable=False),
    sa.Column('received_at', mailbot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('root_message_id', sa.String(length=998), nullable=True),
    sa.Column('clock_started_on', sa.Date(), nullable=True),
    sa.Column('paused_on', sa.Date(), nullable=True),
    sa.Column('paused_days', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('extended', sa.Boolean(), nullable=False),
    sa.Column('extended_on', sa.Date(), nullable=True),
    sa.Column('identity_method', sa.String(length=30), nullable=True),
    sa.Column('identity_detail', sa.Text(), nullable=True),
    sa.Column('identity_confirmed_at', mailbot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('owner_attention', sa.Text(), nullable=True),
    sa.Column('created_at', mailbot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mailbot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', mailbot.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reference')
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_requester_state', ['requester_address', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_state'), ['state'], unique=False)

    op.create_table('case_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('at', mailbot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('from_state', sa.String(length=30), nullable=True),
    sa.Column('to_state', sa.String(length=30), nullable=True),
    sa.Column('message_ref', sa.String(length=998), nullable=True),
    sa.Column('message_row_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
    sa.ForeignKeyConstraint(['message_row_id'], ['messages.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_events_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_events_message_ref'), ['message_ref'], unique=False)

    op.create_table('challenges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('message_id', sa.String(length=998), nullable=True),
    sa.Column('sent_at', mailbot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', mailbot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reminded_at', mailbot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('locked_at', mailbot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('verified_at', mailbot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('method', sa.String(length=30), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token')
    )
    with op.batch_alter_table('challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_challenges_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_challenges_message_id'), ['message_id'], unique=False)

    op.create_table('case_messages',
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=30), nullable=False),
    sa.Column('linked_at', mailbot.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('message_id')
    )
    with op.batch_alter_table('case_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_messages_case_id'), ['case_id'], unique=False)

    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    elif dialect == 'sqlite':
        op.execute(_SQLITE_TRIGGER)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS case_events_append_only ON case_events')
        op.execute('DROP FUNCTION IF EXISTS mailbot_case_events_append_only()')
    elif dialect == 'sqlite':
        op.execute('DROP TRIGGER IF EXISTS case_events_append_only')

    with op.batch_alter_table('case_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_messages_case_id'))
    op.drop_table('case_messages')
    with op.batch_alter_table('challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_challenges_message_id'))
        batch_op.drop_index(batch_op.f('ix_challenges_case_id'))
    op.drop_table('challenges')
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_events_message_ref'))
        batch_op.drop_index(batch_op.f('ix_case_events_case_id'))
    op.drop_table('case_events')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_state'))
        batch_op.drop_index('ix_cases_requester_state')
    op.drop_table('cases')
