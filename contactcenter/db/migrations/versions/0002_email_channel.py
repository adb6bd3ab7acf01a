"""e-mail channel: raw inbound payloads kept for review/replay, lookup of messages by provider id

Revision ID: 0002_email
Revises: 0001
Create Date: 2026-11-23
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002_email'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('raw_inbound',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('envelope', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('replayed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_raw_inbound')),
    sa.UniqueConstraint('channel', 'digest', name='uq_raw_inbound_channel_digest')
    )
    with op.batch_alter_table('raw_inbound', schema=None) as batch_op:
        batch_op.create_index('ix_raw_inbound_status_id', ['status', 'id'], unique=False)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_provider_id', ['provider_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_provider_id')
    with op.batch_alter_table('raw_inbound', schema=None) as batch_op:
        batch_op.drop_index('ix_raw_inbound_status_id')
    op.drop_table('raw_inbound')
