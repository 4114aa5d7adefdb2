"""Brings a store's schema up to the newest Alembic revision, safely from several processes at once."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import make_url, text

from telematics.errors import ConfigurationError
from web.db import make_engine, writer

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any fixed number: PostgreSQL's advisory lock that serialises concurrent upgrades ("truckg").
_PG_LOCK_KEY = 0x747275636B67


def alembic_config() -> Config:
    """Alembic configuration pointing at web/migrations (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


class StoreNotUpgraded(ConfigurationError):
    """A store whose schema is not the newest revision this code knows: `truckguard db upgrade` brings it there."""


def upgrade_store(url: str) -> None:
    """Creates or upgrades the store at ``url`` to head; `truckguard db upgrade`, `web`, `sink`, the demo and the
    store commands call it at their start (the web app only checks, see check_store_at_head)."""
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


@cache
def head_revision() -> str:
    """The newest revision of web/migrations (read once: the migrations do not change while a process runs)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise ConfigurationError(f"{MIGRATIONS_DIR}: no migrations")
    return head


def check_store_at_head(url: str) -> None:
    """Raises StoreNotUpgraded, one line saying what to run, unless the store at ``url`` is at the newest revision.

    Only reads: a SQLite file that does not exist yet is not created.
    """
    head, current = head_revision(), store_revision(url)
    if current == head:
        return
    where = make_url(url).render_as_string(hide_password=True)
    if current is not None and current not in known_revisions():
        raise StoreNotUpgraded(
            f"store {where} is at revision {current}, which this version of truckguard does not know (a newer "
            f"version upgraded it; this one expects {head}): run the newer version")
    state = "has no tables yet" if current is None else f"is at revision {current}, older than this version's {head}"
    raise StoreNotUpgraded(
        f"store {where} {state}; run `truckguard db upgrade` on it first (same TRUCKGUARD_DATABASE_URL or "
        "--database-url, same TRUCKGUARD_DATA_DIR or --data-dir)")


def store_revision(url: str) -> str | None:
    """current_revision, without creating a SQLite file that does not exist yet (None: no store there)."""
    return None if _missing_sqlite_file(url) else current_revision(url)


def _missing_sqlite_file(url: str) -> bool:
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return False
    return not database.startswith("file:") and not Path(database).expanduser().exists()


@cache
def known_revisions() -> frozenset[str]:
    """Every revision of web/migrations, the newest included."""
    return frozenset(script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions())
