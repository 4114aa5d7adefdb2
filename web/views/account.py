"""The signed-in user's own account: password and API tokens."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from web.accounts import set_password
from web.auth import ALL_ROLES, allow, client_ip, current_user, sign_in
from web.db import get_session
from web.passwords import WeakPassword, verify_password
from web.tokens import TokenError, create_token, list_tokens, revoke_token

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.get("")
@allow(*ALL_ROLES)
def index() -> Any:
    return render_template("account.html", tokens=list_tokens(get_session(), current_user()), new_token=None)


@bp.post("/tokens")
@allow(*ALL_ROLES)
def create() -> Any:
    session = get_session()
    try:
        _row, token = create_token(session, current_user(), request.form.get("name", ""),
                                   actor=current_user().username, ip=client_ip())
    except TokenError as exc:
        flash(str(exc), "error")
        return render_template("account.html", tokens=list_tokens(session, current_user()), new_token=None), 400
    session.commit()
    return render_template("account.html", tokens=list_tokens(session, current_user()), new_token=token), 201


@bp.post("/tokens/<int:token_id>/revoke")
@allow(*ALL_ROLES)
def revoke(token_id: int) -> Any:
    session = get_session()
    try:
        revoke_token(session, current_user(), token_id, actor=current_user().username, ip=client_ip())
    except TokenError as exc:
        flash(str(exc), "error")
        return redirect(url_for("account.index"))
    session.commit()
    flash("Token revoked.", "ok")
    return redirect(url_for("account.index"))


@bp.post("/password")
@allow(*ALL_ROLES)
def password() -> Any:
    session = get_session()
    user = current_user()
    if not verify_password(user.password_hash, request.form.get("current", "")):
        flash("current: the current password is wrong", "error")
        return redirect(url_for("account.index"))
    try:
        set_password(session, user, request.form.get("new", ""), actor=user.username, ip=client_ip())
    except WeakPassword as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("account.index"))
    sign_in(user)  # every session ended with the old password; this browser gets a new one
    session.commit()
    flash("Password changed; other sessions are signed out.", "ok")
    return redirect(url_for("account.index"))
