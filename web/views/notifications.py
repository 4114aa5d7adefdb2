"""The notification settings page (channels, rules, quiet hours, duty, a test message) and the browser's feed."""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select

from ingest.notifier.channels import KINDS as CHANNEL_KINDS
from ingest.notifier.channels import Channel, DeliveryFailed, build_channels
from ingest.notifier.channels import Delivery as ChannelDelivery
from ingest.notifier.config import channel_settings, public_url
from ingest.notifier.notice import SEVERITY_RANK, trial_notice
from ingest.notifier.routing import BROWSER, MAX_TIER
from telematics.kinds import KINDS
from web.auth import ALL_ROLES, allow, client_ip, current_user
from web.db import get_session
from web.models import FleetRow, ZoneRow
from web.notification_models import NotificationRow
from web.notifications import (
    RULE_KINDS,
    NotificationInputError,
    ProfileForm,
    add_channel,
    add_rule,
    browser_notices,
    get_profile,
    latest_browser_id,
    list_channels,
    list_rules,
    own_channel,
    push_key,
    queue_browser_test,
    recent_notifications,
    record_test,
    remove_channel,
    remove_rule,
    save_profile,
)
from web.store import rfc3339

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

RETRY_S = 5.0
"""How soon an open page asks for new browser notices again: a stop request reaches the officer's open console
within this, well inside the half minute of lead time a ramming scenario gives (README)."""
KIND_LABELS = {k.kind: k.label for k in KINDS}


def _channels() -> dict[str, Channel]:
    return build_channels(channel_settings(current_app.extensions["truckguard.settings"]))


def _public_url() -> str:
    return public_url(current_app.extensions["truckguard.settings"])


def _render(status: int = 200) -> Any:
    session = get_session()
    user = current_user()
    fleets = session.execute(select(FleetRow.fleet_id, FleetRow.name).order_by(FleetRow.fleet_id)).all()
    if user.role in ("fleet_operator", "rental"):
        fleets = [f for f in fleets if f.fleet_id in (user.fleet_ids or [])]
    zones = session.execute(select(ZoneRow.zone_id, ZoneRow.name).order_by(ZoneRow.name)).all() \
        if user.role == "law_enforcement" else []
    channels = list_channels(session, user)
    return render_template(
        "notifications.html", profile=get_profile(session, user), channels=channels,
        channel_names={c.channel_id: c.label for c in channels}, rules=list_rules(session, user),
        recent=[_row_view(n) for n in recent_notifications(session, user)], fleets=fleets, zones=zones,
        channel_kinds=[k for k in CHANNEL_KINDS if k != BROWSER], rule_kinds=RULE_KINDS, kind_labels=KIND_LABELS,
        severities=list(SEVERITY_RANK), max_tier=MAX_TIER,
        escalate_after_min=current_app.extensions["truckguard.settings"].notify_escalate_after_s / 60,
        push_key=push_key(current_app.extensions["truckguard.settings"]),
    ), status


def _row_view(row: NotificationRow) -> dict[str, Any]:
    return {"created_at": rfc3339(row.created_at), "notice": row.notice, "channel_id": row.channel_id,
            "channel_kind": row.channel_kind, "sent_at": row.sent_at, "dead_at": row.dead_at,
            "last_error": row.last_error, "attempts": row.attempts}


def _fail(exc: Exception) -> Any:
    get_session().rollback()
    flash(str(exc), "error")
    return _render(400)


def _float(name: str) -> float | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise NotificationInputError(f"{name}: {raw!r}, expected a number") from None


@bp.get("")
@allow(*ALL_ROLES)
def index() -> Any:
    return _render()


@bp.post("/profile")
@allow(*ALL_ROLES)
def profile() -> Any:
    session = get_session()
    form = request.form
    try:
        save_profile(session, current_user(), ProfileForm(
            timezone=form.get("timezone", "UTC").strip() or "UTC", quiet_from=form.get("quiet_from", "").strip(),
            quiet_to=form.get("quiet_to", "").strip(), on_duty=form.get("on_duty") == "on",
            area_zone_ids=tuple(form.getlist("area_zone_ids")), area_lat=_float("area_lat"),
            area_lon=_float("area_lon"), area_radius_km=_float("area_radius_km"),
            browser=form.get("browser") == "on"), ip=client_ip())
    except NotificationInputError as exc:
        return _fail(exc)
    session.commit()
    flash(gettext("Notification settings saved."), "ok")
    return redirect(url_for("notifications.index"))


@bp.post("/channels")
@allow(*ALL_ROLES)
def create_channel() -> Any:
    session = get_session()
    try:
        row = add_channel(session, current_user(), request.form.get("kind", ""), request.form.get("label", ""),
                          request.form.get("target", ""), _channels(), ip=client_ip())
    except NotificationInputError as exc:
        return _fail(exc)
    session.commit()
    if row.kind == "webhook" and row.secret:  # a web push channel's secret is the browser's keys: not shown
        flash(gettext("Channel added. Its signing secret, for the receiver to check the webhook-signature header: "
                      "%(secret)s", secret=row.secret), "ok")
    else:
        flash(gettext("Channel added."), "ok")
    return redirect(url_for("notifications.index"))


@bp.post("/channels/<int:channel_id>/remove")
@allow(*ALL_ROLES)
def delete_channel(channel_id: int) -> Any:
    session = get_session()
    try:
        remove_channel(session, current_user(), channel_id, ip=client_ip())
    except NotificationInputError as exc:
        return _fail(exc)
    session.commit()
    flash(gettext("Channel removed."), "ok")
    return redirect(url_for("notifications.index"))


@bp.post("/channels/<int:channel_id>/test")
@allow(*ALL_ROLES)
def test_channel(channel_id: int) -> Any:
    """Sends a test message now, from the site, and says at once whether the channel took it."""
    session = get_session()
    user = current_user()
    try:
        channel = own_channel(session, user, channel_id)
    except NotificationInputError as exc:
        return _fail(exc)
    notice = trial_notice(user.username, _public_url())
    message_id = secrets.token_hex(32)
    error = None
    try:  # sent before anything is written: no store lock is held while a receiver takes its time
        _channels()[channel.kind].send(ChannelDelivery(channel.target, notice, message_id, channel.secret or ""))
    except DeliveryFailed as exc:
        error = str(exc)
    record_test(session, user, channel, notice, message_id, error)
    session.commit()
    if error:
        flash(gettext("The test message to %(label)s failed: %(error)s", label=channel.label, error=error), "error")
    else:
        flash(gettext("Test message sent to %(label)s.", label=channel.label), "ok")
    return redirect(url_for("notifications.index"))


@bp.post("/browser/test")
@allow(*ALL_ROLES)
def test_browser() -> Any:
    session = get_session()
    queue_browser_test(session, current_user(), trial_notice(current_user().username, _public_url()))
    session.commit()
    flash(gettext("Test notice queued: this page shows it within a few seconds."), "ok")
    return redirect(url_for("notifications.index"))


@bp.post("/rules")
@allow(*ALL_ROLES)
def create_rule() -> Any:
    session = get_session()
    form = request.form
    try:
        try:
            tier = int(form.get("tier", "0"))
            channel_ids = [int(c) for c in form.getlist("channel_ids")]
        except ValueError:
            raise NotificationInputError("tier and channels: expected whole numbers") from None
        add_rule(session, current_user(), fleet_id=form.get("fleet_id", "").strip() or None,
                 kinds=form.getlist("kinds"), min_severity=form.get("min_severity", "critical"), tier=tier,
                 channel_ids=channel_ids, ip=client_ip())
    except NotificationInputError as exc:
        return _fail(exc)
    session.commit()
    flash(gettext("Rule added."), "ok")
    return redirect(url_for("notifications.index"))


@bp.post("/rules/<int:rule_id>/remove")
@allow(*ALL_ROLES)
def delete_rule(rule_id: int) -> Any:
    session = get_session()
    try:
        remove_rule(session, current_user(), rule_id, ip=client_ip())
    except NotificationInputError as exc:
        return _fail(exc)
    session.commit()
    flash(gettext("Rule removed."), "ok")
    return redirect(url_for("notifications.index"))


def _after_id() -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.args.get("after", "")
    return int(raw) if raw.isdigit() else None


@bp.get("/events")
@allow(*ALL_ROLES)
def events() -> Any:
    """``text/event-stream``: the person's browser notices since the page's last event id, then the stream ends
    and the browser asks again after ``retry`` (as /events does, so an open page holds no server thread)."""
    session = get_session()
    user_id = current_user().user_id
    after = _after_id()
    rows = browser_notices(session, user_id, after)
    session.commit()
    cursor = rows[-1].notification_id if rows else (after if after is not None else latest_browser_id(session,
                                                                                                      user_id))
    parts = [f"retry: {round(RETRY_S * 1000)}\n\n"]
    for row in rows:
        notice = row.notice
        data = {"id": row.notification_id, "title": notice["title"], "summary": notice.get("summary", ""),
                "severity": row.severity, "url": notice["url"], "subject": row.subject}
        parts.append(f"id: {row.notification_id}\nevent: notice\ndata: {orjson.dumps(data).decode()}\n\n")
    parts.append(f"id: {cursor}\n\n")
    return Response("".join(parts), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.get("/notify.js")
@allow(*ALL_ROLES)
def script() -> Any:
    """The page script that shows browser notices: rendered, so its few words are in the person's language."""
    body = render_template("notifications.js", events_url=url_for("notifications.events"))
    return Response(body, mimetype="text/javascript", headers={"Cache-Control": "private, max-age=300"})
