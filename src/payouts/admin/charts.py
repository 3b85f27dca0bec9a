"""The throughput chart of the jobs page (filled in below)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection


def chart_context(conn: Connection, now: datetime) -> dict[str, Any] | None:
    return None
