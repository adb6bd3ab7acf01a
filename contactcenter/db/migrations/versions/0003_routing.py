"""routing: offers, waiting and overflow state on tickets, wrap-up and missed offers on users

Revision ID: 0003_routing
Revises: 0002_email
Create Date: 2026-11-23
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003_routing'
down_revision: str | None = '0002_email'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "assignee_id IS NULL AND status IN ('new', 'open') AND merged_into_id IS NULL"
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('ring', sa.Integer(), nullable=False),
    sa.Column('reason', JSON, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_offers_ticket_id_tickets')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_offers_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers'))
    )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_index('uq_offers_pending_ticket', ['ticket_id'], unique=True,
                              sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
        batch_op.create_index('ix_offers_status_expires_at', ['status', 'expires_at'], unique=False)
        batch_op.create_index('ix_offers_user_id_status', ['user_id', 'status'], unique=False)
        batch_op.create_index('ix_offers_ticket_id_id', ['ticket_id', 'id'], unique=False)
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('ring', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_ring_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('routing_queue', sa.String(length=80), nullable=True))
    op.execute(f"UPDATE tickets SET waiting_since = created_at, routing_queue = queue WHERE {WAITING}")  # noqa: S608
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_waiting', ['routing_queue', 'priority', 'waiting_since'], unique=False,
                              sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))
        batch_op.create_index('ix_tickets_next_ring_at', ['next_ring_at'], unique=False,
                              sqlite_where=sa.text('next_ring_at IS NOT NULL'),
                              postgresql_where=sa.text('next_ring_at IS NOT NULL'))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_offered_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('wrap_up_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('missed_offers', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_index(batch_op.f('ix_users_wrap_up_until'), ['wrap_up_until'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_wrap_up_until'))
        batch_op.drop_column('missed_offers')
        batch_op.drop_column('wrap_up_until')
        batch_op.drop_column('last_offered_at')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_next_ring_at')
        batch_op.drop_index('ix_tickets_waiting')
        batch_op.drop_column('routing_queue')
        batch_op.drop_column('next_ring_at')
        batch_op.drop_column('ring')
        batch_op.drop_column('waiting_since')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index('ix_offers_ticket_id_id')
        batch_op.drop_index('ix_offers_user_id_status')
        batch_op.drop_index('ix_offers_status_expires_at')
        batch_op.drop_index('uq_offers_pending_ticket')
    op.drop_table('offers')
