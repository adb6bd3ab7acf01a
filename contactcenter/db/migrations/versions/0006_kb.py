"""knowledge base: phrasings, related articles, version history, learned phrasings, deflections

Revision ID: 0006_kb
Revises: 0005_messaging
Create Date: 2026-11-23
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006_kb'
down_revision: str | None = '0005_messaging'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phrasings', _json(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('related', _json(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.alter_column('phrasings', server_default=None)
        batch_op.alter_column('related', server_default=None)
        batch_op.alter_column('version', server_default=None)

    op.create_table('kb_article_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('category', sa.String(length=120), nullable=False),
    sa.Column('tags', _json(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('phrasings', _json(), nullable=False),
    sa.Column('related', _json(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['kb_articles.id'], name=op.f('fk_kb_article_versions_article_id_kb_articles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_article_versions')),
    sa.UniqueConstraint('article_id', 'version', name=op.f('uq_kb_article_versions_article_id'))
    )
    op.create_table('kb_learned_phrasings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['kb_articles.id'], name=op.f('fk_kb_learned_phrasings_article_id_kb_articles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_learned_phrasings')),
    sa.UniqueConstraint('article_id', 'key', name=op.f('uq_kb_learned_phrasings_article_id'))
    )
    op.create_table('kb_deflections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('helpful', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['kb_articles.id'], name=op.f('fk_kb_deflections_article_id_kb_articles'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_deflections'))
    )
    with op.batch_alter_table('kb_deflections', schema=None) as batch_op:
        batch_op.create_index('ix_kb_deflections_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('kb_deflections', schema=None) as batch_op:
        batch_op.drop_index('ix_kb_deflections_created_at')
    op.drop_table('kb_deflections')
    op.drop_table('kb_learned_phrasings')
    op.drop_table('kb_article_versions')
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.drop_column('version')
        batch_op.drop_column('related')
        batch_op.drop_column('phrasings')
