"""Demo data: N winners and M losers staked on one open challenge, written set-based.

The rows are the ones the API would write (users, deposits, stakes, stake debits, side
totals), generated in SQL so a million winners take seconds, not minutes. Amounts come
from a fixed integer hash of the player's number and the seed: the same seed, the same data.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, func, select, text

from payouts.services.challenges import create_challenge
from payouts.storage.clock import utcnow
from payouts.storage.tables import users


@dataclass(frozen=True, slots=True)
class DemoChallenge:
    challenge_id: int
    winners: int
    losers: int


def _series(conn: Connection) -> str:
    if conn.dialect.name == "postgresql":
        # bigint: the stake hash multiplies n by thousands, past int4 beyond ~270k players
        return "SELECT n FROM generate_series(CAST(1 AS BIGINT), :players) AS n"
    return (
        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :players)"
        " SELECT n FROM seq"
    )


# Stakes between 100 and 1,000,000 coins; the deposit is the stake plus up to 999 coins.
_STAKE = "(100 + ((n * 7919 + :seed * 104729) % 9901) * ((n * 31 + :seed) % 101 + 1))"
_SPARE = "((n * 613 + :seed * 7) % 1000)"


def create_demo(
    conn: Connection, winners: int, losers: int, fee_bps: int, seed: int
) -> DemoChallenge:
    challenge = create_challenge(conn, f"Demo: {winners} winners, {losers} losers", fee_bps)
    cid = challenge["id"]
    first_id = (conn.execute(select(func.max(users.c.id))).scalar_one() or 0) + 1
    params = {
        "players": winners + losers,
        "seed": seed,
        "cid": cid,
        "winners": winners,
        "first": first_id,
        "now": utcnow(),
    }
    now = bindparam("now", type_=users.c.created_at.type)
    # Users get explicit ids so stakes and ledger rows can be derived from them without a
    # lookup; the caller's write transaction keeps other writers out of that id range.
    conn.execute(
        text(
            "INSERT INTO users (id, username, balance, status, created_at)"
            f" SELECT :first + n - 1, 'demo' || :cid || '-' || n, {_SPARE}, 'active', :now"
            f" FROM ({_series(conn)}) AS players"
        ).bindparams(now),
        params,
    )
    conn.execute(
        text(
            "INSERT INTO stakes (challenge_id, user_id, side, amount, created_at)"
            " SELECT :cid, :first + n - 1,"
            " CASE WHEN n <= :winners THEN 'challenger' ELSE 'challenged' END,"
            f" {_STAKE}, :now FROM ({_series(conn)}) AS players"
        ).bindparams(now),
        params,
    )
    conn.execute(
        text(
            "INSERT INTO transactions (user_id, type, amount, challenge_id, created_at)"
            f" SELECT :first + n - 1, 'deposit', {_STAKE} + {_SPARE}, NULL, :now"
            f" FROM ({_series(conn)}) AS players"
            f" UNION ALL SELECT :first + n - 1, 'challenge_stake', -{_STAKE}, :cid, :now"
            f" FROM ({_series(conn)}) AS players"
        ).bindparams(now),
        params,
    )
    conn.execute(
        text(
            "UPDATE challenges SET"
            " challenger_stake_total = (SELECT COALESCE(SUM(amount), 0) FROM stakes"
            "   WHERE challenge_id = :cid AND side = 'challenger'),"
            " challenged_stake_total = (SELECT COALESCE(SUM(amount), 0) FROM stakes"
            "   WHERE challenge_id = :cid AND side = 'challenged'),"
            " challenger_count = :winners, challenged_count = :players - :winners"
            " WHERE id = :cid"
        ),
        params,
    )
    if conn.dialect.name == "postgresql":  # explicit ids bypassed the sequence
        conn.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT MAX(id) FROM users))"
            )
        )
    return DemoChallenge(cid, winners, losers)
