"""payments: two indexes a payment's status change no longer writes to

A status change cannot be a HOT update (the status is in the list indexes), so PostgreSQL
adds an entry to every index of `payments` for each payment paid or rejected: a camt.054
of 10 000 returns made 110 000 index insertions. Two of those indexes only serve rows that
such a change never makes:
- (status, due_date) serves the collection's `status = 'scheduled' AND due_date <= …`
  alone: it becomes (due_date) of the scheduled payments;
- (replay_of) serves `replay_of = :id`, which no payment without a replay matches: it
  becomes partial, on the replays (PostgreSQL uses it for `replay_of = …`, which implies
  `replay_of IS NOT NULL`).

Revision ID: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCHEDULED = sa.text("status = 'scheduled'")
REPLAYS = sa.text("replay_of IS NOT NULL")


def upgrade():
    op.create_index("ix_payments_scheduled_due_date", "payments", ["due_date"],
                    postgresql_where=SCHEDULED)
    op.drop_index("ix_payments_status_due_date", "payments")
    op.drop_index("ix_payments_replay_of", "payments")
    op.create_index("ix_payments_replay_of", "payments", ["replay_of"],
                    postgresql_where=REPLAYS)


def downgrade():
    op.drop_index("ix_payments_replay_of", "payments")
    op.create_index("ix_payments_replay_of", "payments", ["replay_of"])
    op.create_index("ix_payments_status_due_date", "payments", ["status", "due_date"])
    op.drop_index("ix_payments_scheduled_due_date", "payments")
