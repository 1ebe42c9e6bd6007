"""ledger entries read in statement order: (merchant_id, date, id)

The statement pages by (date, id): with the id in the index each page is one
range scan already in order (no sort), and the index still serves every query
the (merchant_id, date) one served, which it replaces.

Revision ID: 0005
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_ledger_entries_merchant_id_date_id", "ledger_entries", ["merchant_id", "date", "id"])
    op.drop_index("ix_ledger_entries_merchant_id_date", "ledger_entries")


def downgrade():
    op.create_index("ix_ledger_entries_merchant_id_date", "ledger_entries", ["merchant_id", "date"])
    op.drop_index("ix_ledger_entries_merchant_id_date_id", "ledger_entries")
