"""Settings, in one place.

Every setting can come from an environment variable with the ``LIANGSHAN_``
prefix (``LIANGSHAN_DATABASE_URL``, ``LIANGSHAN_DATA_DIR`` …) or from a ``.env``
file in the working directory.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from liangshan.errors import ConfigurationError

PLACEHOLDER_SECRET = "change-me"


class Settings(BaseSettings):
    """Liangshan settings; see the README for how to set them."""

    model_config = SettingsConfigDict(env_prefix="LIANGSHAN_", env_file=".env", extra="ignore")

    mode: Literal["development", "production", "test"] = "development"
    data_dir: Path = Field(default=Path("./data"), description="Where the SQLite file, "
                           "study areas and outputs live.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default: "
                                     "a SQLite file under data_dir.")
    scheduler: str | None = Field(default=None, description="dask.distributed scheduler "
                                  "address (tcp://host:8786); default: local threads.")
    log_level: str = "INFO"
    secret_key: str = PLACEHOLDER_SECRET
    study_dirs: list[Path] = Field(default_factory=list, description="Study-area folders on "
                                   "this server that the web page offers for a new account "
                                   "run; in the environment a JSON list: "
                                   'LIANGSHAN_STUDY_DIRS=\'["/srv/studies/pilots"]\'.')
    upload_max_mb: int = Field(default=200, gt=0, description="Largest study-area zip the "
                               "web page accepts, MB (10⁶ bytes).")
    token_ttl_minutes: int = 12 * 60
    market_enforce_hours: bool | None = Field(
        default=None, description="Refuse orders, listings and block deals sent through the API "
        "outside each instrument's trading sessions; default: on in production mode, off "
        "otherwise (the demo and the tests trade at any hour).")

    @property
    def enforces_market_hours(self) -> bool:
        if self.market_enforce_hours is not None:
            return self.market_enforce_hours
        return self.mode == "production"

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.mode == "production" and self.secret_key in (PLACEHOLDER_SECRET, ""):
            raise ConfigurationError(
                "LIANGSHAN_SECRET_KEY is still the placeholder in production mode",
                hint="set LIANGSHAN_SECRET_KEY to a long random string "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')",
            )
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'liangshan.sqlite').resolve()}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache)."""
    return Settings()
