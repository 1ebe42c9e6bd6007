"""creditors, payments, bank files, R-transactions, ledger, unmatched entries

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "creditors",
        sa.Column("merchant_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(140), nullable=False),
        sa.Column("creditor_id", sa.String(35), nullable=False),
        sa.Column("iban", sa.String(34), nullable=False),
        sa.Column("bic", sa.String(11)),
        sa.Column("automatic_retry", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("prenotification_days", sa.Integer, nullable=False, server_default="14"),
        sa.Column("availability_delay_days", sa.Integer, nullable=False, server_default="5"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), nullable=False),
        sa.Column("plan_id", sa.String(32)),
        sa.Column("instalment_key", sa.String(80), unique=True),
        sa.Column("sequence_no", sa.Integer),
        sa.Column("mandate_id", sa.String(32), nullable=False),
        sa.Column("subscriber_id", sa.String(32)),
        sa.Column("mandate_reference", sa.String(35), nullable=False),
        sa.Column("mandate_signed_on", sa.Date, nullable=False),
        sa.Column("debtor_name", sa.String(140), nullable=False),
        sa.Column("debtor_email", sa.String(254)),
        sa.Column("iban", sa.String(34), nullable=False),
        sa.Column("bic", sa.String(11)),
        sa.Column("amendment", sa.Text),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("label", sa.String(140)),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("sequence_type", sa.String(4), nullable=False),
        sa.Column("end_to_end_id", sa.String(35), nullable=False, unique=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("replay_of", sa.String(32)),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="1"),
        sa.Column("automatic", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("bank_file_id", sa.String(32)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True)),
        sa.Column("paid_at", sa.DateTime(timezone=True)),
        sa.Column("rejected_at", sa.DateTime(timezone=True)),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_payments_merchant_id_status_due_date", "payments", ["merchant_id", "status", "due_date"])
    op.create_index("ix_payments_merchant_id_id", "payments", ["merchant_id", "id"])
    op.create_index("ix_payments_status_due_date", "payments", ["status", "due_date"])
    op.create_index("ix_payments_merchant_id_mandate_id", "payments", ["merchant_id", "mandate_id"])
    op.create_index("ix_payments_bank_file_id", "payments", ["bank_file_id"])
    op.create_index("ix_payments_replay_of", "payments", ["replay_of"])
    op.create_table(
        "bank_files",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32)),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("message_id", sa.String(35), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("direction", "message_id", name="uq_bank_files_direction_message_id"),
    )
    op.create_table(
        "r_transactions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), nullable=False),
        sa.Column("payment_id", sa.String(32), nullable=False),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("reason_code", sa.String(4), nullable=False),
        sa.Column("reason", sa.String(140), nullable=False),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("received_on", sa.Date, nullable=False),
        sa.Column("retryable", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("replayed_by", sa.String(32)),
        sa.Column("bank_file_id", sa.String(32)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_r_transactions_merchant_id_id", "r_transactions", ["merchant_id", "id"])
    op.create_index("ix_r_transactions_merchant_id_status", "r_transactions", ["merchant_id", "status"])
    op.create_index("ix_r_transactions_payment_id", "r_transactions", ["payment_id"])
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("value_date", sa.Date),
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("reference", sa.String(35)),
        sa.Column("payment_id", sa.String(32)),
        sa.Column("subscriber_name", sa.String(140)),
        sa.Column("label", sa.String(140)),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ledger_entries_merchant_id_date", "ledger_entries", ["merchant_id", "date"])
    op.create_table(
        "unmatched_entries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32)),
        sa.Column("bank_file_id", sa.String(32), nullable=False),
        sa.Column("end_to_end_id", sa.String(35)),
        sa.Column("amount", sa.Integer),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade():
    for table in ("unmatched_entries", "ledger_entries", "r_transactions", "bank_files", "payments",
                  "creditors"):
        op.drop_table(table)
