"""Hand-written SQL with the types the tables use, on both databases: job ids are UUIDs (32
hex digits on SQLite) and times are the tables' timestamps (text on SQLite), whether they
are bound (:job_id, :job_ids, :now) or read back (columns named job_id or ending in _at)."""

from __future__ import annotations

import re

from sqlalchemy import TextClause, Uuid, bindparam, text
from sqlalchemy.sql.selectable import TextualSelect

from payouts.storage.tables import payout_jobs

TIMESTAMP = payout_jobs.c.created_at.type
_BOUND = {
    "job_id": bindparam("job_id", type_=Uuid),
    "job_ids": bindparam("job_ids", type_=Uuid, expanding=True),
    "now": bindparam("now", type_=TIMESTAMP),
}
_RESULT_COLUMNS = ("job_id", "created_at", "started_at", "completed_at", "processed_at")
_READS = re.compile(r"^\s*(SELECT|WITH)\b|\bRETURNING\b", re.IGNORECASE)


def sql(statement: str) -> TextClause | TextualSelect:
    """`statement` as a text() construct with the tables' bind and result types."""
    bound = set(re.findall(r"(?<!:):(\w+)", statement))
    clause = text(statement).bindparams(*(p for name, p in _BOUND.items() if name in bound))
    if not _READS.search(statement):
        return clause
    words = set(re.findall(r"\w+", statement))
    return clause.columns(
        **{
            name: Uuid() if name == "job_id" else TIMESTAMP
            for name in _RESULT_COLUMNS
            if name in words
        }
    )
