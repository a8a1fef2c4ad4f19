"""workflow: messages handled after intake, and owner approval of drafts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 09:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import mailbot.models


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handled_at', mailbot.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_messages_status_handled', ['status', 'handled_at'], unique=False)

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approval_token', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('decided_at', mailbot.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('decision_note', sa.Text(), nullable=True))
        batch_op.create_unique_constraint('uq_outbox_approval_token', ['approval_token'])


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint('uq_outbox_approval_token', type_='unique')
        batch_op.drop_column('decision_note')
        batch_op.drop_column('decided_at')
        batch_op.drop_column('approval_token')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_status_handled')
        batch_op.drop_column('handled_at')
