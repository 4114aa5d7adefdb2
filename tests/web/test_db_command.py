"""`truckguard db upgrade` / `db current`, and a web site that checks its store's revision instead of migrating it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from telematics.errors import ConfigurationError
from telematics.settings import Settings
from truckguard.commands import db as db_command
from web import create_app
from web.db import make_engine
from web.migrate import StoreNotUpgraded, alembic_config, current_revision, head_revision


def _run(argv: list[str], settings: Settings) -> int:
    parser = argparse.ArgumentParser(prog="truckguard")
    db_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args, settings)


def _store_file(settings: Settings) -> Path:
    return settings.data_dir / "truckguard.sqlite"


def test_the_site_refuses_an_empty_store_without_creating_it_and_says_what_to_run(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(StoreNotUpgraded) as refused:
        create_app(settings, testing=True)
    message = str(refused.value)
    assert isinstance(refused.value, ConfigurationError) and "\n" not in message
    assert "has no tables yet" in message and "run `truckguard db upgrade`" in message
    assert not _store_file(settings).exists() and not settings.data_dir.exists()


def test_upgrade_then_current_then_the_site_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert _run(["db", "current"], settings) == 0
    assert "no tables yet" in capsys.readouterr().out and not _store_file(settings).exists()

    assert _run(["db", "upgrade"], settings) == 0
    assert f"at revision {head_revision()}, the newest" in capsys.readouterr().out
    assert current_revision(settings.store_url) == head_revision()
    assert _run(["db", "upgrade"], settings) == 0  # a second upgrade finds head and changes nothing

    capsys.readouterr()
    assert _run(["db", "current"], settings) == 0
    assert capsys.readouterr().out.strip().endswith(f": {head_revision()} (the newest)")
    assert create_app(settings, testing=True).test_client().get("/healthz").get_json() == {"status": "ok",
                                                                                           "store": "ok"}


def test_a_store_behind_or_ahead_of_the_code_is_named_with_its_revision(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'older.sqlite'}")
    config = alembic_config()
    config.set_main_option("sqlalchemy.url", settings.store_url)
    command.upgrade(config, "head")
    command.downgrade(config, "-1")
    older = current_revision(settings.store_url)
    assert older is not None and older != head_revision()

    with pytest.raises(StoreNotUpgraded, match=f"at revision {older}, older than this version's {head_revision()}; "
                                               "run `truckguard db upgrade`"):
        create_app(settings, testing=True)
    assert _run(["db", "current"], settings) == 0
    assert f": {older} (the newest is {head_revision()}" in capsys.readouterr().out

    engine = make_engine(settings.store_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    engine.dispose()
    with pytest.raises(StoreNotUpgraded, match="0099_from_the_future, which this version of truckguard does not know"):
        create_app(settings, testing=True)
    capsys.readouterr()
    assert _run(["db", "current"], settings) == 0
    assert ": 0099_from_the_future (unknown to this version of truckguard" in capsys.readouterr().out
