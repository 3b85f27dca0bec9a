"""What the sections hand to the report: rows of figures with their targets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.stats import Spread


@dataclass(frozen=True, slots=True)
class Target:
    """What the issue asks of a figure's median: at least, under, or at most a threshold."""

    text: str  # as the issue states it, e.g. "≥ 20x"
    threshold: float
    kind: str  # "at least" | "under" | "at most"

    def met(self, value: float) -> bool:
        if self.kind == "at least":
            return value >= self.threshold
        if self.kind == "under":
            return value < self.threshold
        return value <= self.threshold


def at_least(threshold: float, text: str) -> Target:
    return Target(text, threshold, "at least")


def under(threshold: float, text: str) -> Target:
    return Target(text, threshold, "under")


def at_most(threshold: float, text: str) -> Target:
    return Target(text, threshold, "at most")


@dataclass(frozen=True, slots=True)
class Row:
    section: str
    backend: str
    what: str
    unit: str
    spread: Spread
    target: Target | None = None
    note: str = ""

    @property
    def measured(self) -> bool:
        """False for a row that could not be measured (its note says why)."""
        return self.spread.runs > 0

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        if not self.measured:
            return "N/A"
        return "PASS" if self.target.met(self.spread.median) else "MISS"


def row(
    section: str,
    backend: str,
    what: str,
    unit: str,
    values: Sequence[float],
    target: Target | None = None,
    note: str = "",
) -> Row:
    return Row(section, backend, what, unit, Spread.of(values), target, note)


def not_measured(
    section: str, backend: str, what: str, unit: str, target: Target | None, why: str
) -> Row:
    """A row for a figure this build cannot give (e.g. an API it does not have yet)."""
    return Row(section, backend, what, unit, Spread(math.nan, math.nan, math.nan, 0), target, why)


@dataclass
class SectionResult:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # free text for RESULTS.md
    # (winners, batch size) of payouts runs worth profiling: they missed a target
    to_profile: list[tuple[int, int]] = field(default_factory=list)
