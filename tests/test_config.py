"""Settings: one place, LIANGSHAN_ prefix, placeholder secret refused in production."""

from __future__ import annotations

import pytest

from liangshan.config import Settings
from liangshan.errors import ConfigurationError


def test_default_database_is_a_sqlite_file_under_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LIANGSHAN_DATA_DIR", str(tmp_path))
    url = Settings().effective_database_url
    assert url == f"sqlite:///{tmp_path.resolve()}/liangshan.sqlite"


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("LIANGSHAN_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("LIANGSHAN_SCHEDULER", "tcp://127.0.0.1:8786")
    settings = Settings()
    assert settings.effective_database_url == "postgresql+psycopg://u@h/db"
    assert settings.scheduler == "tcp://127.0.0.1:8786"


def test_placeholder_secret_refused_in_production(monkeypatch):
    monkeypatch.setenv("LIANGSHAN_MODE", "production")
    with pytest.raises(ConfigurationError, match="LIANGSHAN_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("LIANGSHAN_SECRET_KEY", "x" * 40)
    assert Settings().mode == "production"


def test_placeholder_secret_allowed_in_development(monkeypatch):
    monkeypatch.setenv("LIANGSHAN_MODE", "development")
    assert Settings().secret_key == "change-me"
