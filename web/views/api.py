"""The REST API: JSON for everything the pages do, with bearer tokens or the page's session, same scope rules."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request
from sqlalchemy import select
from werkzeug.exceptions import BadRequest, HTTPException

from telematics.bundle import ReferenceDataError
from web import schemas
from web.accounts import AccountError, create_user, second_factor_note, unknown_fleets, user_summary
from web.alert_flow import AlertActionError, act, alert_detail, get_alert
from web.audit import list_audit
from web.auth import ALL_ROLES, allow, client_ip, current_scope, current_user, public, require_fleet
from web.db import get_session
from web.decision import decision_facts
from web.mapdata import map_layers, vehicles
from web.models import UserRow
from web.openapi import openapi_document
from web.passwords import WeakPassword
from web.reference import (
    ReferenceTooLarge,
    announce_change,
    fleet_document,
    put_fleet_document,
    put_trips,
    put_zones,
    trips_document,
    zones_document,
)
from web.stop_flow import StopRequestError, approve, refuse
from web.store import list_alerts, list_stop_requests, stop_request_to_dict
from web.tokens import TokenError, create_token, list_tokens, revoke_token
from web.views.alerts import ACTING_ROLES
from web.views.audit import audit_filters
from web.views.query import alert_filters, stop_request_filters
from web.views.reference import FLEET_EDITORS, ZONE_EDITORS, delete_as
from web.views.stop_requests import expiry_s, scoped_request

bp = Blueprint("api", __name__, url_prefix="/api")


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON body checked against ``schema``; a 400 naming the field otherwise."""
    try:
        return schemas.parse(request.get_data(cache=True), schema)
    except schemas.BodyError as exc:
        raise BadRequest(str(exc)) from None


def _who() -> dict[str, Any]:
    return {"actor": current_user().username, "ip": client_ip()}


def _error(status: int, message: str) -> Any:
    names = {400: "Bad Request", 404: "Not Found", 409: "Conflict", 413: "Payload Too Large"}
    response = jsonify(error=names.get(status, "Error"), message=message)
    response.status_code = status
    return response


@bp.get("/openapi.json")
@public
def openapi() -> Any:
    return jsonify(openapi_document())


@bp.get("/me")
@allow(*ALL_ROLES)
def me() -> Any:
    return jsonify(user_summary(current_user()))


@bp.get("/alerts")
@allow(*ALL_ROLES)
def alerts() -> Any:
    """``{"alerts": [...]}``, newest first; filters: fleet_id, vehicle_id, kind, severity, status, limit."""
    return jsonify(alerts=list_alerts(get_session(), scope=current_scope(), **alert_filters()))


@bp.get("/alerts/<alert_id>")
@allow(*ALL_ROLES)
def alert(alert_id: str) -> Any:
    row = get_alert(get_session(), alert_id)
    if row is None:
        abort(404)
    require_fleet(row.fleet_id)
    return jsonify(alert_detail(row))


@bp.post("/alerts/<alert_id>/<any(acknowledge, resolve):action>")
@allow(*ACTING_ROLES)
def alert_action(alert_id: str, action: str) -> Any:
    session = get_session()
    row = get_alert(session, alert_id)
    if row is None:
        abort(404)
    require_fleet(row.fleet_id)
    try:
        note = str(_body(schemas.NOTE_BODY).get("note") or "")
        act(session, row, action, current_user().username, note, ip=client_ip())
    except AlertActionError as exc:
        session.rollback()
        return _error(409, str(exc))
    session.commit()
    return jsonify(alert_detail(row))


@bp.get("/stop-requests")
@allow(*ALL_ROLES)
def stop_requests() -> Any:
    """``{"stop_requests": [...]}``, newest first; filters: fleet_id, vehicle_id, status, limit."""
    return jsonify(stop_requests=list_stop_requests(get_session(), scope=current_scope(), **stop_request_filters()))


@bp.get("/stop-requests/<request_id>")
@allow(*ALL_ROLES)
def stop_request(request_id: str) -> Any:
    """The request as the contract has it, and ``decision``: what an officer needs to decide (the decision page's
    facts: zone, distance and time to it, the alerts behind it, time left, whether events have overtaken it)."""
    row = scoped_request(request_id)
    return jsonify({**stop_request_to_dict(row), "decision": decision_facts(get_session(), row, expiry_s()).as_dict()})


@bp.post("/stop-requests/<request_id>/<any(approve, refuse):action>")
@allow("law_enforcement")
def stop_request_action(request_id: str, action: str) -> Any:
    scoped_request(request_id)
    session = get_session()
    body = _body(schemas.NOTE_BODY if action == "approve" else schemas.REFUSAL_BODY)
    try:
        if action == "approve":
            row = approve(session, request_id, current_user().username, body.get("note") or None, ip=client_ip(),
                          expiry_s=expiry_s())
        else:
            row = refuse(session, request_id, current_user().username, str(body.get("reason") or ""),
                         ip=client_ip(), expiry_s=expiry_s())
    except StopRequestError as exc:
        session.commit()  # an expiry found on the way is kept
        return _error(409, str(exc))
    session.commit()
    return jsonify(stop_request_to_dict(row))


@bp.get("/map")
@allow(*ALL_ROLES)
def map_data() -> Any:
    """Vehicles, trips, zones and sites as GeoJSON FeatureCollections."""
    return jsonify(map_layers(get_session(), current_scope()))


@bp.get("/vehicles")
@allow(*ALL_ROLES)
def vehicle_list() -> Any:
    return jsonify(vehicles=vehicles(get_session(), current_scope()))


@bp.get("/reference")
@allow(*ALL_ROLES)
def reference() -> Any:
    """The reference data in bundle shape, within the reader's fleets (zones are public)."""
    session, scope = get_session(), current_scope()
    return jsonify(fleet=fleet_document(session, scope), trips=trips_document(session, scope),
                   zones=zones_document(session))


def _change(change: Any) -> Any:
    session = get_session()
    try:
        result = change(session)
        version = announce_change(session)
    except ReferenceDataError as exc:
        session.rollback()
        return _error(413 if isinstance(exc, ReferenceTooLarge) else 400, str(exc))
    session.commit()
    return jsonify(result=result, version=version)


@bp.post("/reference/fleet")
@allow(*FLEET_EDITORS)
def put_fleet() -> Any:
    """Adds or replaces fleets, vehicles and sites from a fleet.json document."""
    return _change(lambda s: put_fleet_document(s, _body(schemas.FLEET_DOCUMENT), current_scope(), **_who()))


@bp.post("/reference/trips")
@allow(*FLEET_EDITORS)
def put_trip_collection() -> Any:
    return _change(lambda s: put_trips(s, _body(schemas.TRIPS_DOCUMENT), current_scope(), **_who()))


@bp.post("/reference/zones")
@allow(*ZONE_EDITORS)
def put_zone_collection() -> Any:
    return _change(lambda s: put_zones(s, _body(schemas.ZONES_DOCUMENT), **_who()))


@bp.delete("/reference/<any(fleet, vehicle, site, trip, zone):kind>/<key>")
@allow(*FLEET_EDITORS, "law_enforcement")
def delete_reference(kind: str, key: str) -> Any:
    version = delete_as(current_user().role, kind, key, **_who())
    if version is None:
        return _error(404, f"{kind} {key}: not found among what you may change")
    return jsonify(deleted=key, version=version)


@bp.get("/audit")
@allow(*ALL_ROLES)
def audit() -> Any:
    return jsonify(audit=list_audit(get_session(), current_scope(), **audit_filters()))


@bp.get("/tokens")
@allow(*ALL_ROLES)
def tokens() -> Any:
    return jsonify(tokens=list_tokens(get_session(), current_user()))


@bp.post("/tokens")
@allow(*ALL_ROLES)
def new_token() -> Any:
    session = get_session()
    try:
        row, token = create_token(session, current_user(), str(_body(schemas.TOKEN_BODY)["name"]), **_who())
    except TokenError as exc:
        return _error(400, str(exc))
    session.commit()
    response = jsonify(token_id=row.token_id, name=row.name, token=token)
    response.status_code = 201
    return response


@bp.delete("/tokens/<int:token_id>")
@allow(*ALL_ROLES)
def delete_token(token_id: int) -> Any:
    session = get_session()
    try:
        revoke_token(session, current_user(), token_id, **_who())
    except TokenError as exc:
        return _error(404, str(exc))
    session.commit()
    return jsonify(revoked=token_id)


@bp.get("/users")
@allow("admin")
def users() -> Any:
    rows = get_session().execute(select(UserRow).order_by(UserRow.username)).scalars()
    return jsonify(users=[user_summary(u) for u in rows])


@bp.post("/users")
@allow("admin")
def new_user() -> Any:
    body = _body(schemas.USER_BODY)
    session = get_session()
    try:
        missing = unknown_fleets(session, body.get("fleet_ids") or [])
        if missing:
            raise AccountError(f"fleet_ids: {', '.join(missing)} not in the store; create the fleet first")
        user = create_user(session, body["username"], body["password"], body["role"], body.get("fleet_ids") or [],
                           **_who())
    except (AccountError, WeakPassword) as exc:
        session.rollback()
        return _error(400, str(exc))
    session.commit()
    response = jsonify({**user_summary(user), **(second_factor_note(user) if user.totp_secret else {})})
    response.status_code = 201
    return response


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Any:
    response = jsonify(error=error.name, message=error.description)
    response.status_code = error.code or 500
    return response
