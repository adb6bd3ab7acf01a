"""kb: automatic answers to tickets (answered once, the routing hold while the customer decides, the outcome)

Revision ID: 0012_kb_more
Revises: 0011_privacy
Create Date: 2026-11-23
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012_kb_more'
down_revision: str | None = '0011_privacy'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HELD = "outcome IS NULL AND hold_until IS NOT NULL"


def upgrade() -> None:
    op.create_table('kb_auto_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('hold_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=12), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['kb_articles.id'], name=op.f('fk_kb_auto_answers_article_id_kb_articles'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_kb_auto_answers_message_id_messages')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_kb_auto_answers_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_auto_answers')),
    sa.UniqueConstraint('ticket_id', name=op.f('uq_kb_auto_answers_ticket_id'))
    )
    with op.batch_alter_table('kb_auto_answers', schema=None) as batch_op:
        batch_op.create_index('ix_kb_auto_answers_hold_until', ['hold_until'], unique=False,
                              sqlite_where=sa.text(HELD), postgresql_where=sa.text(HELD))


def downgrade() -> None:
    with op.batch_alter_table('kb_auto_answers', schema=None) as batch_op:
        batch_op.drop_index('ix_kb_auto_answers_hold_until')
    op.drop_table('kb_auto_answers')
