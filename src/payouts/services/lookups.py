"""Batched lookups that label rows on the admin pages: one query per page, not per row."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import Connection, select

from payouts.storage.tables import challenges, payout_jobs


def challenge_titles(conn: Connection, challenge_ids: Collection[int]) -> dict[int, str]:
    if not challenge_ids:
        return {}
    c = challenges.c
    rows = conn.execute(select(c.id, c.title).where(c.id.in_(sorted(set(challenge_ids)))))
    return {row.id: row.title for row in rows}


def jobs_of_challenges(
    conn: Connection, challenge_ids: Collection[int]
) -> dict[int, tuple[uuid.UUID, str]]:
    """challenge id -> (its job's id, the job's status), for challenges that have a job."""
    if not challenge_ids:
        return {}
    j = payout_jobs.c
    rows = conn.execute(
        select(j.challenge_id, j.id, j.status).where(j.challenge_id.in_(sorted(set(challenge_ids))))
    )
    return {row.challenge_id: (row.id, row.status) for row in rows}
