"""merchant postal address (shown on mandates as the creditor's address)

Revision ID: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("merchants", sa.Column("address", sa.String(280)))


def downgrade():
    op.drop_column("merchants", "address")
