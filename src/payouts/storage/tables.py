"""The schema, as SQLAlchemy Core tables. Money columns are BIGINT counts of coins.

The migrations in `migrations/versions` create exactly this; a test compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    event,
    text,
)

from payouts.domain.vocabulary import (
    CHALLENGE_STATUSES,
    DELIVERY_STATUSES,
    ENTRY_STATUSES,
    EVENT_TYPES,
    JOB_KINDS,
    JOB_STATUSES,
    LEDGER_TYPES,
    RESULTS,
    SIDES,
    TOKEN_ROLES,
    USER_STATUSES,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Hot-path foreign keys: payout_entries and transactions get a row per winner, written by
# set-based batches. PostgreSQL checks each foreign key with a per-row trigger, measured at
# about 40% of a payout batch's time, so those two tables carry none; their references are
# written by the same statements that read the rows they point to, and `payouts verify`
# checks them. The UNIQUE constraints that make paying twice impossible stay.

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Timestamp = DateTime(timezone=True)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("balance", BigInteger, nullable=False),  # coins
    Column("status", String(16), nullable=False, server_default="active"),
    Column("created_at", Timestamp, nullable=False),
    CheckConstraint("balance >= 0", name="balance_not_negative"),
    CheckConstraint(_one_of("status", USER_STATUSES), name="status"),
    # Room on each page for crediting every balance on it in place (HOT updates, no index
    # writes): a 500-winner batch touches ~85 users per page, and at fillfactor 80 only
    # about a quarter of those updates found room.
    postgresql_with={"fillfactor": 45},
)

challenges = Table(
    "challenges",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(200), nullable=False),
    Column("status", String(16), nullable=False, server_default="open"),
    Column("result", String(16)),
    Column("platform_fee_bps", Integer, nullable=False),
    # Per-side totals (coins) and counts, kept with each stake so resolving never scans.
    Column("challenger_stake_total", BigInteger, nullable=False, server_default="0"),
    Column("challenged_stake_total", BigInteger, nullable=False, server_default="0"),
    Column("challenger_count", Integer, nullable=False, server_default="0"),
    Column("challenged_count", Integer, nullable=False, server_default="0"),
    Column("created_at", Timestamp, nullable=False),
    Column("resolved_at", Timestamp),
    CheckConstraint(_one_of("status", CHALLENGE_STATUSES), name="status"),
    CheckConstraint(f"result IS NULL OR {_one_of('result', RESULTS)}", name="result"),
    CheckConstraint("(status = 'open') = (result IS NULL)", name="resolved_has_result"),
    CheckConstraint("platform_fee_bps BETWEEN 0 AND 10000", name="fee_bps"),
)

stakes = Table(
    "stakes",
    metadata,
    Column("challenge_id", Integer, ForeignKey("challenges.id"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("side", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),  # coins
    Column("created_at", Timestamp, nullable=False),
    PrimaryKeyConstraint("challenge_id", "user_id"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint(_one_of("side", SIDES), name="side"),
    # Materialising a job walks one side of one challenge in user id order.
    Index(None, "challenge_id", "side", "user_id"),
)

payout_jobs = Table(
    "payout_jobs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("challenge_id", Integer, ForeignKey("challenges.id"), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False, server_default="queued"),
    Column("total_winners", Integer, nullable=False),
    Column("processed_winners", Integer, nullable=False, server_default="0"),
    Column("failed_winners", Integer, nullable=False, server_default="0"),
    Column("total_pool", BigInteger, nullable=False),  # coins
    Column("platform_fee", BigInteger, nullable=False),  # coins; 0 for refunds
    Column("winner_pool", BigInteger, nullable=False),  # coins paid out by the entries
    Column("winning_side", String(16)),  # NULL: a refund of both sides
    Column("winning_total", BigInteger, nullable=False),  # coins staked by the paid users
    # Planning, set by the worker: the extra-coin cutoff, and the job's winners split into
    # payout_slices (or the whole job settled at once, when it fits in one batch).
    Column("planned", Boolean, nullable=False, server_default=text("false")),
    Column("cutoff_remainder", BigInteger),
    Column("cutoff_user_id", Integer),
    Column("created_at", Timestamp, nullable=False),
    Column("triggered_at", Timestamp),  # last "process now"; such jobs go first
    Column("started_at", Timestamp),
    Column("completed_at", Timestamp),
    Column("error", Text),
    CheckConstraint(_one_of("kind", JOB_KINDS), name="kind"),
    CheckConstraint(_one_of("status", JOB_STATUSES), name="status"),
    CheckConstraint(
        "processed_winners >= 0 AND failed_winners >= 0"
        " AND processed_winners + failed_winners <= total_winners",
        name="progress_bounds",
    ),
    CheckConstraint("winner_pool + platform_fee = total_pool", name="pool_adds_up"),
    Index(None, "status"),
    # Counters change with every batch: room on the page keeps those updates HOT.
    postgresql_with={"fillfactor": 50},
)

# The work queue of planned jobs: each row is a range of a job's winners, by user id, not
# paid yet. A worker claims one (SKIP LOCKED on PostgreSQL), pays its winners straight from
# the stakes and deletes it in the same transaction; a crash rolls all of it back. Workers
# take slices in `seq` order, which interleaves the jobs planned at the same time.
payout_slices = Table(
    "payout_slices",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("job_id", Uuid, ForeignKey("payout_jobs.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("first_user_id", Integer, nullable=False),
    Column("last_user_id", Integer, nullable=False),
    # Failed payments of a one-winner slice (a poison entry), and the last error.
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    CheckConstraint("first_user_id <= last_user_id", name="range"),
    Index(None, "seq", "id"),
    Index(None, "job_id"),
)

payout_entries = Table(
    "payout_entries",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("job_id", Uuid, nullable=False),  # no FK: see "Hot-path foreign keys" above
    Column("user_id", Integer, nullable=False),  # no FK: a gone user fails its entry
    Column("amount", BigInteger, nullable=False),  # coins
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    Column("created_at", Timestamp, nullable=False),
    Column("processed_at", Timestamp),
    UniqueConstraint("job_id", "user_id"),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
    CheckConstraint(_one_of("status", ENTRY_STATUSES), name="status"),
    # Entries are written once, already settled. The few still to settle (put back to
    # pending by a retry) and the failed ones an operator looks at have partial indexes of
    # their own; queries name the same status, so both databases use them.
    Index(
        "ix_payout_entries_pending",
        "job_id",
        "id",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
    Index(
        "ix_payout_entries_failed",
        "job_id",
        "id",
        sqlite_where=text("status = 'failed'"),
        postgresql_where=text("status = 'failed'"),
    ),
    Index(None, "job_id", "id"),
)

transactions = Table(
    "transactions",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("user_id", Integer),  # NULL: the platform's account
    Column("type", String(24), nullable=False),
    Column("amount", BigInteger, nullable=False),  # coins, signed: + credit, - debit
    Column("challenge_id", Integer),
    # One ledger row per paid entry, enforced here: nobody can be paid twice.
    Column("payout_entry_id", BigInteger, unique=True),
    Column("created_at", Timestamp, nullable=False),
    CheckConstraint(_one_of("type", LEDGER_TYPES), name="type"),
    CheckConstraint(
        "(type IN ('challenge_payout', 'challenge_refund')) = (payout_entry_id IS NOT NULL)",
        name="entry_reference",
    ),
    CheckConstraint("(type = 'platform_fee') = (user_id IS NULL)", name="platform_account"),
    # The fee of a challenge is booked once.
    Index(
        "uq_transactions_platform_fee",
        "challenge_id",
        unique=True,
        sqlite_where=text("type = 'platform_fee'"),
        postgresql_where=text("type = 'platform_fee'"),
    ),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex, never the token
    Column("created_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp),
    Column("expires_at", Timestamp),  # NULL: never; refused like a revoked token after it
    Column("last_used_at", Timestamp),  # to the minute: written at most once a minute
    CheckConstraint(_one_of("role", TOKEN_ROLES), name="role"),
)

# Append-only: triggers (below) refuse UPDATE and DELETE on this table (and TRUNCATE on
# PostgreSQL), and no code path updates or deletes a row.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("created_at", Timestamp, nullable=False),
    Column("actor", String(64), nullable=False),  # token name, "env-token", "cli:<user>"...
    Column("action", String(64), nullable=False),  # e.g. resolve_challenge
    Column("target", String(200)),  # e.g. challenge_id=7
    Column("client", String(64)),  # the caller's address
    Column("status_code", Integer, nullable=False),  # the HTTP status answered
    Column("outcome", Text, nullable=False),  # "ok", "replayed", or the error message
)

# The model's triggers: created with the tables (create_all), and by migration 0002, which
# the migration test compares with these.
_AUDIT_LOG_APPEND_ONLY = {
    "postgresql": [
        """
        CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only: %% refused', TG_OP;
        END
        $$
        """,
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log"
        " FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only()",
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
        " FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only()",
    ],
    "sqlite": [
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
        " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
        " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END",
    ],
}
# DDL() formats with %: the function's own % is written %%.
for _dialect, _statements in _AUDIT_LOG_APPEND_ONLY.items():
    for _statement in _statements:
        _ddl = DDL(_statement).execute_if(dialect=_dialect)  # type: ignore[no-untyped-call]
        event.listen(audit_log, "after_create", _ddl)

# Pausing payouts: a row with job_id NULL pauses every job, a row with a job id pauses that
# job. Every claim of work (storage/small_jobs, planning, slices, entries) skips paused
# jobs, so a paused worker finishes the batch in flight and takes no new one. At most one
# row pauses everything (the partial unique index), one per job (the UNIQUE job_id).
processing_pauses = Table(
    "processing_pauses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", Uuid, ForeignKey("payout_jobs.id"), unique=True),  # NULL: every job
    Column("everything", Boolean, nullable=False),
    Column("paused_by", String(64), nullable=False),  # the audit log's actor
    Column("paused_at", Timestamp, nullable=False),
    CheckConstraint("everything = (job_id IS NULL)", name="scope"),
    Index(
        "uq_processing_pauses_everything",
        "everything",
        unique=True,
        sqlite_where=text("job_id IS NULL"),
        postgresql_where=text("job_id IS NULL"),
    ),
)

# Each change of a job's status or plan, written by a trigger on payout_jobs (below), so the
# hot statements that change jobs need not know: when planning ended, when it failed, when
# a retry queued it again. domain/timing.py reads them to count paying time only.
job_transitions = Table(
    "job_transitions",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("job_id", Uuid, ForeignKey("payout_jobs.id"), nullable=False),
    Column("status", String(16), nullable=False),  # the job's status after the change
    Column("planned", Boolean, nullable=False),  # ... and whether it was planned
    Column("at", Timestamp, nullable=False),
    Index(None, "job_id", "id"),
)

# Replays of POST .../result and .../stakes: the first response, stored in the transaction
# of the write it answers, so a crash can never keep one without the other.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("request", String(300), nullable=False),  # "POST /api/admin/challenges/7/result"
    Column("body_hash", String(64), nullable=False),  # sha256 of the canonical JSON body
    Column("response_status", Integer),
    Column("response_body", Text),
    Column("created_at", Timestamp, nullable=False),
    # The worker prunes keys older than PAYOUTS_IDEMPOTENCY_RETENTION, oldest first.
    Index(None, "created_at"),
)

# The transactional outbox (docs/events.md): one row per money event, job transition and
# resolution, written by the statement (or transaction) that does it. `tx` is the writing
# transaction's id on PostgreSQL (pg_current_xact_id()), so the feed can serve only rows
# whose transaction has ended, in (tx, id) order; SQLite has one writer at a time, so id
# order is commit order (AUTOINCREMENT: ids are never reused, even after pruning).
events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("type", String(32), nullable=False),
    Column("tx", BigInteger),  # PostgreSQL: the writer's transaction id; SQLite: NULL
    Column("created_at", Timestamp, nullable=False),
    # payout.paid / refund.paid: the ledger row; the event's data is read from it (and its
    # job), so the pay statements write 4 narrow columns per winner, no JSON.
    Column("transaction_id", BigInteger),
    Column("data", JSON),  # the other events' `data`, camelCase keys
    CheckConstraint(_one_of("type", EVENT_TYPES), name="type"),
    CheckConstraint("(transaction_id IS NULL) <> (data IS NULL)", name="data_or_ledger_row"),
    Index(None, "tx", "id"),
    sqlite_autoincrement=True,
)

# Webhook endpoints. Each one reads the event feed from its own cursor (cursor_tx,
# cursor_id: the last event handed to a delivery), so a million events are not a million
# delivery rows. The signing secret is kept to sign with, and never shown after `add`.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", String(2000), nullable=False, unique=True),
    Column("description", String(200)),
    Column("event_types", Text),  # comma-separated; NULL: every type
    Column("secret", String(100), nullable=False),  # whsec_...
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("disabled_reason", Text),
    Column("cursor_tx", BigInteger, nullable=False, server_default="0"),
    Column("cursor_id", BigInteger, nullable=False, server_default="0"),
    # A worker's claim: one worker delivers to an endpoint at a time, without holding a
    # transaction open during the HTTP request.
    Column("leased_until", Timestamp),
    Column("lease_owner", String(64)),
    Column("failing_since", Timestamp),  # first failure since the last success
    Column("last_success_at", Timestamp),
    Column("last_error", Text),
    Column("created_at", Timestamp, nullable=False),
)

# One POST of up to PAYOUTS_WEBHOOK_BATCH events: the feed range (after, through] of its
# endpoint. Pending until a 2xx answer; failed after PAYOUTS_WEBHOOK_MAX_ATTEMPTS.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("endpoint_id", Integer, ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("after_tx", BigInteger, nullable=False),
    Column("after_id", BigInteger, nullable=False),
    Column("through_tx", BigInteger, nullable=False),
    Column("through_id", BigInteger, nullable=False),
    Column("event_count", Integer, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Timestamp, nullable=False),
    Column("last_error", Text),
    Column("created_at", Timestamp, nullable=False),
    Column("delivered_at", Timestamp),
    CheckConstraint(_one_of("status", DELIVERY_STATUSES), name="status"),
    Index(None, "endpoint_id", "status", "id"),
)


# The trigger behind job_transitions: only a change of status or of planned writes a row
# (the WHEN clause); the per-batch counter updates, which change neither, write nothing.
JOB_TRANSITION_TRIGGERS = {
    "postgresql": [
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
    ],
    "sqlite": [
        "CREATE TRIGGER payout_jobs_transition AFTER UPDATE OF status, planned ON payout_jobs"
        " WHEN OLD.status IS NOT NEW.status OR OLD.planned IS NOT NEW.planned"
        " BEGIN INSERT INTO job_transitions (job_id, status, planned, at)"
        " VALUES (NEW.id, NEW.status, NEW.planned, strftime('%Y-%m-%d %H:%M:%f', 'now'));"
        " END",
    ],
}
for _dialect, _statements in JOB_TRANSITION_TRIGGERS.items():
    for _statement in _statements:
        _ddl = DDL(_statement.replace("%", "%%")).execute_if(  # type: ignore[no-untyped-call]
            dialect=_dialect
        )
        event.listen(job_transitions, "after_create", _ddl)
