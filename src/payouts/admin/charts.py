"""The jobs page's throughput chart: winners paid per minute over the last hour (a bar a
minute) and the last day (a bar per 15 minutes, as a per-minute average), drawn as inline
SVG from the ledger (services.console.throughput). No script, no CDN."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from payouts.services import console

WIDTH, HEIGHT = 600, 160  # the SVG's user units; it scales to its box
LEFT, BOTTOM, TOP = 44, 18, 8  # room for the labels


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # "13:05 UTC: 1,234 per minute"


@dataclass(frozen=True, slots=True)
class Chart:
    window: str  # hour | day
    title: str
    bars: list[Bar]
    peak: float  # per minute, the top of the axis
    paid: int  # winners paid in the window
    ticks: list[tuple[float, str]]  # x, "13:00"
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: int = HEIGHT - BOTTOM
    top: int = TOP


def _chart(window: str, title: str, data: console.Throughput, tick_every: int) -> Chart:
    minutes = data.bucket_seconds / 60
    rates = [count / minutes for count in data.counts]
    peak = max(rates) if any(rates) else 0.0
    plot_width = WIDTH - LEFT
    plot_height = HEIGHT - BOTTOM - TOP
    step = plot_width / len(rates)
    bars, ticks = [], []
    for n, (count, rate) in enumerate(zip(data.counts, rates, strict=True)):
        start = data.first_bucket_start + timedelta(seconds=n * data.bucket_seconds)
        if n % tick_every == 0:
            ticks.append((LEFT + n * step, start.strftime("%H:%M")))
        if not count:
            continue
        height = max(1.0, plot_height * rate / peak)
        per = f"{rate:,.0f}" if rate >= 10 else f"{rate:,.1f}"
        bars.append(
            Bar(
                x=round(LEFT + n * step + 0.5, 2),
                y=round(TOP + plot_height - height, 2),
                width=round(max(step - 1, 1), 2),
                height=round(height, 2),
                label=f"{start:%H:%M} UTC: {count:,} paid ({per} per minute)",
            )
        )
    return Chart(window, title, bars, peak, data.total, ticks)


@dataclass(frozen=True, slots=True)
class ChartCaches:
    """One per application (app.state): the ledger's final buckets, read once."""

    hour: console.ThroughputCache
    day: console.ThroughputCache


def caches_of(state: Any) -> ChartCaches:
    caches = getattr(state, "chart_caches", None)
    if caches is None:
        caches = ChartCaches(
            console.ThroughputCache(3600, 60), console.ThroughputCache(86_400, 900)
        )
        state.chart_caches = caches
    return caches


def chart_context(conn: Connection, now: datetime, caches: ChartCaches) -> list[Chart]:
    hour = caches.hour.read(conn, now)
    day = caches.day.read(conn, now)
    return [
        _chart("hour", "Last hour, per minute", hour, 10),
        _chart("day", "Last day, per 15 minutes (average per minute)", day, 16),
    ]
