"""plans' list pages: newest first by subscriber and by frequency

A subscriber's page lists its plans (merchant_id, subscriber_id) newest first, and the
dashboard filters plans by frequency (and status) newest first: with the id last in each
index a page is one backward range scan, with no sort of every match.

Revision ID: 0004
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_plans_merchant_id_subscriber_id_id", "plans", ["merchant_id", "subscriber_id", "id"])
    op.create_index("ix_plans_merchant_id_frequency_id", "plans", ["merchant_id", "frequency", "id"])


def downgrade():
    op.drop_index("ix_plans_merchant_id_frequency_id", "plans")
    op.drop_index("ix_plans_merchant_id_subscriber_id_id", "plans")
