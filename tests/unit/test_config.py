"""Settings: defaults, normalisation, and one clear line naming a wrong setting."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BOT_TOKEN", "DATABASE_URL", "TELEGRAM_API_BASE", "REDIS_URL", "DEFAULT_LOCALE", "TIMEZONE"):
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = load_settings(_env_file=None)
    assert settings.bot_token is None
    assert settings.database_url == "sqlite+aiosqlite:///fieldbot.sqlite3"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.default_locale == "zh_CN"
    assert settings.redis_url is None and settings.telegram_api_base is None


def test_environment_is_read_and_postgres_url_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://fieldbot@127.0.0.1/fieldbot")
    monkeypatch.setenv("TELEGRAM_API_BASE", "http://127.0.0.1:8081/")
    monkeypatch.setenv("DEFAULT_LOCALE", "en")
    settings = load_settings(_env_file=None)
    assert settings.database_url == "postgresql+asyncpg://fieldbot@127.0.0.1/fieldbot"
    assert settings.telegram_api_base == "http://127.0.0.1:8081"
    assert settings.default_locale == "en"


def test_dotenv_file_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("TIMEZONE=Asia/Urumqi\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings().timezone == "Asia/Urumqi"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("TIMEZONE", "Mars/Olympus", "TIMEZONE: unknown time zone 'Mars/Olympus'"),
        ("DEFAULT_LOCALE", "fr", "DEFAULT_LOCALE: must be one of zh_CN, en"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL: use sqlite+aiosqlite:///FILE"),
        ("BOT_TOKEN", "not-a-token", "BOT_TOKEN: expected the form 123456789:AA"),
        ("TELEGRAM_API_BASE", "ftp://x", "TELEGRAM_API_BASE: expected an http:// or https:// URL"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL: expected redis://HOST:PORT/DB"),
        ("INVITE_TTL_HOURS", "0", "INVITE_TTL_HOURS:"),
    ],
)
def test_wrong_value_names_the_setting_in_one_line(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                                   says: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert message.startswith("configuration error: ")
    assert says in message
    assert "\n" not in message
