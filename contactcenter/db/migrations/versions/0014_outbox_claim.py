"""outbox (status, id): the relay's claim walks the due events oldest first and stops after a batch

Revision ID: 0014_outbox_claim
Revises: 0013_sla_due
Create Date: 2026-11-24
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0014_outbox_claim'
down_revision: str | None = '0013_sla_due'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_outbox_status_id', 'outbox', ['status', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outbox_status_id', table_name='outbox')
