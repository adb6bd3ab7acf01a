"""tickets.sla_due_at: the earliest breach of a ticket's running SLA clocks, for the routing order

Revision ID: 0013_sla_due
Revises: 0012_kb_more
Create Date: 2026-11-23
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013_sla_due'
down_revision: str | None = '0012_kb_more'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "assignee_id IS NULL AND status IN ('new', 'open') AND merged_into_id IS NULL AND sla_due_at IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sla_due_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE tickets SET sla_due_at = (SELECT min(due_at) FROM sla_timers WHERE sla_timers.ticket_id = "
               "tickets.id AND sla_timers.point = 'breach' AND sla_timers.state = 'pending')")
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_waiting_sla', ['routing_queue', 'priority', 'sla_due_at'], unique=False,
                              sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_waiting_sla', sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))
        batch_op.drop_column('sla_due_at')
