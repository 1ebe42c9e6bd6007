"""facts (every event received), daily figures, counters

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
        "facts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("service", sa.String(40), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("merchant_id", sa.String(32), nullable=False),
        sa.Column("occurred_on", sa.Date, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("event_id", name="uq_facts_event_id"),
    )
    op.create_index("ix_facts_merchant_id_occurred_on", "facts", ["merchant_id", "occurred_on"])
    op.create_table(
        "daily_figures",
        sa.Column("merchant_id", sa.String(32), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("collected_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("collected_amount", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rejected_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rejected_amount", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("mandates_signed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("paid_out_amount", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "counters",
        sa.Column("merchant_id", sa.String(32), primary_key=True),
        sa.Column("mandates_signed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("payments_rejected", sa.Integer, nullable=False, server_default="0"),
        sa.Column("plans_active", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade():
    op.drop_table("counters")
    op.drop_table("daily_figures")
    op.drop_index("ix_facts_merchant_id_occurred_on", "facts")
    op.drop_table("facts")
