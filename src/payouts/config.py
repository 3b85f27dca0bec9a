"""All configuration: one settings class, read from PAYOUTS_* environment variables."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from payouts.domain.durations import parse_duration
from payouts.domain.errors import InvalidInput


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
    # Events and webhooks (docs/events.md).
    event_retention: timedelta = timedelta(days=30)
    webhook_batch: int = Field(100, ge=1, le=1000)
    webhook_max_attempts: int = Field(12, ge=1)
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    webhook_disable_after: timedelta = timedelta(hours=24)
    webhook_retry_base_seconds: float = Field(5.0, gt=0)  # the first retry's wait (doubling)
    webhook_delivery: bool = True  # workers deliver webhooks beside paying
    # Security (docs/security.md): failed authentications per address and minute before a
    # cool-down; the proxies whose X-Forwarded-For is believed ("10.0.0.1,10.2.0.0/16").
    auth_failures_per_minute: int = Field(10, ge=1)
    trusted_proxies: str = ""
    # Storage (docs/operations.md#retention): how long a stored idempotent response is
    # replayed before the worker prunes it.
    idempotency_retention: timedelta = timedelta(hours=24)

    @field_validator(
        "event_retention", "webhook_disable_after", "idempotency_retention", mode="before"
    )
    @classmethod
    def duration(cls, value: object) -> object:
        """Durations as operators write them: 90s, 15m, 24h, 30d, 2w (or plain seconds)."""
        if not isinstance(value, str):
            return value
        try:
            return parse_duration(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None

    @field_validator("trusted_proxies")
    @classmethod
    def valid_networks(cls, spec: str) -> str:
        for part in filter(None, (p.strip() for p in spec.split(","))):
            ipaddress.ip_network(part, strict=False)  # ValueError: a clear settings error
        return spec

    @property
    def idempotency_retention_seconds(self) -> float:
        return self.idempotency_retention.total_seconds()

    @field_validator("database_url")
    @classmethod
    def use_psycopg3(cls, url: str) -> str:
        """A plain postgresql:// URL means psycopg 3, not SQLAlchemy's psycopg2 default."""
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url
