"""The Flask web site: consoles for dispatchers, rental desks and police, the store and the REST API."""

from __future__ import annotations

import secrets

import click
from flask import Flask, Response, current_app
from flask.cli import with_appcontext

from truckguard.settings import Settings, load_settings
from web import db
from web.display import register_filters
from web.migrate import upgrade_store
from web.views import alerts, api, health, stop_requests

# Everything is served from this site: no CDN, no inline script, so the policy can be strict.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def create_app(settings: Settings | None = None, *, testing: bool = False) -> Flask:
    """The web site for ``settings`` (from the environment when not given); brings the store to head first."""
    settings = settings if settings is not None else load_settings()
    app = Flask(__name__)
    app.config.from_mapping(
        # No sign-in yet, so a random per-process key is harmless until accounts arrive.
        SECRET_KEY=settings.secret_key or secrets.token_hex(32),
        TESTING=testing,
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    app.json.sort_keys = False  # keep the contract's field order
    app.extensions["truckguard.settings"] = settings

    upgrade_store(settings.store_url)
    db.init_app(app, settings.store_url)
    register_filters(app)
    for blueprint in (alerts.bp, stop_requests.bp, api.bp, health.bp):
        app.register_blueprint(blueprint)
    app.after_request(_security_headers)
    app.cli.add_command(upgrade_store_command)
    return app


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


@click.command("upgrade-store")
@with_appcontext
def upgrade_store_command() -> None:
    """Create or upgrade the store's tables to the newest revision."""
    upgrade_store(current_app.extensions["truckguard.settings"].store_url)
    click.echo("store is at the newest revision")
