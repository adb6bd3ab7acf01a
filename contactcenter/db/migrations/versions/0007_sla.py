"""sla: timers (warnings and breaches due), per-ticket SLA figures, escalation ladders of policies

Revision ID: 0007_sla
Revises: 0006_kb
Create Date: 2026-11-23
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0007_sla'
down_revision: str | None = '0006_kb'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('sla_policies') as batch:
        batch.add_column(sa.Column('escalation', JSON, server_default='[]', nullable=False))
    op.create_table('sla_timers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=20), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=False),
    sa.Column('point', sa.String(length=20), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=True),
    sa.Column('fired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_sla_timers_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_timers')),
    sa.UniqueConstraint('ticket_id', 'metric', 'cycle', 'point', name='uq_sla_timers_ticket_point')
    )
    op.create_index('ix_sla_timers_state_due_at', 'sla_timers', ['state', 'due_at'], unique=False)
    op.create_table('sla_tickets',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=True),
    sa.Column('policy_name', sa.String(length=120), nullable=False),
    sa.Column('contract', sa.String(length=200), nullable=True),
    sa.Column('flags', JSON, nullable=False),
    sa.Column('first_response_business_seconds', sa.Integer(), nullable=True),
    sa.Column('first_response_calendar_seconds', sa.Integer(), nullable=True),
    sa.Column('resolution_business_seconds', sa.Integer(), nullable=True),
    sa.Column('resolution_calendar_seconds', sa.Integer(), nullable=True),
    sa.Column('breaches', sa.Integer(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_sla_tickets_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('ticket_id', name=op.f('pk_sla_tickets'))
    )


def downgrade() -> None:
    op.drop_table('sla_tickets')
    op.drop_index('ix_sla_timers_state_due_at', table_name='sla_timers')
    op.drop_table('sla_timers')
    with op.batch_alter_table('sla_policies') as batch:
        batch.drop_column('escalation')
