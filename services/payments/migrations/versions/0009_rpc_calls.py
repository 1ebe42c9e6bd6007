"""rpc_calls: a payout request's idempotency key with the payout it made

Revision ID: 0009
"""
from alembic import op

from common.idempotency import create_rpc_calls

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    create_rpc_calls(op)


def downgrade():
    op.drop_table("rpc_calls")
