from __future__ import annotations

import threading
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from web.db import make_engine
from web.migrate import alembic_config, current_revision, upgrade_store
from web.models import Base


def _head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_upgrade_creates_the_schema_on_an_empty_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'store.sqlite'}"
    assert current_revision(url) is None
    upgrade_store(url)
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        assert {"alerts", "stop_requests", "alembic_version"} <= set(inspector.get_table_names())
        alert_columns = {c["name"] for c in inspector.get_columns("alerts")}
        assert {"alert_id", "vehicle_id", "fleet_id", "kind", "severity", "ts", "onset_ts", "lat", "lon", "score",
                "zone_id", "evidence", "revision", "received_at", "status"} <= alert_columns
        request_columns = {c["name"] for c in inspector.get_columns("stop_requests")}
        assert {"request_id", "mode", "target_speed_kmh", "status", "alert_ids", "reason", "history"} <= request_columns
    finally:
        engine.dispose()
    assert current_revision(url) == _head()


def test_head_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    upgrade_store(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_upgrade_is_idempotent_and_safe_to_race(tmp_path: Path) -> None:
    # Several processes opening a new store at once (the demo's sink, web site and commands): before the first has
    # switched the file to WAL, SQLite refuses the others' locks without waiting. Six new files, four upgrades each.
    errors: list[BaseException] = []
    for round_ in range(6):
        url = f"sqlite:///{tmp_path / f'store-{round_}.sqlite'}"

        def upgrade(url: str = url) -> None:
            try:
                upgrade_store(url)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=upgrade) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        upgrade_store(url)
        assert current_revision(url) == _head()
