"""the audit log of sensitive actions (gateway/audit.py)

Revision ID: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(254), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(64)),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_audit_entries_merchant_id_id", "audit_entries", ["merchant_id", "id"])


def downgrade():
    op.drop_table("audit_entries")
