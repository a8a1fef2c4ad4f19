"""outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import mailbot.models


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=998), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('to_address', sa.Text(), nullable=False),
    sa.Column('from_address', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', mailbot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempt_started_at', mailbot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', mailbot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('queued_at', mailbot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', mailbot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('appended_to_sent', sa.Boolean(), nullable=False),
    sa.Column('needs_approval', sa.Boolean(), nullable=False),
    sa.Column('approved_by', sa.String(length=320), nullable=True),
    sa.Column('approved_at', mailbot.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_outbox_state_due', ['state', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_state_due')
        batch_op.drop_index(batch_op.f('ix_outbox_case_id'))
    op.drop_table('outbox')
