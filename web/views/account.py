"""The signed-in user's own account: password, API tokens and the language of the site."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.exceptions import BadRequest

from web.accounts import set_password
from web.auth import ALL_ROLES, allow, client_ip, current_user, public, sign_in
from web.db import get_session
from web.i18n import LANGUAGE_COOKIE, LANGUAGE_COOKIE_AGE_S, LANGUAGES, language_of
from web.passwords import WeakPassword, verify_password
from web.preferences import set_account_language
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
    flash(gettext("Token revoked."), "ok")
    return redirect(url_for("account.index"))


@bp.post("/password")
@allow(*ALL_ROLES)
def password() -> Any:
    session = get_session()
    user = current_user()
    if not verify_password(user.password_hash, request.form.get("current", "")):
        flash(gettext("current: the current password is wrong"), "error")
        return redirect(url_for("account.index"))
    try:
        set_password(session, user, request.form.get("new", ""), actor=user.username, ip=client_ip())
    except WeakPassword as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("account.index"))
    sign_in(user)  # every session ended with the old password; this browser gets a new one
    session.commit()
    flash(gettext("Password changed; other sessions are signed out."), "ok")
    return redirect(url_for("account.index"))


def _back_to(target: str | None) -> str:
    """The page the switch was pressed on, when it is a path on this site; never an address elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return url_for("alerts.index")
    return target


@bp.post("/language")
@public
def language() -> Any:
    """The language switch of every page: kept with the account of a signed-in person, and in a cookie for this
    browser (visitors too: the toolkit and the sign-in page are public)."""
    chosen = language_of(request.form.get("language"))
    if chosen is None:
        raise BadRequest(f"language: expected one of {', '.join(LANGUAGES)}")
    user = g.get("user")
    if user is not None and not g.get("via_token", False):
        set_account_language(get_session(), user, chosen, ip=client_ip())
        get_session().commit()
    response = redirect(_back_to(request.form.get("next")))
    response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=LANGUAGE_COOKIE_AGE_S, httponly=True, samesite="Lax",
                        secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response
