"""Who is asking: the signed-in user (session cookie or bearer token), default-deny role checks, CSRF."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, abort, g, jsonify, redirect, request, session, url_for
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import Forbidden

from web import sessions
from web.db import get_session
from web.models import UserRow
from web.scope import ROLES, Scope
from web.tokens import user_for_token

F = TypeVar("F", bound=Callable[..., Any])

ALL_ROLES = ROLES
FLEET_DATA_ROLES = ("fleet_operator", "rental", "law_enforcement", "admin")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

csrf = CSRFProtect()


def allow(*roles: str) -> Callable[[F], F]:
    """Marks a view as open to signed-in users of these roles; a view without a mark is open to nobody."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"roles: unknown {sorted(unknown)}, expected some of {ROLES}")

    def mark(view: F) -> F:
        view.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
        return view

    return mark


def public(view: F) -> F:
    """Marks a view as open without signing in (sign-in page, health check, static files)."""
    view.public = True  # type: ignore[attr-defined]
    return view


def current_user() -> UserRow:
    return g.user


def current_scope() -> Scope:
    return g.scope


def client_ip() -> str:
    return request.remote_addr or "unknown"


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/events" or g.get("via_token", False)


def _load_user() -> None:
    g.user, g.via_token = None, False
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        user = user_for_token(get_session(), header[7:].strip())
        get_session().commit()  # last_used_at
        if user is None:
            g.bad_token = True
        g.user, g.via_token = user, True
    elif "sid" in session:
        user = sessions.user_of(get_session(), session["sid"])
        if user is not None:
            g.user = user
        else:
            session.clear()
    elif "uid" in session:
        session.clear()  # a cookie from before sessions were held on the server
    g.scope = Scope.for_role(g.user.role, g.user.fleet_ids) if g.user is not None else Scope(frozenset())


def _unauthenticated() -> Any:
    if wants_json():
        response = jsonify(error="Unauthorized", message="sign in or send a valid bearer token")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="truckguard"'
        return response
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _guard() -> Any:
    """Runs before every request: identify, then allow only what the view's mark says."""
    _load_user()
    view = request.endpoint and _APP_VIEWS().get(request.endpoint)
    if view is None:  # 404 and 405 are for Flask to answer
        return None
    if getattr(view, "public", False) or request.endpoint == "static":
        if request.method not in SAFE_METHODS:
            csrf.protect()
        return None
    if g.user is None:
        return _unauthenticated()
    roles = getattr(view, "allowed_roles", frozenset())
    if g.user.role not in roles:
        raise Forbidden(f"your role ({g.user.role}) may not use this page")
    if request.method not in SAFE_METHODS and not g.via_token:
        csrf.protect()
    return None


def _APP_VIEWS() -> dict[str, Any]:
    from flask import current_app

    return current_app.view_functions


def sign_in(user: UserRow) -> None:
    """A fresh server-held session for ``user`` (a new id defeats fixation); the caller commits."""
    sign_out()
    session.permanent = True
    session["sid"] = sessions.start(get_session(), user, client_ip())


def sign_out() -> None:
    """Ends this browser's session on the server, so a copy of its cookie is worth nothing; the caller commits."""
    if "sid" in session:
        sessions.end(get_session(), session["sid"])
    session.clear()


def current_session_digest() -> str | None:
    return sessions.digest(session["sid"]) if "sid" in session else None


def require_fleet(fleet_id: str | None) -> None:
    """404 for anything outside the user's fleets: out-of-scope items are not even admitted to exist."""
    if not current_scope().allows(fleet_id):
        abort(404)


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # _guard decides: bearer-token calls need no token
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's life
    csrf.init_app(app)
    app.before_request(_guard)
    from web import alarms

    alarms.init_app(app)  # after _guard: it needs the signed-in user
