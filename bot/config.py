"""Typed settings from the environment and an optional `.env` file."""

from __future__ import annotations

import sys
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SUPPORTED_LOCALES = ("zh_CN", "en")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///fieldbot.sqlite3"
# Bounds of an invite's life, shared by the INVITE_TTL_HOURS setting and `fieldbot invite --ttl-hours`.
INVITE_TTL_HOURS_MIN = 1
INVITE_TTL_HOURS_MAX = 24 * 90


class ConfigError(Exception):
    """A setting has a wrong value; the message is one line naming the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: str | None = Field(default=None, description="Telegram bot token; unset runs the local sandbox")
    database_url: str = DEFAULT_DATABASE_URL
    telegram_api_base: str | None = Field(default=None, description="a custom Bot API server")
    timezone: str = "Asia/Shanghai"
    default_locale: str = "zh_CN"
    redis_url: str | None = None
    bot_username: str | None = Field(default=None, description="for invite links; read from Telegram when unset")
    invite_ttl_hours: int = Field(default=72, ge=INVITE_TTL_HOURS_MIN, le=INVITE_TTL_HOURS_MAX)
    sandbox_port: int = Field(default=8081, ge=0, le=65535)
    max_updates_in_flight: int = Field(default=64, ge=1, le=10_000)
    log_level: str = "INFO"
    visit_radius_m: int = 500
    approval_watch_minutes: int = Field(default=15, ge=1, le=24 * 60, description="how often reminders run")
    # The update intake (app/intake.py).
    intake_claim_ttl_s: float = Field(default=5.0, gt=0, le=600, description="how long a crashed worker holds a user")
    intake_max_attempts: int = Field(default=3, ge=1, le=100, description="attempts before an update is parked")
    intake_retry_s: float = Field(default=2.0, ge=0, le=3600, description="wait before attempt n+1: n times this")
    sqlite_busy_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    # Webhook mode (`fieldbot run --webhook URL`): where to listen, and the secret Telegram sends back.
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(default=8080, ge=0, le=65535)
    webhook_secret: str | None = Field(default=None, description="generated at start when unset")
    # Managers' numbers (pushes/manager_numbers.py).
    digest_time: str = Field(default="08:00", description="local time (HH:MM) the managers' daily digest goes out")
    digest_roles: str = Field(
        default="region_manager,marketing_manager,customer_mgmt_specialist,dealer_gm",
        description="comma-separated roles that get the daily digest")
    nudge_weekday: int = Field(default=0, ge=0, le=6, description="weekday (0 = Monday) target nudges go out")
    # Pushes (pushes/): the dispatcher's pace and the SMS gateway.
    outbox_poll_seconds: float = Field(default=5.0, gt=0, le=3600, description="dispatcher poll when not woken")
    outbox_rate_per_second: float = Field(default=29.5, gt=0, le=1000, description="all Telegram pushes")
    sms_url: str | None = Field(default=None, description="apprise URL of the SMS gateway; unset: SMS waits")
    sms_signature: str = Field(default="", max_length=32, description="the registered SMS signature")
    # Our SMS template keys (playbook `schedule.sms.templates`) → the provider's registered template codes,
    # e.g. SMS_TEMPLATES='{"greeting": "SMS_123", "maintenance": "SMS_124", "appointment": "SMS_125"}'.
    sms_templates: dict[str, str] = Field(default_factory=dict, description="template key → provider code")

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        head, _, tail = value.partition(":")
        if not head.isdigit() or len(tail) < 10:
            raise ValueError("expected the form 123456789:AA... from @BotFather")
        return value

    @field_validator("digest_time")
    @classmethod
    def _digest_time(cls, value: str) -> str:
        hours, _, minutes = value.strip().partition(":")
        if not (hours.isdigit() and minutes.isdigit() and 0 <= int(hours) < 24 and 0 <= int(minutes) < 60):
            raise ValueError("expected a local time HH:MM, e.g. 08:00")
        return f"{int(hours):02d}:{int(minutes):02d}"

    @field_validator("digest_roles")
    @classmethod
    def _digest_roles(cls, value: str) -> str:
        # Role names are checked against the org's roles when the digest runs (settings import nothing above).
        roles = [role.strip() for role in value.split(",") if role.strip()]
        if not roles or not all(role.replace("_", "").isalnum() for role in roles):
            raise ValueError("expected role codes separated by commas, e.g. region_manager,dealer_gm")
        return ",".join(roles)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not (value.startswith("sqlite+aiosqlite://") or value.startswith("postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DB")
        return value

    @field_validator("telegram_api_base")
    @classmethod
    def _api_base(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}, e.g. Asia/Shanghai") from None
        return value

    @field_validator("default_locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        if value not in SUPPORTED_LOCALES:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LOCALES)}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected redis://HOST:PORT/DB")
        return value

    @property
    def digest_role_list(self) -> list[str]:
        return [role for role in self.digest_roles.split(",") if role]

    @property
    def digest_hour_minute(self) -> tuple[int, int]:
        hours, minutes = self.digest_time.split(":")
        return int(hours), int(minutes)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        tail = self.database_url.split(":///", 1)[1] if ":///" in self.database_url else ""
        return Path(tail) if tail and tail != ":memory:" else None


def load_settings(**overrides: object) -> Settings:
    """Reads the settings; a wrong value raises ConfigError naming the setting in one line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"configuration error: {name}: {message}") from None


def settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as error:
        print(f"fieldbot: {error}", file=sys.stderr)
        raise SystemExit(2) from None
