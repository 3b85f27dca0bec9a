"""Durations as operators write them: "90s", "15m", "24h", "30d", "2w" (or plain seconds)."""

from __future__ import annotations

import re
from datetime import timedelta

from payouts.domain.errors import InvalidInput

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"^\s*(\d{1,9})\s*([smhdw]?)\s*$")


def parse_duration(text: str) -> timedelta:
    """A positive duration: a whole number and a unit (s, m, h, d, w; none means seconds)."""
    match = _DURATION.match(text.lower())
    if match is None or int(match.group(1)) == 0:
        raise InvalidInput(
            f"{text!r} is not a duration: write a positive whole number and a unit,"
            " such as 90s, 15m, 24h, 30d or 2w"
        )
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2) or "s"])
