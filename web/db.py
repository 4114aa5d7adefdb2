"""Owns the store's database connection: engines for a URL and one session per Flask request."""

from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from telematics.errors import ConfigurationError

SQLITE_BUSY_TIMEOUT_MS = 10_000
WAL_SWITCH_RETRIES = 10
"""A new SQLite file opened by several processes at once (the demo's sink, web site and commands start together):
while one switches it to WAL, SQLite refuses another's switch at once, without waiting out the busy timeout (so two
connections never wait on each other): the switch is tried again, 50 ms later, then 100 ms, and so on."""
SQLITE_BEGIN_OPTION = "truckguard_sqlite_begin"
"""Execution option naming the SQLite BEGIN mode; writers use IMMEDIATE (see ``writer``)."""
_WRITING = "truckguard_writing"
"""Connection info flag: this SQLite transaction holds the write lock."""
_WRITE_STATEMENT = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
DEMO_STORE_MARK = "store_url"
"""File in the demo's folder naming the store of the demo running now (with its process id)."""


class StoreNotFound(ConfigurationError):
    """No store where a command looked for one; the message says where it looked and what to do."""


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for a store URL; a SQLite file gets its folder, WAL mode, a busy timeout and real BEGINs."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **options)
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling defers BEGIN and skips it before DDL; take it over
        # (SQLAlchemy's documented recipe) so every transaction, migrations included, is real.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # WAL lets the web site read while the sink writes from another process.
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")
        connection.info[_WRITING] = mode != "DEFERRED"

    @event.listens_for(engine, "before_execute")
    def _on_execute(connection: Any, statement: Any, *_args: Any) -> None:
        if getattr(statement, "_for_update_arg", None) is not None:
            _take_write_lock(connection)

    @event.listens_for(engine, "before_cursor_execute")
    def _on_cursor_execute(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if _WRITE_STATEMENT.match(statement):
            _take_write_lock(connection)

    return engine


def _take_write_lock(connection: Any) -> None:
    """Before the first write (or SELECT … FOR UPDATE) of a DEFERRED SQLite transaction, trade its read
    snapshot for the write lock.

    A WAL reader that starts writing after another process committed gets SQLITE_BUSY at once, without
    waiting on the busy timeout: it is "database is locked" on a sign-in while the sink writes positions.
    Ending the read part and beginning IMMEDIATE waits for the lock instead, and the writes then see the
    newest data. What was read before is then as PostgreSQL's default READ COMMITTED would have it;
    SELECT … FOR UPDATE (which SQLite has not) takes the lock first, so a read-modify-write stays whole.
    """
    if connection.info.get(_WRITING, True) or not connection.in_transaction():
        return
    dbapi_connection = connection.connection.dbapi_connection
    cursor = dbapi_connection.cursor()
    try:
        if dbapi_connection.in_transaction:
            cursor.execute("COMMIT")  # nothing written yet: this only ends the read snapshot
        cursor.execute("BEGIN IMMEDIATE")
    finally:
        cursor.close()
    connection.info[_WRITING] = True


def _switch_to_wal(cursor: Any) -> None:
    for attempt in range(WAL_SWITCH_RETRIES + 1):
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "database is locked" not in str(exc) or attempt == WAL_SWITCH_RETRIES:
                raise
            time.sleep(0.05 * (attempt + 1))


def writer(engine: Engine) -> Engine:
    """The same engine for read-modify-write transactions: on SQLite they take the write lock at BEGIN,
    so two processes queue on the busy timeout instead of failing on a stale snapshot."""
    return engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})


def running_demo_store(data_dir: Path) -> str | None:
    """The store URL of the ``truckguard demo`` running from ``data_dir`` now, if one is."""
    try:
        pid_text, url = (data_dir / "demo" / DEMO_STORE_MARK).read_text().split("\n", 1)
        os.kill(int(pid_text), 0)
    except (OSError, ValueError):
        return None
    return url.strip() or None


def find_store(database_url: str, data_dir: Path, *, create: bool = False) -> str:
    """The store a command means: the URL given, else the running demo's, else the one in ``data_dir``.

    Without ``create`` a missing SQLite file is an error (StoreNotFound), never a new empty store: a token
    issued into an empty database signs nobody in. ``truckguard web`` and ``sink`` pass ``create=True``.
    """
    if database_url:
        return database_url
    demo = running_demo_store(data_dir)
    if demo:
        return demo
    path = data_dir / "truckguard.sqlite"
    if create or path.exists():
        return f"sqlite:///{path}"
    raise StoreNotFound(
        f"store: no database at {path} and no demo running from {data_dir}; start `truckguard demo`, or set "
        "TRUCKGUARD_DATABASE_URL (--database-url) to the store the web site uses")


def init_app(app: Flask, url: str) -> None:
    """Gives the app its engine and closes each request's session when the request ends."""
    engine = make_engine(url)
    app.extensions["truckguard.engine"] = engine
    app.extensions["truckguard.sessions"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(close_session)


def get_engine() -> Engine:
    return current_app.extensions["truckguard.engine"]


def get_session() -> Session:
    """The current request's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["truckguard.sessions"]()
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()
