"""Brings a store's schema up to the newest Alembic revision, safely from several processes at once."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from web.db import make_engine, writer

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any fixed number: PostgreSQL's advisory lock that serialises concurrent upgrades ("truckg").
_PG_LOCK_KEY = 0x747275636B67


def alembic_config() -> Config:
    """Alembic configuration pointing at web/migrations (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade_store(url: str) -> None:
    """Creates or upgrades the store at ``url`` to head; the web app and the sink call it at start-up."""
    engine = make_engine(url)
    try:
        # On SQLite, BEGIN IMMEDIATE takes the write lock before Alembic reads the version table;
        # on PostgreSQL the advisory lock does the same, so a second process waits and finds head.
        with writer(engine).begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The store's Alembic revision, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
