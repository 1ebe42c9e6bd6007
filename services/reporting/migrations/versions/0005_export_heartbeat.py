"""export jobs' heartbeat: a running job whose worker died is started again

Revision ID: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("export_jobs") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True)))


def downgrade():
    with op.batch_alter_table("export_jobs") as batch:
        batch.drop_column("heartbeat_at")
