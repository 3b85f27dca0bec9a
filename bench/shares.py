"""Each winner's share in SQL, as the README's money rules define it, for the baselines.

A winner with stake s of winning total W gets floor(winner_pool * s / W) coins, and the R
coins the floors leave over (R = winner_pool - sum of the floors) go one each to the R
winners with the largest remainder winner_pool * s mod W, ties to the lower user id. The
R-th of them in that order is the *cutoff*: a winner gets the extra coin when its
(remainder, user id) ranks at or before the cutoff's.

Arithmetic: 64-bit integers wherever the product winner_pool * s fits in a BIGINT
(s <= 9223372036854775807 // winner_pool, decided per row), exact arithmetic only for the
rows where it does not: NUMERIC on PostgreSQL, and on SQLite the Python-int SQL functions
`payout_floor_share` / `payout_remainder` that payouts registers on every connection
(SQLite would turn an overflowing product into a float).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from bench.jobs import JobRow

MAX_BIGINT = 2**63 - 1
WINNING_STAKES = "s.challenge_id = :challenge_id AND s.side = :side"

_EXPRESSIONS = {
    "postgresql": (
        "CASE WHEN s.amount <= :fits"
        " THEN CAST(:winner_pool AS bigint) * s.amount / CAST(:winning_total AS bigint)"
        " ELSE CAST(div(CAST(:winner_pool AS numeric) * s.amount, :winning_total) AS bigint)"
        " END",
        "CASE WHEN s.amount <= :fits"
        " THEN CAST(:winner_pool AS bigint) * s.amount % CAST(:winning_total AS bigint)"
        " ELSE CAST(mod(CAST(:winner_pool AS numeric) * s.amount, :winning_total) AS bigint)"
        " END",
    ),
    "sqlite": (
        "CASE WHEN s.amount <= :fits THEN :winner_pool * s.amount / :winning_total"
        " ELSE payout_floor_share(:winner_pool, s.amount, :winning_total) END",
        "CASE WHEN s.amount <= :fits THEN :winner_pool * s.amount % :winning_total"
        " ELSE payout_remainder(:winner_pool, s.amount, :winning_total) END",
    ),
}


@dataclass(frozen=True, slots=True)
class Cutoff:
    remainder: int
    user_id: int


def floor_sql(dialect: str) -> str:
    """floor(winner_pool * s.amount / winning_total) for the stake row `s`."""
    return _EXPRESSIONS[dialect][0]


def remainder_sql(dialect: str) -> str:
    """winner_pool * s.amount mod winning_total for the stake row `s`."""
    return _EXPRESSIONS[dialect][1]


def share_params(job: JobRow) -> dict[str, object]:
    if job.kind != "payout" or job.winning_side is None:
        raise ValueError("the baselines pay payout jobs only")
    return {
        "challenge_id": job.challenge_id,
        "side": job.winning_side,
        "winner_pool": job.winner_pool,
        "winning_total": job.winning_total,
        "fits": MAX_BIGINT // job.winner_pool if job.winner_pool else MAX_BIGINT,
    }


def find_cutoff(conn: Connection, job: JobRow) -> Cutoff | None:
    """The plan: sum the floors (one pass over the winning stakes) and, when coins are left
    over, find the R-th winner by remainder desc, user id asc (a second pass, a sort)."""
    dialect = conn.dialect.name
    params = share_params(job)
    floors = conn.execute(
        text(f"SELECT COALESCE(SUM({floor_sql(dialect)}), 0) FROM stakes s WHERE {WINNING_STAKES}"),
        params,
    ).scalar_one()
    leftover = job.winner_pool - int(floors)
    if leftover == 0:
        return None
    row = conn.execute(
        text(
            f"SELECT {remainder_sql(dialect)} AS remainder, s.user_id FROM stakes s"
            f" WHERE {WINNING_STAKES} ORDER BY remainder DESC, s.user_id LIMIT 1 OFFSET :skip"
        ),
        {**params, "skip": leftover - 1},
    ).one()
    return Cutoff(int(row.remainder), int(row.user_id))


def shares_select(dialect: str, cutoff: Cutoff | None, *, after_user: bool, limit: bool) -> str:
    """SELECT user_id, amount over the winning stakes in user id order, each amount final
    (floor plus the extra coin); optionally only users after :after, at most :batch_size.
    Parameters: share_params(job) plus cutoff_params(cutoff), :after, :batch_size."""
    where = WINNING_STAKES + (" AND s.user_id > :after" if after_user else "")
    tail = " ORDER BY s.user_id" + (" LIMIT :batch_size" if limit else "")
    if cutoff is None:
        return f"SELECT s.user_id, {floor_sql(dialect)} AS amount FROM stakes s WHERE {where}{tail}"
    return (
        "SELECT user_id, share + CASE WHEN remainder > :cutoff_remainder"
        " OR (remainder = :cutoff_remainder AND user_id <= :cutoff_user) THEN 1 ELSE 0 END"
        " AS amount FROM ("
        f"SELECT s.user_id, {floor_sql(dialect)} AS share, {remainder_sql(dialect)} AS remainder"
        f" FROM stakes s WHERE {where}{tail}) AS shares"
    )


def cutoff_params(cutoff: Cutoff | None) -> dict[str, object]:
    if cutoff is None:
        return {}
    return {"cutoff_remainder": cutoff.remainder, "cutoff_user": cutoff.user_id}
