"""the transactional outbox: events committed with their work, published by the relay

Revision ID: 0005
"""
from alembic import op

from common.outbox import create_outbox_events

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    create_outbox_events(op)


def downgrade():
    op.drop_table("outbox_events")
