"""subscribers, mandates, scans, amendments

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
        "subscribers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), nullable=False),
        sa.Column("customer_reference", sa.String(100), nullable=False),
        sa.Column("name", sa.String(140), nullable=False),
        sa.Column("email", sa.String(254)),
        sa.Column("phone", sa.String(20)),
        sa.Column("address", sa.Text),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("merchant_id", "customer_reference", name="uq_subscribers_customer_reference"),
    )
    op.create_index("ix_subscribers_merchant_id_id", "subscribers", ["merchant_id", "id"])
    op.create_index("ix_subscribers_customer_reference_prefix", "subscribers",
                    ["merchant_id", "customer_reference"],
                    postgresql_ops={"customer_reference": "varchar_pattern_ops"})
    # One extension per database, maybe installed by another owner already:
    # name its operator class by the schema it lives in (ours is the only one on search_path).
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
    schema = op.get_bind().scalar(sa.text(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"))
    op.create_index("ix_subscribers_search_text_trgm", "subscribers", ["search_text"],
                    postgresql_using="gin", postgresql_ops={"search_text": f"{schema}.gin_trgm_ops"})

    op.create_table(
        "mandates",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), nullable=False),
        sa.Column("subscriber_id", sa.String(32), sa.ForeignKey("subscribers.id"), nullable=False),
        sa.Column("reference", sa.String(35), nullable=False),
        sa.Column("iban", sa.String(34), nullable=False),
        sa.Column("bic", sa.String(11)),
        sa.Column("signature_method", sa.String(20), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True)),
        sa.Column("signed_place", sa.String(140)),
        sa.Column("sequence", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("last_collected_on", sa.Date),
        sa.Column("dormant_on", sa.Date),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("revocation_reason", sa.String(140)),
        sa.Column("expired_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scan_filename", sa.String(255)),
        sa.Column("scan_content_type", sa.String(50)),
        sa.UniqueConstraint("merchant_id", "reference", name="uq_mandates_reference"),
    )
    op.create_index("ix_mandates_merchant_id_id", "mandates", ["merchant_id", "id"])
    op.create_index("ix_mandates_merchant_id_status_signed_at", "mandates",
                    ["merchant_id", "status", "signed_at"])
    op.create_index("ix_mandates_merchant_id_subscriber_id", "mandates", ["merchant_id", "subscriber_id"])
    op.create_index("ix_mandates_status_dormant_on", "mandates", ["status", "dormant_on"])

    op.create_table(
        "mandate_scans",
        sa.Column("mandate_id", sa.String(32), sa.ForeignKey("mandates.id"), primary_key=True),
        sa.Column("merchant_id", sa.String(32), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "mandate_amendments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), nullable=False),
        sa.Column("mandate_id", sa.String(32), sa.ForeignKey("mandates.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("old_iban", sa.String(34), nullable=False),
        sa.Column("new_iban", sa.String(34), nullable=False),
        sa.Column("old_bic", sa.String(11)),
        sa.Column("new_bic", sa.String(11)),
        sa.Column("applied_to_debit", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_mandate_amendments_mandate_id", "mandate_amendments", ["merchant_id", "mandate_id"])


def downgrade():
    op.drop_table("mandate_amendments")
    op.drop_table("mandate_scans")
    op.drop_table("mandates")
    op.drop_table("subscribers")
