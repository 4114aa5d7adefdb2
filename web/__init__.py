"""The Flask web site: consoles for dispatchers, rental desks and police, the store and the REST API."""

from __future__ import annotations

import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_babel import gettext
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from telematics.settings import Settings, load_settings
from web import auth, basemap, db, i18n
from web.display import register_filters
from web.i18n import N_
from web.migrate import check_store_at_head
from web.stop_flow import DEFAULT_EXPIRY_S
from web.views import (
    account,
    alerts,
    api,
    audit,
    events,
    fleet,
    health,
    notifications,
    reference,
    stop_requests,
    users,
    vehicles,
)
from web.views import auth as auth_views
from web.views import toolkit as toolkit_views

BLUEPRINTS = (auth_views.bp, account.bp, users.bp, alerts.bp, fleet.bp, vehicles.bp, reference.bp, stop_requests.bp,
              audit.bp, events.bp, api.bp, health.bp, notifications.bp, basemap.bp)
SESSION_HOURS = 12
BUSY_RETRY_S = 5
"""Retry-After of a store that stayed busy past its busy timeout: long enough for the writers to catch up."""

log = logging.getLogger(__name__)

_WHAT_TO_DO = {
    400: N_("The request was not understood. Go back, check what you entered and send it again."),
    403: N_("Your account may not open this page. Ask an administrator if you need it."),
    404: N_("Nothing is here. Check the address, or start again from the alert list."),
    405: N_("This page cannot be used that way. Go back and use its buttons."),
    413: N_("What you sent is too large. Send a smaller file."),
    429: N_("Too many attempts. Wait a few minutes and try again."),
    503: N_("The store is busy just now. Nothing was lost: wait a few seconds and reload the page."),
}
_FALLBACK = N_("Something went wrong on our side and has been logged. Reload the page; if it happens again, tell "
               "your administrator the time it happened.")
_TITLES = (N_("Bad Request"), N_("Forbidden"), N_("Not Found"), N_("Method Not Allowed"),
           N_("Request Entity Too Large"), N_("Too Many Requests"), N_("Internal Server Error"), N_("Store busy"))
"""The titles of the errors a person meets (Werkzeug's names and our own): the page shows them in the reader's
language, the API in English."""


def content_security_policy(tiles: str = "") -> str:
    """Everything is served from this site (no CDN, no inline script); map tiles only from the configured host."""
    tile_origin = ""
    if tiles:
        parts = urlsplit(tiles.replace("{s}", "a"))
        tile_origin = f" {parts.scheme}://{parts.netloc}".replace("a.", "*.", 1) if "{s}" in tiles else \
            f" {parts.scheme}://{parts.netloc}"
    return (
        f"default-src 'self'; img-src 'self' data:{tile_origin}; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def _secret_key(settings: Settings) -> str:
    """The configured key, else one kept in the data folder so sessions survive restarts and span workers."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_dir) / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key
    except OSError:
        return secrets.token_hex(32)


def create_app(settings: Settings | None = None, *, testing: bool = False) -> Flask:
    """The web site for ``settings`` (from the environment when not given).

    It never changes the store's schema: a store not at the newest revision raises StoreNotUpgraded, whose one line
    says to run `truckguard db upgrade` (which `truckguard web` and the demo run at their start).
    """
    settings = settings if settings is not None else load_settings()
    check_store_at_head(settings.store_url)
    app = Flask(__name__)
    tiles = str(getattr(settings, "map_tiles", "") or "")
    app.config.from_mapping(
        SECRET_KEY=_secret_key(settings),
        TESTING=testing,
        MAX_CONTENT_LENGTH=4 * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(getattr(settings, "secure_cookies", False)),
        SESSION_COOKIE_NAME="truckguard_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        # The cookie is sent only when the session changes (sign-in, a message to show), not on every response: a
        # page's refresh that was under way while the officer approved would otherwise hand the browser back the
        # session as it was before, without the "first approval recorded" message. The server-held session ends
        # SESSION_HOURS after sign-in whatever the cookie says (web/sessions.py).
        SESSION_REFRESH_EACH_REQUEST=False,
        MAP_TILES=tiles,
        STOP_REQUEST_EXPIRY_S=float(getattr(settings, "stop_request_expiry_s", DEFAULT_EXPIRY_S)),
        SSE_POLL_S=1.0,
        SSE_MAX_S=300.0,
        CONTENT_SECURITY_POLICY=content_security_policy(tiles),
    )
    app.json.sort_keys = False  # keep the contract's field order
    app.extensions["truckguard.settings"] = settings

    db.init_app(app, settings.store_url)
    auth.init_app(app)
    i18n.init_app(app, Path(settings.data_dir) / "translations")
    register_filters(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.register_blueprint(toolkit_views.bp)
    app.after_request(_security_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(OperationalError, _store_busy)
    app.register_error_handler(InternalServerError, _unexpected)
    return app


def _error_page(status: int, title: str, detail: str | None = None) -> Response:
    """A styled page (or JSON for the API) that says what happened and what to do next."""
    advice = _WHAT_TO_DO.get(status, _FALLBACK)
    if status == 503 and detail:  # something other than the store is busy (sign-in hashing): its own advice
        advice, detail = str(detail), None
    if request.path.startswith("/api/") or request.path == "/events" or \
            request.headers.get("Authorization", "").lower().startswith("bearer "):
        response = jsonify(error=title, message=detail or advice)
    else:
        response = current_app.make_response(render_template(
            "error.html", status=status, title=gettext(title) if title in _TITLES else title, detail=detail,
            advice=gettext(advice)))
    response.status_code = status
    return response


def _http_error(exc: HTTPException) -> Response:
    if exc.code is None or exc.code < 400:
        return exc.get_response()
    # A view's own reason (a role that may not use the page, a missing CSRF token) is worth showing; the stock
    # text of a 404 or 500 is not.
    detail = exc.description if exc.code != 404 and (exc.code < 500 or exc.code == 503) \
        and exc.description != type(exc).description else None
    response = _error_page(exc.code, exc.name, detail)
    for name, value in exc.get_headers():
        if name.lower() in ("www-authenticate", "retry-after", "allow"):
            response.headers[name] = value
    return response


def _store_busy(exc: OperationalError) -> Response:
    """A store still locked or unreachable after its busy timeout: 503 with a time to retry, never a bare 500."""
    log.warning("store busy or unreachable on %s %s: %s", request.method, request.path, exc.orig or exc)
    response = _error_page(503, "Store busy")
    response.headers["Retry-After"] = str(BUSY_RETRY_S)
    return response


def _unexpected(_exc: InternalServerError) -> Response:
    """A bug: Flask has logged it with its traceback; the person gets the styled page, never the traceback."""
    return _error_page(500, InternalServerError.name)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", current_app.config["CONTENT_SECURITY_POLICY"])
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config["SESSION_COOKIE_SECURE"]:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if response.mimetype in ("text/html", "application/json"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response

