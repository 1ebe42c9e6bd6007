"""processed events (idempotent event handlers)

Revision ID: 0001
"""
from alembic import op

from common.idempotency import create_processed_events

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    create_processed_events(op)


def downgrade():
    op.drop_table("processed_events")
