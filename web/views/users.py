"""Administration of user accounts (administrators only)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from web.accounts import AccountError, create_user, user_summary
from web.audit import record
from web.auth import allow, client_ip, current_user
from web.db import get_session
from web.models import UserRow
from web.passwords import WeakPassword
from web.scope import ROLES

bp = Blueprint("users", __name__, url_prefix="/users")


def _render(status: int = 200, **form: Any) -> Any:
    users = get_session().execute(select(UserRow).order_by(UserRow.username)).scalars().all()
    return render_template("users.html", users=users, roles=ROLES, form=form), status


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
        create_user(session, form["username"].lower(), request.form.get("password", ""), form["role"],
                    form["fleet_ids"].split(","), actor=current_user().username, ip=client_ip())
    except (AccountError, WeakPassword) as exc:
        session.rollback()
        flash(str(exc), "error")
        return _render(400, **form)
    session.commit()
    flash(f"User {form['username']} created.", "ok")
    return redirect(url_for("users.index"))


@bp.post("/<username>/active")
@allow("admin")
def set_active(username: str) -> Any:
    session = get_session()
    user = session.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
    if user is None:
        return _render(404)
    before = user_summary(user)
    user.active = request.form.get("active") == "1"
    record(session, current_user().username, "user.activate" if user.active else "user.deactivate", "user",
           username, before=before, after=user_summary(user), ip=client_ip())
    session.commit()
    return redirect(url_for("users.index"))
