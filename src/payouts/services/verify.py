"""`payouts verify`: checks that the books balance, in SQL, and names every violation.

- every completed entry has exactly one ledger row, and no other entry has one; each such
  row matches its entry (user, amount, type, challenge);
- every user's balance equals the sum of the user's ledger rows;
- every resolved challenge whose job completed: stakes = payouts + fee (or = refunds), and
  the fee booked is the job's fee;
- every job's counters equal the counts of its completed and failed entries;
- every slice still to pay belongs to an unfinished job and covers winners with no entry
  yet (paying it cannot pay anyone twice);
- every reference the hot-path tables hold without a foreign key (ledger -> user, challenge,
  entry; entry -> job) points at a row that exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, text

DEFAULT_LIMIT = 50  # violations shown per check; a count says how many more there are


@dataclass(frozen=True, slots=True)
class Violation:
    check: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.detail}"


@dataclass(frozen=True, slots=True)
class _Check:
    name: str
    sql: str
    describe: Callable[..., str]


_CHECKS: tuple[_Check, ...] = (
    _Check(
        "dangling-reference",
        "SELECT * FROM ("
        " SELECT 'ledger row' AS what, t.id, 'user' AS target, t.user_id AS target_id"
        "  FROM transactions t WHERE t.user_id IS NOT NULL"
        "  AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.user_id)"
        " UNION ALL SELECT 'ledger row', t.id, 'challenge', t.challenge_id FROM transactions t"
        "  WHERE t.challenge_id IS NOT NULL"
        "  AND NOT EXISTS (SELECT 1 FROM challenges c WHERE c.id = t.challenge_id)"
        " UNION ALL SELECT 'ledger row', t.id, 'payout entry', t.payout_entry_id"
        "  FROM transactions t WHERE t.payout_entry_id IS NOT NULL"
        "  AND NOT EXISTS (SELECT 1 FROM payout_entries e WHERE e.id = t.payout_entry_id)"
        " UNION ALL SELECT 'payout entry', e.id, 'job', NULL FROM payout_entries e"
        "  WHERE NOT EXISTS (SELECT 1 FROM payout_jobs j WHERE j.id = e.job_id)"
        ") refs ORDER BY what, id",
        lambda r: f"{r.what} {r.id} points at {r.target} {r.target_id or ''}, which does not exist",
    ),
    _Check(
        "unpaid-entry",
        "SELECT e.id, e.job_id, e.user_id, e.amount FROM payout_entries e"
        " WHERE e.status = 'completed' AND NOT EXISTS"
        " (SELECT 1 FROM transactions t WHERE t.payout_entry_id = e.id) ORDER BY e.id",
        lambda r: (
            f"entry {r.id} (job {r.job_id}, user {r.user_id}, {r.amount} coins) is"
            " completed but has no ledger row"
        ),
    ),
    _Check(
        "duplicate-ledger-rows",
        "SELECT payout_entry_id, count(*) AS n FROM transactions"
        " WHERE payout_entry_id IS NOT NULL GROUP BY payout_entry_id HAVING count(*) > 1"
        " ORDER BY payout_entry_id",
        lambda r: f"entry {r.payout_entry_id} has {r.n} ledger rows",
    ),
    _Check(
        "ledger-for-unsettled-entry",
        "SELECT t.id, t.payout_entry_id, e.status FROM transactions t"
        " JOIN payout_entries e ON e.id = t.payout_entry_id"
        " WHERE e.status <> 'completed' ORDER BY t.id",
        lambda r: f"ledger row {r.id} pays entry {r.payout_entry_id}, which is {r.status}",
    ),
    _Check(
        "ledger-entry-mismatch",
        "SELECT t.id, t.payout_entry_id, t.user_id, t.amount, t.type, t.challenge_id,"
        " e.user_id AS entry_user, e.amount AS entry_amount, j.kind,"
        " j.challenge_id AS job_challenge"
        " FROM transactions t JOIN payout_entries e ON e.id = t.payout_entry_id"
        " JOIN payout_jobs j ON j.id = e.job_id"
        " WHERE t.user_id <> e.user_id OR t.amount <> e.amount"
        " OR t.challenge_id IS NULL OR t.challenge_id <> j.challenge_id"
        " OR t.type <> CASE WHEN j.kind = 'payout' THEN 'challenge_payout'"
        " ELSE 'challenge_refund' END ORDER BY t.id",
        lambda r: (
            f"ledger row {r.id} ({r.type}, user {r.user_id}, {r.amount} coins,"
            f" challenge {r.challenge_id}) does not match entry {r.payout_entry_id}"
            f" ({r.kind}, user {r.entry_user}, {r.entry_amount} coins,"
            f" challenge {r.job_challenge})"
        ),
    ),
    _Check(
        "balance",
        "SELECT u.id, u.balance, COALESCE(SUM(t.amount), 0) AS ledger FROM users u"
        " LEFT JOIN transactions t ON t.user_id = u.id GROUP BY u.id, u.balance"
        " HAVING u.balance <> COALESCE(SUM(t.amount), 0) ORDER BY u.id",
        lambda r: f"user {r.id} has a balance of {r.balance} coins but a ledger sum of {r.ledger}",
    ),
    _Check(
        "challenge-books",
        "SELECT * FROM (SELECT c.id, j.kind, j.platform_fee AS job_fee,"
        " (SELECT -COALESCE(SUM(amount), 0) FROM transactions"
        "   WHERE challenge_id = c.id AND type = 'challenge_stake') AS staked,"
        " (SELECT COALESCE(SUM(amount), 0) FROM transactions"
        "   WHERE challenge_id = c.id AND type IN ('challenge_payout', 'challenge_refund'))"
        "   AS paid,"
        " (SELECT COALESCE(SUM(amount), 0) FROM transactions"
        "   WHERE challenge_id = c.id AND type = 'platform_fee') AS fee"
        " FROM challenges c JOIN payout_jobs j ON j.challenge_id = c.id"
        " WHERE c.status = 'resolved' AND j.status = 'completed') books"
        " WHERE staked <> paid + fee OR fee <> job_fee ORDER BY id",
        lambda r: (
            f"challenge {r.id} ({r.kind}): {r.staked} coins staked, {r.paid} paid out"
            f" and a fee of {r.fee} booked (the job's fee is {r.job_fee})"
        ),
    ),
    _Check(
        "job-counters",
        "SELECT * FROM (SELECT j.id, j.status, j.total_winners, j.processed_winners,"
        " j.failed_winners,"
        " (SELECT count(*) FROM payout_entries e WHERE e.job_id = j.id"
        "   AND e.status = 'completed') AS completed,"
        " (SELECT count(*) FROM payout_entries e WHERE e.job_id = j.id"
        "   AND e.status = 'failed') AS failed"
        " FROM payout_jobs j) counts"
        " WHERE processed_winners <> completed OR failed_winners <> failed"
        " OR (status = 'completed' AND completed <> total_winners) ORDER BY id",
        lambda r: (
            f"job {r.id} ({r.status}) counts {r.processed_winners} paid and"
            f" {r.failed_winners} failed of {r.total_winners}; its entries say {r.completed}"
            f" completed and {r.failed} failed"
        ),
    ),
)


_CHECKS += (
    _Check(
        "slice",
        "SELECT * FROM (SELECT s.id, s.job_id, s.first_user_id, s.last_user_id, j.status,"
        " (SELECT count(*) FROM payout_entries e WHERE e.job_id = s.job_id"
        "   AND e.user_id BETWEEN s.first_user_id AND s.last_user_id) AS entries"
        " FROM payout_slices s JOIN payout_jobs j ON j.id = s.job_id) slices"
        " WHERE entries > 0 OR status IN ('completed', 'failed') ORDER BY id",
        lambda r: (
            f"slice {r.id} (job {r.job_id}, users {r.first_user_id}-{r.last_user_id}) is"
            f" still to pay, but its job is {r.status} and {r.entries} of its winners"
            " have entries"
        ),
    ),
)


def find_violations(conn: Connection, limit: int = DEFAULT_LIMIT) -> list[Violation]:
    """Every violation found, at most `limit` per check (then one line saying how many)."""
    violations = []
    for check in _CHECKS:
        rows = conn.execute(text(f"{check.sql} LIMIT :limit"), {"limit": limit + 1}).all()
        violations += [Violation(check.name, check.describe(row)) for row in rows[:limit]]
        if len(rows) > limit:
            total = conn.execute(text(f"SELECT count(*) FROM ({check.sql}) AS found")).scalar()
            violations.append(Violation(check.name, f"... {total} in all, {limit} shown"))
    return violations
