"""rpc_calls: an imported mandate's idempotency key with the mandate it made

Revision ID: 0005
"""
from alembic import op

from common.idempotency import create_rpc_calls

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    create_rpc_calls(op)


def downgrade():
    op.drop_table("rpc_calls")
