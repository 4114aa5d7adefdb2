"""Signing in and out."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask_babel import gettext

from web.accounts import LoginThrottled, authenticate
from web.audit import record
from web.auth import client_ip, public, sign_in, sign_out
from web.db import get_session

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute URL an attacker could slip in."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return url_for("alerts.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Any:
    error, status, retry_after = None, 200, None
    username = request.form.get("username", "").strip().lower()
    if request.method == "POST":
        session = get_session()
        try:
            user = authenticate(session, username, request.form.get("password", ""), client_ip(),
                                request.form.get("code", ""))
        except LoginThrottled as exc:
            user, status, retry_after = None, 429, exc.retry_after_s
            error = gettext("Sign-in refused: too many failed sign-ins from your address; try again in %(seconds)s s.",
                            seconds=exc.retry_after_s)
        else:
            if user is None:
                error, status = gettext("Unknown username, wrong password or wrong code."), 401
                record(session, username or "?", "auth.login_failed", "user", username or "?", ip=client_ip())
            else:
                record(session, user.username, "auth.login", "user", user.username, ip=client_ip())
                sign_in(user)
        session.commit()
        if user is not None:
            return redirect(_safe_next(request.args.get("next")))
    response = make_response(render_template("login.html", error=error, username=username), status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.post("/logout")
@public
def logout() -> Any:
    sign_out()
    get_session().commit()
    return redirect(url_for("auth.login"))
