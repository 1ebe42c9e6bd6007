"""payments' list pages: newest first by subscriber and by status, a status in a due-date window

- A subscriber's page lists its payments (merchant_id, subscriber_id) newest first, and the
  dashboard's rejected payments are (merchant_id, status) newest first: with the id last in
  each index a page is one backward range scan of `limit` rows, with no sort of the matches.
- A status in a due-date window (payments.list_payments) reads the window's ids from
  (merchant_id, status, due_date, id) alone (an index-only scan) before ordering them; it
  replaces (merchant_id, status, due_date), whose queries it still serves.

Revision ID: 0006
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_payments_merchant_id_subscriber_id_id", "payments", ["merchant_id", "subscriber_id", "id"])
    op.create_index("ix_payments_merchant_id_status_id", "payments", ["merchant_id", "status", "id"])
    op.create_index("ix_payments_merchant_id_status_due_date_id", "payments",
                    ["merchant_id", "status", "due_date", "id"])
    op.drop_index("ix_payments_merchant_id_status_due_date", "payments")


def downgrade():
    op.create_index("ix_payments_merchant_id_status_due_date", "payments", ["merchant_id", "status", "due_date"])
    op.drop_index("ix_payments_merchant_id_status_due_date_id", "payments")
    op.drop_index("ix_payments_merchant_id_status_id", "payments")
    op.drop_index("ix_payments_merchant_id_subscriber_id_id", "payments")
