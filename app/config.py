from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting is read from the environment (prefix SOCIALGOV_, except DATABASE_URL)."""

    model_config = SettingsConfigDict(env_prefix="SOCIALGOV_", extra="ignore")

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    data_dir: Path = Path(".socialgov")
    host: str = "127.0.0.1"
    port: int = 8000
    bootstrap_token: str | None = None
    # approver, publisher and account_admin need valid training to be effective.
    require_training: bool = True
    # Seconds between audit sealing passes in the API process; 0 disables the in-process sealer.
    audit_seal_interval: float = 1.0
    idempotency_ttl_hours: int = 24
    db_pool_size: int = 10
    db_max_overflow: int = 10
    log_level: str = "INFO"
    graceful_shutdown_seconds: int = 20
    # How often an idle worker looks for due posts (a busy one keeps claiming).
    scheduler_poll_seconds: float = 0.25
    # The webhook connector refuses loopback, link-local, private and metadata addresses
    # (resolved at send time, every address) unless this is set (a gateway on the same host).
    connector_allow_private: bool = False
    # Signs audit checkpoints (head seq and hash); kept outside the database. Unset: checkpoints
    # are still published, unsigned (they then detect truncation by a careless operator only).
    audit_checkpoint_key: str | None = None
    # Seconds between checkpoints while the chain grows (0: after every sealing pass that sealed).
    audit_checkpoint_interval: float = 60.0
    # GraphQL limits applied before the document is parsed (bytes, lexical tokens), then after
    # parsing and before execution (depth, aliases, root fields).
    graphql_max_document_bytes: int = 16384
    graphql_max_tokens: int = 600
    graphql_max_depth: int = 10
    graphql_max_aliases: int = 30
    graphql_max_root_fields: int = 20


@lru_cache
def get_settings() -> Settings:
    return Settings()
