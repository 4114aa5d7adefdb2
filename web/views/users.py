"""Administration of user accounts (administrators only)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select

from web import accounts
from web.accounts import SECOND_FACTOR_ROLES, AccountError, create_user, new_second_factor, unknown_fleets
from web.auth import allow, client_ip, current_user
from web.db import get_session
from web.models import UserRow
from web.passwords import WeakPassword
from web.scope import ROLES

bp = Blueprint("users", __name__, url_prefix="/users")


def _render(status: int = 200, **form: Any) -> Any:
    users = get_session().execute(select(UserRow).order_by(UserRow.username)).scalars().all()
    return render_template("users.html", users=users, roles=ROLES, form=form,
                           second_factor_roles=SECOND_FACTOR_ROLES), status


@bp.get("")
@allow("admin")
def index() -> Any:
    return _render()


@bp.post("")
@allow("admin")
def create() -> Any:
    session = get_session()
    form = {k: request.form.get(k, "").strip() for k in ("username", "role", "fleet_ids")}
    try:
        missing = unknown_fleets(session, [f.strip() for f in form["fleet_ids"].split(",") if f.strip()])
        if missing:
            raise AccountError(f"fleet_ids: {', '.join(missing)} not in the store; create the fleet first")
        user = create_user(session, form["username"].lower(), request.form.get("password", ""), form["role"],
                           form["fleet_ids"].split(","), actor=current_user().username, ip=client_ip())
    except (AccountError, WeakPassword) as exc:
        session.rollback()
        flash(str(exc), "error")
        return _render(400, **form)
    session.commit()
    if user.totp_secret:
        flash(gettext("User %(user)s created. Hand over with the password the second-factor secret %(secret)s (to "
                      "type into an authenticator app); it is not shown again.", user=user.username,
                      secret=user.totp_secret), "ok")
    else:
        flash(gettext("User %(user)s created.", user=user.username), "ok")
    return redirect(url_for("users.index"))


@bp.post("/<username>/active")
@allow("admin")
def set_active(username: str) -> Any:
    session = get_session()
    user = session.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
    if user is None:
        return _render(404)
    accounts.set_active(session, user, request.form.get("active") == "1", actor=current_user().username, ip=client_ip())
    session.commit()
    return redirect(url_for("users.index"))


@bp.post("/<username>/second-factor")
@allow("admin")
def second_factor(username: str) -> Any:
    """A new TOTP secret (a lost or replaced phone): shown once, the old codes stop working, sessions end."""
    session = get_session()
    user = session.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
    if user is None or user.role not in SECOND_FACTOR_ROLES:
        return _render(404)
    secret = new_second_factor(session, user, actor=current_user().username, ip=client_ip())
    session.commit()
    flash(gettext("New second-factor secret for %(user)s: %(secret)s (type it into their authenticator app); it is "
                  "not shown again.", user=username, secret=secret), "ok")
    return redirect(url_for("users.index"))
