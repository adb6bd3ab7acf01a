"""privacy: a data key per contact, encrypted message bodies and attachments, erased contacts, append-only audit

Existing rows stay readable as they are (plaintext); ``contactcenter privacy encrypt-existing`` seals them.

Revision ID: 0011_privacy
Revises: 0010_security
Create Date: 2026-11-23
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011_privacy'
down_revision: str | None = '0010_security'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The audit table refuses UPDATE and DELETE unless the transaction holds a row in audit_unlocks
# (only erasure and retention add one, and remove it before they commit).
SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "WHEN NOT EXISTS (SELECT 1 FROM audit_unlocks) "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "WHEN NOT EXISTS (SELECT 1 FROM audit_unlocks) "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
]
POSTGRESQL_TRIGGERS = [
    """CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit_unlocks) THEN
        RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$""",
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
]


def upgrade() -> None:
    with op.batch_alter_table('contacts') as batch:
        batch.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('anonymized_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('contact_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('wrapped', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_contact_keys_contact_id_contacts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_keys')),
    sa.UniqueConstraint('contact_id', name=op.f('uq_contact_keys_contact_id'))
    )
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('key_id', sa.Integer(), nullable=True))
    with op.batch_alter_table('attachments') as batch:
        batch.add_column(sa.Column('key_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('file_key', sa.Text(), nullable=True))
    op.create_table('audit_unlocks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=60), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_unlocks'))
    )
    for statement in SQLITE_TRIGGERS if op.get_bind().dialect.name == 'sqlite' else POSTGRESQL_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    op.drop_table('audit_unlocks')
    with op.batch_alter_table('attachments') as batch:
        batch.drop_column('file_key')
        batch.drop_column('key_id')
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('key_id')
    op.drop_table('contact_keys')
    with op.batch_alter_table('tickets') as batch:
        batch.drop_column('anonymized_at')
    with op.batch_alter_table('contacts') as batch:
        batch.drop_column('erased_at')
