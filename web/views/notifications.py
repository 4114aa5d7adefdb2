"""The notification settings page (channels, rules, quiet hours, duty, a test message) and the browser's feed."""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from ingest.notifier.channels import KINDS as CHANNEL_KINDS
from ingest.notifier.channels import Channel, DeliveryFailed, build_channels
from ingest.notifier.channels import Delivery as ChannelDelivery
from ingest.notifier.channels.posting import redact
from ingest.notifier.channels.webpush import SubscriptionError, parse_subscription
from ingest.notifier.config import channel_settings, public_url
from ingest.notifier.notice import SEVERITY_RANK, trial_notice
from ingest.notifier.routing import BROWSER, MAX_TIER
from telematics.kinds import KINDS
from web.audit import record as audit
from web.auth import ALL_ROLES, allow, client_ip, current_user
from web.db import get_session
from web.models import FleetRow, ZoneRow
from web.notification_models import NotificationChannelRow, NotificationRow
from web.notifications import (
    RULE_KINDS,
    WEBPUSH,
    NotificationInputError,
    ProfileForm,
    add_channel,
    add_push_subscription,
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


@bp.get("/push")
@allow(*ALL_ROLES)
def push_renewal() -> Any:
    """What the service worker needs when the browser rotates its subscription: the site's VAPID public key (to
    subscribe again with, in case the pair was replaced) and a CSRF token (a worker has no page to read one from).
    Same-origin only: no CORS, so another site cannot read the token."""
    return jsonify(key=push_key(current_app.extensions["truckguard.settings"]), csrf_token=generate_csrf(),
                   renew=url_for("notifications.renew_push"))


@bp.post("/push/renew")
@allow(*ALL_ROLES)
def renew_push() -> Any:
    """The service worker's ``pushsubscriptionchange``: the browser's new subscription takes the place of the old
    one's channel (found by ``old_endpoint`` among this person's web-push channels), keeping its id, name and the
    rules that name it, switched on again. Without an old endpoint, or one this person does not hold, the new
    subscription is added as a channel as the settings page adds it; an old channel left behind is switched off by
    the notifier at its push service's first 404 or 410."""
    session = get_session()
    user = current_user()
    old_endpoint = request.form.get("old_endpoint", "").strip()
    try:
        subscription = parse_subscription(request.form.get("target", ""))
    except SubscriptionError as exc:
        return jsonify(error=str(exc)), 400
    old = session.execute(select(NotificationChannelRow).where(
        NotificationChannelRow.user_id == user.user_id, NotificationChannelRow.kind == WEBPUSH,
        NotificationChannelRow.target == old_endpoint)).scalars().first() if old_endpoint else None
    if old is None:
        try:
            row = add_push_subscription(session, user, request.form.get("label", ""), request.form["target"],
                                        ip=client_ip())
        except NotificationInputError as exc:
            session.rollback()
            return jsonify(error=str(exc)), 400
        session.commit()
        return jsonify(channel_id=row.channel_id, replaced=False), 201
    # another of this person's rows already holding the new endpoint would deliver twice; another person's is
    # never touched (nobody may remove someone else's channel by naming its endpoint)
    for other in session.execute(select(NotificationChannelRow).where(
            NotificationChannelRow.user_id == user.user_id, NotificationChannelRow.kind == WEBPUSH,
            NotificationChannelRow.target == subscription.endpoint,
            NotificationChannelRow.channel_id != old.channel_id)).scalars():
        audit(session, user.username, "notifications.channel_remove", "notification_channel", str(other.channel_id),
              before={"kind": WEBPUSH, "label": other.label, "user_id": other.user_id,
                      "target": redact(other.target)}, after={"moved_to": old.channel_id}, ip=client_ip())
        session.delete(other)
    session.flush()
    audit(session, user.username, "notifications.channel_renew", "notification_channel", str(old.channel_id),
          before={"target": redact(old.target), "enabled": old.enabled},
          after={"target": redact(subscription.endpoint), "enabled": True}, ip=client_ip())
    old.target, old.secret, old.enabled = subscription.endpoint, subscription.secret, True
    session.commit()
    return jsonify(channel_id=old.channel_id, replaced=True), 200


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
