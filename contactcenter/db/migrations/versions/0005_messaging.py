"""messaging channels: channel events (delivery reports, button presses, kept payloads), opt-outs, and an
index to find a message by its provider id

Revision ID: 0005_messaging
Revises: 0004_chat_voice
Create Date: 2026-11-23
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005_messaging'
down_revision: str | None = '0004_chat_voice'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('channel_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('ref', sa.String(length=255), nullable=True),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.Column('payload', JSON, nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_events')),
    sa.UniqueConstraint('channel', 'kind', 'key', name='uq_channel_events_channel_kind_key')
    )
    with op.batch_alter_table('channel_events', schema=None) as batch_op:
        batch_op.create_index('ix_channel_events_channel_ref', ['channel', 'ref'], unique=False)

    op.create_table('opt_outs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('keyword', sa.String(length=60), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opt_outs')),
    sa.UniqueConstraint('channel', 'address', name='uq_opt_outs_channel_address')
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_channel_provider_id', ['channel', 'provider_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_channel_provider_id')
    op.drop_table('opt_outs')
    with op.batch_alter_table('channel_events', schema=None) as batch_op:
        batch_op.drop_index('ix_channel_events_channel_ref')
    op.drop_table('channel_events')
