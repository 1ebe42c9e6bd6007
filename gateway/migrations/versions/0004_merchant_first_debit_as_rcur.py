"""merchant setting: send a mandate's first debit as RCUR

Revision ID: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("merchants", sa.Column("first_debit_as_rcur", sa.Boolean, nullable=False,
                                         server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("merchants") as batch:
        batch.drop_column("first_debit_as_rcur")
