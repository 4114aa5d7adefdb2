"""The Flask web site: consoles for dispatchers, rental desks and police, the store and the REST API."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import click
from flask import Flask, Response, current_app
from flask.cli import with_appcontext

from telematics.settings import Settings, load_settings
from web import auth, db
from web.display import register_filters
from web.migrate import upgrade_store
from web.stop_flow import DEFAULT_EXPIRY_S
from web.views import account, alerts, api, audit, events, fleet, health, reference, stop_requests, users
from web.views import auth as auth_views
from web.views import toolkit as toolkit_views

BLUEPRINTS = (auth_views.bp, account.bp, users.bp, alerts.bp, fleet.bp, reference.bp, stop_requests.bp, audit.bp,
              events.bp, api.bp, health.bp)
SESSION_HOURS = 12


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
    """The web site for ``settings`` (from the environment when not given); brings the store to head first."""
    settings = settings if settings is not None else load_settings()
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
        MAP_TILES=tiles,
        STOP_REQUEST_EXPIRY_S=float(getattr(settings, "stop_request_expiry_s", DEFAULT_EXPIRY_S)),
        SSE_POLL_S=1.0,
        SSE_MAX_S=300.0,
        CONTENT_SECURITY_POLICY=content_security_policy(tiles),
    )
    app.json.sort_keys = False  # keep the contract's field order
    app.extensions["truckguard.settings"] = settings

    upgrade_store(settings.store_url)
    db.init_app(app, settings.store_url)
    auth.init_app(app)
    register_filters(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.register_blueprint(toolkit_views.bp)
    app.after_request(_security_headers)
    app.cli.add_command(upgrade_store_command)
    return app


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


@click.command("upgrade-store")
@with_appcontext
def upgrade_store_command() -> None:
    """Create or upgrade the store's tables to the newest revision."""
    upgrade_store(current_app.extensions["truckguard.settings"].store_url)
    click.echo("store is at the newest revision")
