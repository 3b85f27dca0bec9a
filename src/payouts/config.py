"""All configuration: one settings class, read from PAYOUTS_* environment variables."""

from __future__ import annotations

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

    @field_validator("database_url")
    @classmethod
    def use_psycopg3(cls, url: str) -> str:
        """A plain postgresql:// URL means psycopg 3, not SQLAlchemy's psycopg2 default."""
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url
