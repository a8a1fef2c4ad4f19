"""reminders, daily job runs, heartbeats; retention marks and the one-way audit redaction

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 15:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import mailbot.models


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# The audit trail stays append-only, with one deliberate exception that the
# database itself checks: retention may redact a line once (redacted_at goes
# from NULL to a time) and may then only blank its personal parts (actor,
# detail, the message links). When, what kind and which state change stay as
# they were, and a redacted line can never change again.
_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION mailbot_case_events_append_only() RETURNS trigger AS $$
BEGIN
    IF OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL
       AND NEW.id = OLD.id AND NEW.case_id = OLD.case_id AND NEW.at = OLD.at AND NEW.kind = OLD.kind
       AND NEW.from_state IS NOT DISTINCT FROM OLD.from_state
       AND NEW.to_state IS NOT DISTINCT FROM OLD.to_state
       AND NEW.message_ref IS NULL AND NEW.message_row_id IS NULL THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'case_events is append-only: audit lines cannot be changed';
END;
$$ LANGUAGE plpgsql
"""
_PG_FUNCTION_0003 = """
CREATE OR REPLACE FUNCTION mailbot_case_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'case_events is append-only: audit lines cannot be changed';
END;
$$ LANGUAGE plpgsql
"""
_SQLITE_TRIGGER = """
CREATE TRIGGER case_events_append_only BEFORE UPDATE ON case_events
WHEN NOT (OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL
          AND NEW.id = OLD.id AND NEW.case_id = OLD.case_id AND NEW.at = OLD.at AND NEW.kind = OLD.kind
          AND NEW.from_state IS OLD.from_state AND NEW.to_state IS OLD.to_state
          AND NEW.message_ref IS NULL AND NEW.message_row_id IS NULL)
BEGIN
    SELECT RAISE(ABORT, 'case_events is append-only: audit lines cannot be changed');
END
"""
_SQLITE_TRIGGER_0003 = """
CREATE TRIGGER case_events_append_only BEFORE UPDATE ON case_events
BEGIN
    SELECT RAISE(ABORT, 'case_events is append-only: audit lines cannot be changed');
END
"""


def upgrade() -> None:
    op.create_table('reminders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('cycle_start', sa.Date(), nullable=False),
    sa.Column('extended', sa.Boolean(), nullable=False),
    sa.Column('offset', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('on_day', sa.Date(), nullable=False),
    sa.Column('sent_at', mailbot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'kind', 'cycle_start', 'extended', 'offset', name='uq_reminders_once'),
    sa.UniqueConstraint('case_id', 'kind', 'on_day', name='uq_reminders_one_a_day')
    )
    op.create_table('job_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job', sa.String(length=50), nullable=False),
    sa.Column('on_day', sa.Date(), nullable=False),
    sa.Column('at', mailbot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job', 'on_day', name='uq_job_runs_job_day')
    )
    op.create_table('heartbeats',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('at', mailbot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('redacted_at', mailbot.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_cases_state_due', ['state', 'due_on'], unique=False)

    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        # batch_alter_table would copy case_events and lose the trigger; a plain ADD COLUMN keeps it.
        op.execute('DROP TRIGGER IF EXISTS case_events_append_only')
        op.add_column('case_events', sa.Column('redacted_at', mailbot.models.UTCDateTime(timezone=True), nullable=True))
        op.execute(_SQLITE_TRIGGER)
    else:
        op.add_column('case_events', sa.Column('redacted_at', mailbot.models.UTCDateTime(timezone=True), nullable=True))
        if dialect == 'postgresql':
            op.execute(_PG_FUNCTION)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        op.execute('DROP TRIGGER IF EXISTS case_events_append_only')
        op.drop_column('case_events', 'redacted_at')
        op.execute(_SQLITE_TRIGGER_0003)
    else:
        if dialect == 'postgresql':
            op.execute(_PG_FUNCTION_0003)
        op.drop_column('case_events', 'redacted_at')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_state_due')
        batch_op.drop_column('redacted_at')
    op.drop_table('heartbeats')
    op.drop_table('job_runs')
    op.drop_table('reminders')
