"""All configuration: one settings class, read from PAYOUTS_* environment variables."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYOUTS_", extra="ignore")

    database_url: str = "sqlite:///./payouts.db"
    admin_token: str | None = None
    batch_size: int = Field(500, ge=1, le=100_000)
    worker_interval_seconds: float = Field(5.0, gt=0)
    platform_fee_bps: int = Field(500, ge=0, le=10_000)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    embedded_worker: bool = True
    max_attempts: int = Field(5, ge=1)
    db_pool_size: int = Field(10, ge=1)
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    max_body_bytes: int = Field(2_000_000, ge=1024)
    # Events and webhooks (docs/events.md). Durations: seconds, or a number with s/m/h/d.
    event_retention: timedelta = timedelta(days=30)
    webhook_batch: int = Field(100, ge=1, le=1000)
    webhook_max_attempts: int = Field(12, ge=1)
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    webhook_disable_after: timedelta = timedelta(hours=24)
    webhook_retry_base_seconds: float = Field(5.0, gt=0)  # the first retry's wait (doubling)
    webhook_delivery: bool = True  # workers deliver webhooks beside paying

    @field_validator("event_retention", "webhook_disable_after", mode="before")
    @classmethod
    def duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def use_psycopg3(cls, url: str) -> str:
        """A plain postgresql:// URL means psycopg 3, not SQLAlchemy's psycopg2 default."""
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """ "30d", "12h", "90m", "3600s" or "3600" (seconds)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if found is None:
        raise ValueError(f"{text!r} is not a duration like 30d, 12h, 90m or 3600s")
    return timedelta(seconds=float(found[1]) * _UNITS[found[2] or "s"])
