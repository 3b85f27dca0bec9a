"""initial schema

Revision ID: 0001
Revises: (none)
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'viewer')", name=op.f("ck_api_tokens_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("platform_fee_bps", sa.Integer(), nullable=False),
        sa.Column("challenger_stake_total", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("challenged_stake_total", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("challenger_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("challenged_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(status = 'open') = (result IS NULL)", name=op.f("ck_challenges_resolved_has_result")
        ),
        sa.CheckConstraint(
            "result IS NULL OR result IN ('challenger_won', 'challenged_won', 'draw')",
            name=op.f("ck_challenges_result"),
        ),
        sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f("ck_challenges_status")),
        sa.CheckConstraint(
            "platform_fee_bps BETWEEN 0 AND 10000", name=op.f("ck_challenges_fee_bps")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_challenges")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('active', 'frozen')", name=op.f("ck_users_status")),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_users_balance_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
        postgresql_with={"fillfactor": 80},
    )
    op.create_table(
        "payout_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("challenge_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("total_winners", sa.Integer(), nullable=False),
        sa.Column("processed_winners", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed_winners", sa.Integer(), server_default="0", nullable=False),
        sa.Column("total_pool", sa.BigInteger(), nullable=False),
        sa.Column("platform_fee", sa.BigInteger(), nullable=False),
        sa.Column("winner_pool", sa.BigInteger(), nullable=False),
        sa.Column("winning_side", sa.String(length=16), nullable=True),
        sa.Column("winning_total", sa.BigInteger(), nullable=False),
        sa.Column("planned", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("cutoff_remainder", sa.BigInteger(), nullable=True),
        sa.Column("cutoff_user_id", sa.Integer(), nullable=True),
        sa.Column("materialised_through", sa.Integer(), nullable=True),
        sa.Column("materialised", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("triggered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('payout', 'refund')", name=op.f("ck_payout_jobs_kind")),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed')",
            name=op.f("ck_payout_jobs_status"),
        ),
        sa.CheckConstraint(
            "processed_winners >= 0 AND failed_winners >= 0 AND processed_winners + failed_winners <= total_winners",
            name=op.f("ck_payout_jobs_progress_bounds"),
        ),
        sa.CheckConstraint(
            "winner_pool + platform_fee = total_pool", name=op.f("ck_payout_jobs_pool_adds_up")
        ),
        sa.ForeignKeyConstraint(
            ["challenge_id"], ["challenges.id"], name=op.f("fk_payout_jobs_challenge_id_challenges")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_jobs")),
        sa.UniqueConstraint("challenge_id", name=op.f("uq_payout_jobs_challenge_id")),
    )
    with op.batch_alter_table("payout_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payout_jobs_status"), ["status"], unique=False)

    op.create_table(
        "stakes",
        sa.Column("challenge_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("side IN ('challenger', 'challenged')", name=op.f("ck_stakes_side")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_stakes_amount_positive")),
        sa.ForeignKeyConstraint(
            ["challenge_id"], ["challenges.id"], name=op.f("fk_stakes_challenge_id_challenges")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_stakes_user_id_users")),
        sa.PrimaryKeyConstraint("challenge_id", "user_id", name=op.f("pk_stakes")),
    )
    with op.batch_alter_table("stakes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stakes_challenge_id_side_user_id"),
            ["challenge_id", "side", "user_id"],
            unique=False,
        )

    op.create_table(
        "payout_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'completed', 'failed')", name=op.f("ck_payout_entries_status")
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_payout_entries_amount_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_entries")),
        sa.UniqueConstraint("job_id", "user_id", name=op.f("uq_payout_entries_job_id_user_id")),
        postgresql_with={"fillfactor": 50},
    )
    with op.batch_alter_table("payout_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payout_entries_job_id_id"), ["job_id", "id"], unique=False
        )

    op.create_table(
        "transactions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("challenge_id", sa.Integer(), nullable=True),
        sa.Column("payout_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(type = 'platform_fee') = (user_id IS NULL)",
            name=op.f("ck_transactions_platform_account"),
        ),
        sa.CheckConstraint(
            "(type IN ('challenge_payout', 'challenge_refund')) = (payout_entry_id IS NOT NULL)",
            name=op.f("ck_transactions_entry_reference"),
        ),
        sa.CheckConstraint(
            "type IN ('deposit', 'challenge_stake', 'challenge_payout', 'challenge_refund', 'platform_fee')",
            name=op.f("ck_transactions_type"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
        sa.UniqueConstraint("payout_entry_id", name=op.f("uq_transactions_payout_entry_id")),
    )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index(
            "uq_transactions_platform_fee",
            ["challenge_id"],
            unique=True,
            sqlite_where=sa.text("type = 'platform_fee'"),
            postgresql_where=sa.text("type = 'platform_fee'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_transactions_platform_fee",
            sqlite_where=sa.text("type = 'platform_fee'"),
            postgresql_where=sa.text("type = 'platform_fee'"),
        )

    op.drop_table("transactions")
    with op.batch_alter_table("payout_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payout_entries_job_id_id"))

    op.drop_table("payout_entries")
    with op.batch_alter_table("stakes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stakes_challenge_id_side_user_id"))

    op.drop_table("stakes")
    with op.batch_alter_table("payout_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payout_jobs_status"))

    op.drop_table("payout_jobs")
    op.drop_table("users")
    op.drop_table("challenges")
    op.drop_table("api_tokens")
