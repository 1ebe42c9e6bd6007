"""rpc_calls: a one-off payment's idempotency key with the plan it made

Revision ID: 0006
"""
from alembic import op

from common.idempotency import create_rpc_calls

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    create_rpc_calls(op)


def downgrade():
    op.drop_table("rpc_calls")
