"""Serves the web site with waitress (a thread pool)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from waitress import create_server
from waitress.server import BaseWSGIServer, MultiSocketServer

from telematics.settings import Settings
from web import create_app

THREADS = 8
"""No request holds a thread for long (the live feed answers at once), so a few threads serve many consoles."""
CONNECTION_LIMIT = 2_000
"""Open connections waitress keeps (its default, 100, would refuse new ones once 100 consoles keep theirs alive)."""
IDLE_CONNECTION_S = 30
"""An idle kept-alive connection is closed after this long (waitress's default is 120 s)."""

log = logging.getLogger(__name__)


def make_server(
    settings: Settings, host: str | None = None, port: int | None = None, *, threads: int = THREADS,
) -> BaseWSGIServer | MultiSocketServer:
    """A waitress server for the site, bound but not yet running; port 0 picks a free port."""
    app = create_app(settings)
    return create_server(
        app,
        host=settings.web_host if host is None else host,
        port=settings.web_port if port is None else port,
        threads=threads,
        connection_limit=CONNECTION_LIMIT,
        channel_timeout=IDLE_CONNECTION_S,
        asyncore_use_poll=True,  # select() cannot watch more than 1,024 sockets
        ident="truckguard",
    )


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serves until interrupted (Ctrl-C or SIGTERM)."""
    server = make_server(settings, host, port)
    log.info("web site on http://%s:%s/", server.effective_host, server.effective_port)
    previous = _stop_on_sigterm()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _stop_on_sigterm() -> signal.Handlers | Callable[[int, object], object] | int | None:
    """A service manager's SIGTERM ends serving as Ctrl-C does; only the main thread may set handlers."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _interrupt)
