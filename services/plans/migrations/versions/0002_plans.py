"""plans, instalments, plan changes

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "plans",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), nullable=False),
        sa.Column("mandate_id", sa.String(32), nullable=False),
        sa.Column("subscriber_id", sa.String(32), nullable=False),
        sa.Column("label", sa.String(140), nullable=False),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("frequency", sa.String(20), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("count", sa.Integer),
        sa.Column("end_date", sa.Date),
        sa.Column("day_of_month", sa.Integer),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("prenotification_days", sa.Integer, nullable=False, server_default="14"),
        sa.Column("next_sequence", sa.Integer, nullable=False, server_default="0"),
        sa.Column("collected_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("anchor_date", sa.Date, nullable=False),
        sa.Column("anchor_sequence", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_due_date", sa.Date),
        sa.Column("issue_on", sa.Date),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_plans_merchant_id_id", "plans", ["merchant_id", "id"])
    op.create_index("ix_plans_merchant_id_status_frequency", "plans", ["merchant_id", "status", "frequency"])
    op.create_index("ix_plans_merchant_id_next_due_date", "plans", ["merchant_id", "next_due_date"])
    op.create_index("ix_plans_merchant_id_mandate_id", "plans", ["merchant_id", "mandate_id"])
    op.create_index("ix_plans_status_issue_on", "plans", ["status", "issue_on"])

    op.create_table(
        "instalments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), nullable=False),
        sa.Column("plan_id", sa.String(32), sa.ForeignKey("plans.id"), nullable=False),
        sa.Column("sequence_no", sa.Integer, nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("plan_id", "sequence_no", name="uq_instalments_plan_id_sequence_no"),
    )
    op.create_table(
        "plan_changes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("merchant_id", sa.String(32), nullable=False),
        sa.Column("plan_id", sa.String(32), sa.ForeignKey("plans.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(254)),
        sa.Column("changes", sa.Text, nullable=False),
    )
    op.create_index("ix_plan_changes_plan_id", "plan_changes", ["merchant_id", "plan_id"])


def downgrade():
    op.drop_table("plan_changes")
    op.drop_table("instalments")
    op.drop_table("plans")
