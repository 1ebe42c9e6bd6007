"""instalments acknowledged by payments (handed over again until they are)

Revision ID: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("instalments") as batch:
        batch.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True)))
        batch.create_index("ix_instalments_unacknowledged", ["status", "acknowledged_at"])


def downgrade():
    with op.batch_alter_table("instalments") as batch:
        batch.drop_index("ix_instalments_unacknowledged")
        batch.drop_column("acknowledged_at")
