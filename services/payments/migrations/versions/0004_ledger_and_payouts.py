"""payouts, and ledger entries read by value date

Revision ID: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "payouts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), nullable=False),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("end_to_end_id", sa.String(35), nullable=False, unique=True),
        sa.Column("creditor_name", sa.String(140), nullable=False),
        sa.Column("creditor_iban", sa.String(34), nullable=False),
        sa.Column("creditor_bic", sa.String(11)),
        sa.Column("execution_date", sa.Date, nullable=False),
        sa.Column("bank_file_id", sa.String(32)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("paid_at", sa.DateTime(timezone=True)),
        sa.Column("paid_on", sa.Date),
        sa.Column("failed_reason", sa.String(140)),
    )
    op.create_index("ix_payouts_merchant_id_id", "payouts", ["merchant_id", "id"])
    op.create_index("ix_payouts_merchant_id_status", "payouts", ["merchant_id", "status"])
    # the balance is read by value date: an entry booked without one is valued on its date
    op.execute("UPDATE ledger_entries SET value_date = date WHERE value_date IS NULL")
    op.create_index("ix_ledger_entries_merchant_id_value_date", "ledger_entries", ["merchant_id", "value_date"])


def downgrade():
    op.drop_index("ix_ledger_entries_merchant_id_value_date", "ledger_entries")
    op.drop_table("payouts")
