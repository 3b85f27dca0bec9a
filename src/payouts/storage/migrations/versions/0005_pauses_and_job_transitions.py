"""processing pauses, and job transitions recorded by a trigger

Revision ID: 0005
Revises: 0004

processing_pauses: a row pauses every job (job_id NULL) or one job; the claims skip paused
jobs. job_transitions: a row per change of a job's status or plan, written by a trigger on
payout_jobs, so paying time can leave out planning and the time a job spent failed.
Note for later migrations: a SQLite batch rebuild of payout_jobs drops the trigger.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PG_TRIGGER = [
    """
    CREATE FUNCTION record_job_transition() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO job_transitions (job_id, status, planned, at)
        VALUES (NEW.id, NEW.status, NEW.planned, now());
        RETURN NULL;
    END
    $$
    """,
    "CREATE TRIGGER payout_jobs_transition AFTER UPDATE OF status, planned ON payout_jobs"
    " FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status"
    " OR OLD.planned IS DISTINCT FROM NEW.planned)"
    " EXECUTE FUNCTION record_job_transition()",
]
_SQLITE_TRIGGER = [
    "CREATE TRIGGER payout_jobs_transition AFTER UPDATE OF status, planned ON payout_jobs"
    " WHEN OLD.status IS NOT NEW.status OR OLD.planned IS NOT NEW.planned"
    " BEGIN INSERT INTO job_transitions (job_id, status, planned, at)"
    " VALUES (NEW.id, NEW.status, NEW.planned, strftime('%Y-%m-%d %H:%M:%f', 'now'));"
    " END",
]


def upgrade() -> None:
    op.create_table(
        "processing_pauses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("everything", sa.Boolean(), nullable=False),
        sa.Column("paused_by", sa.String(length=64), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "everything = (job_id IS NULL)", name=op.f("ck_processing_pauses_scope")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["payout_jobs.id"], name=op.f("fk_processing_pauses_job_id_payout_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processing_pauses")),
        sa.UniqueConstraint("job_id", name=op.f("uq_processing_pauses_job_id")),
    )
    with op.batch_alter_table("processing_pauses", schema=None) as batch_op:
        batch_op.create_index(
            "uq_processing_pauses_everything",
            ["everything"],
            unique=True,
            sqlite_where=sa.text("job_id IS NULL"),
            postgresql_where=sa.text("job_id IS NULL"),
        )
    op.create_table(
        "job_transitions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("planned", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["payout_jobs.id"], name=op.f("fk_job_transitions_job_id_payout_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_transitions")),
    )
    with op.batch_alter_table("job_transitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_job_transitions_job_id_id"), ["job_id", "id"], unique=False
        )
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _PG_TRIGGER if postgres else _SQLITE_TRIGGER:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER payout_jobs_transition ON payout_jobs")
        op.execute("DROP FUNCTION record_job_transition()")
    else:
        op.execute("DROP TRIGGER payout_jobs_transition")
    with op.batch_alter_table("job_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_transitions_job_id_id"))
    op.drop_table("job_transitions")
    with op.batch_alter_table("processing_pauses", schema=None) as batch_op:
        batch_op.drop_index("uq_processing_pauses_everything")
    op.drop_table("processing_pauses")
