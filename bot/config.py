"""Typed settings from the environment and an optional `.env` file."""

from __future__ import annotations

import sys
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SUPPORTED_LOCALES = ("zh_CN", "en")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///fieldbot.sqlite3"


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
    invite_ttl_hours: int = Field(default=72, ge=1, le=24 * 90)
    sandbox_port: int = Field(default=8081, ge=0, le=65535)
    max_updates_in_flight: int = Field(default=64, ge=1, le=10_000)
    log_level: str = "INFO"
    visit_radius_m: int = 500
    approval_watch_minutes: int = Field(default=15, ge=1, le=24 * 60, description="how often reminders run")

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        head, _, tail = value.partition(":")
        if not head.isdigit() or len(tail) < 10:
            raise ValueError("expected the form 123456789:AA... from @BotFather")
        return value

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
