"""electronic signature evidence on mandates

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("mandates") as batch:
        batch.add_column(sa.Column("evidence", sa.JSON))
        batch.add_column(sa.Column("signing_order_id", sa.String(32)))
        # sign_mandate is idempotent on the order: one mandate per signature order
        batch.create_unique_constraint("uq_mandates_signing_order_id", ["merchant_id", "signing_order_id"])


def downgrade():
    with op.batch_alter_table("mandates") as batch:
        batch.drop_constraint("uq_mandates_signing_order_id", type_="unique")
        batch.drop_column("signing_order_id")
        batch.drop_column("evidence")
