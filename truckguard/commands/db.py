"""`truckguard db`: brings the web store's schema to the newest revision and says which revision it is at."""

from __future__ import annotations

import argparse

from telematics.settings import Settings
from truckguard.commands.common import Subparsers, add_action, add_command, database_url_flag


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from web.migrate import head_revision, upgrade_store

    upgrade_store(settings.store_url)
    print(f"{_where(settings.store_url)}: at revision {head_revision()}, the newest")
    return 0


def cmd_db_current(args: argparse.Namespace, settings: Settings) -> int:
    from web.migrate import head_revision, known_revisions, store_revision

    current, head = store_revision(settings.store_url), head_revision()
    if current == head:
        state = f"{current} (the newest)"
    elif current is None:
        state = f"no tables yet (the newest is {head}; run `truckguard db upgrade`)"
    elif current in known_revisions():
        state = f"{current} (the newest is {head}; run `truckguard db upgrade`)"
    else:
        state = f"{current} (unknown to this version of truckguard, which expects {head}: a newer version upgraded it)"
    print(f"{_where(settings.store_url)}: {state}")
    return 0


def _where(url: str) -> str:
    """The store's URL without its password, fit for a terminal and a log."""
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


def register(sub: Subparsers) -> None:
    p = add_command(sub, "db", cmd_db_current, "The web store's schema (the store `truckguard web` and `sink` use).")
    actions = p.add_subparsers(dest="db_action", required=True, metavar="ACTION")
    upgrade = add_action(
        actions, "upgrade", cmd_db_upgrade,
        "create the store's tables or bring them to the newest revision (safe while other processes run)",
    )
    database_url_flag(upgrade)
    current = add_action(actions, "current", cmd_db_current, "print the store's revision and whether it is the newest")
    database_url_flag(current)
