"""export jobs (CSV exports of every section)

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "export_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), nullable=False),
        sa.Column("section", sa.String(20), nullable=False),
        sa.Column("filters", sa.JSON, nullable=False),
        sa.Column("decimal", sa.String(1), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("rows_done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rows_total", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("filename", sa.String(80)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_export_jobs_merchant_id_created_at", "export_jobs", ["merchant_id", "created_at"])
    op.create_index("ix_export_jobs_created_at", "export_jobs", ["created_at"])


def downgrade():
    op.drop_index("ix_export_jobs_created_at", "export_jobs")
    op.drop_index("ix_export_jobs_merchant_id_created_at", "export_jobs")
    op.drop_table("export_jobs")
