"""pay straight from the stakes: payout_slices, entries written once

Revision ID: 0003
Revises: 0002

Jobs no longer materialise pending entries before paying them: planning splits a job's
winners into payout_slices (user id ranges), and paying a slice writes its entries already
settled. Jobs in flight at upgrade time keep their entries (pending ones are paid by the
pending-entry path) and get slices for the winners they had not materialised yet.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Winners per slice for jobs caught mid-materialising; the default batch size.
_SLICE = 500

# The winners of each planned, active job above its materialised_through mark, cut into
# ranges of _SLICE users in user id order.
_SLICES_FOR_JOBS_IN_FLIGHT = f"""
INSERT INTO payout_slices (job_id, seq, first_user_id, last_user_id, attempts)
SELECT job_id, place / {_SLICE}, min(user_id), max(user_id), 0
FROM (
    SELECT j.id AS job_id, s.user_id,
           row_number() OVER (PARTITION BY j.id ORDER BY s.user_id) - 1 AS place
    FROM payout_jobs j
    JOIN stakes s ON s.challenge_id = j.challenge_id
                 AND (j.winning_side IS NULL OR s.side = j.winning_side)
    WHERE j.status IN ('queued', 'running') AND j.planned AND NOT j.materialised
      AND s.user_id > COALESCE(j.materialised_through, 0)
) AS unmaterialised
GROUP BY job_id, place / {_SLICE}
"""


def upgrade() -> None:
    op.create_table(
        "payout_slices",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("first_user_id", sa.Integer(), nullable=False),
        sa.Column("last_user_id", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("first_user_id <= last_user_id", name=op.f("ck_payout_slices_range")),
        sa.ForeignKeyConstraint(
            ["job_id"], ["payout_jobs.id"], name=op.f("fk_payout_slices_job_id_payout_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_slices")),
    )
    with op.batch_alter_table("payout_slices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payout_slices_seq_id"), ["seq", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payout_slices_job_id"), ["job_id"], unique=False)

    op.execute(_SLICES_FOR_JOBS_IN_FLIGHT)

    with op.batch_alter_table("payout_entries", schema=None) as batch_op:
        for status in ("pending", "failed"):
            batch_op.create_index(
                f"ix_payout_entries_{status}",
                ["job_id", "id"],
                unique=False,
                sqlite_where=sa.text(f"status = '{status}'"),
                postgresql_where=sa.text(f"status = '{status}'"),
            )
    # SQLite: drop the columns in place (3.35+). A batch rebuild would drop and recreate
    # payout_jobs, which the new slices' foreign key refuses while they reference it.
    for column in ("materialised", "materialised_through"):
        op.execute(f"ALTER TABLE payout_jobs DROP COLUMN {column}")

    if op.get_bind().dialect.name == "postgresql":
        # Crediting a whole batch of balances in place needs room on every page; entries are
        # no longer updated after they are written, so they need none.
        op.execute("ALTER TABLE users SET (fillfactor = 45)")
        op.execute("ALTER TABLE payout_entries RESET (fillfactor)")
        op.execute("ALTER TABLE payout_jobs SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE payout_jobs RESET (fillfactor)")
        op.execute("ALTER TABLE payout_entries SET (fillfactor = 50)")
        op.execute("ALTER TABLE users SET (fillfactor = 80)")
    with op.batch_alter_table("payout_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("materialised_through", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "materialised", sa.Boolean(), server_default=sa.text("(false)"), nullable=False
            )
        )
    # Every job with entries counts as materialised; the old engine then pays what is
    # pending. Refuse to lose work: a job with slices left cannot be described any more.
    bind = op.get_bind()
    left = bind.execute(sa.text("SELECT count(*) FROM payout_slices")).scalar_one()
    if left:
        raise RuntimeError(
            f"{left} payout slices are still unpaid: let the workers finish before downgrading"
        )
    op.execute("UPDATE payout_jobs SET materialised = planned")
    with op.batch_alter_table("payout_entries", schema=None) as batch_op:
        for status in ("pending", "failed"):
            batch_op.drop_index(f"ix_payout_entries_{status}")
    with op.batch_alter_table("payout_slices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payout_slices_job_id"))
        batch_op.drop_index(batch_op.f("ix_payout_slices_seq_id"))
    op.drop_table("payout_slices")
