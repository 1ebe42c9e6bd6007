"""signature orders

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
        "signature_orders",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("lang", sa.String(2), nullable=False),
        sa.Column("subscriber_id", sa.String(32)),
        sa.Column("customer_reference", sa.String(100), nullable=False),
        sa.Column("name", sa.String(140), nullable=False),
        sa.Column("email", sa.String(254)),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("address", sa.Text),
        sa.Column("creditor", sa.JSON, nullable=False),
        sa.Column("plan", sa.JSON),
        sa.Column("plan_id", sa.String(32)),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("iban", sa.String(34)),
        sa.Column("bic", sa.String(11)),
        sa.Column("token_hash", sa.String(64)),
        sa.Column("link_sent_at", sa.DateTime(timezone=True)),
        sa.Column("link_sends", sa.Integer, nullable=False, server_default="0"),
        sa.Column("otp_hash", sa.String(64)),
        sa.Column("otp_sent_at", sa.DateTime(timezone=True)),
        sa.Column("otp_sends", sa.Integer, nullable=False, server_default="0"),
        sa.Column("otp_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("mandate_id", sa.String(32)),
        sa.Column("failure_reason", sa.String(255)),
        sa.Column("evidence", sa.JSON),
        sa.Column("created_by", sa.String(254)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_signature_orders_merchant_id_id", "signature_orders", ["merchant_id", "id"])
    op.create_index("ix_signature_orders_merchant_id_status_id", "signature_orders",
                    ["merchant_id", "status", "id"])
    op.create_index("ix_signature_orders_status_expires_at", "signature_orders", ["status", "expires_at"])


def downgrade():
    op.drop_table("signature_orders")
