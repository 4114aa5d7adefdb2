"""The REST API described as an OpenAPI 3.1 document (served at /api/openapi.json)."""

from __future__ import annotations

from typing import Any

from telematics.outputs import ALERT_KINDS, SEVERITIES, STOP_STATUSES
from web import schemas
from web.reference import ZONE_MAX_VERTICES

_JSON = "application/json"


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema or {"type": "object"}}}}


def _param(name: str, where: str = "query", schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema or {"type": "string"}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {_JSON: {"schema": schema}}}


def _op(summary: str, *, roles: str, params: list[dict[str, Any]] | None = None, body: dict[str, Any] | None = None,
        ok: dict[str, Any] | None = None, errors: tuple[int, ...] = ()) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": ok or _ok("OK"), "401": {"$ref": "#/components/responses/Error"},
                                 "403": {"$ref": "#/components/responses/Error"}}
    for code in errors:
        responses[str(code)] = {"$ref": "#/components/responses/Error"}
    op: dict[str, Any] = {"summary": summary, "description": f"Roles: {roles}.", "responses": responses}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = _body(body)
    return op


ALL = "every role (fleet roles see their fleets only)"
_LIMIT = _param("limit", schema={"type": "integer", "minimum": 1, "maximum": 1000})
_NOTE = schemas.NOTE_BODY


def openapi_document() -> dict[str, Any]:
    alert_id, request_id = _param("alert_id", "path"), _param("request_id", "path")
    kind = _param("kind", "path", {"enum": ["fleet", "vehicle", "site", "trip", "zone"]})
    return {
        "openapi": "3.1.0",
        "info": {"title": "truckguard API", "version": "1",
                 "description": "Alerts, remote-stop requests, vehicles and reference data. Authenticate with "
                                "`Authorization: Bearer <token>` (create tokens on the Account page)."},
        "security": [{"bearer": []}],
        "paths": {
            "/api/openapi.json": {"get": {"summary": "This document", "security": [],
                                          "responses": {"200": _ok("OpenAPI document")}}},
            "/api/me": {"get": _op("The calling user", roles=ALL)},
            "/api/alerts": {"get": _op("Alerts, newest first", roles=ALL, params=[
                _param("fleet_id"), _param("vehicle_id"), _param("kind", schema={"enum": list(ALERT_KINDS)}),
                _param("severity", schema={"enum": list(SEVERITIES)}),
                _param("status", schema={"enum": ["open", "acknowledged", "resolved"]}), _LIMIT], errors=(400,))},
            "/api/alerts/{alert_id}": {"get": _op("One alert with its notes", roles=ALL, params=[alert_id],
                                                  errors=(404,))},
            "/api/alerts/{alert_id}/acknowledge": {"post": _op(
                "Acknowledge an open alert", roles="fleet_operator, rental, admin", params=[alert_id], body=_NOTE,
                errors=(400, 404, 409))},
            "/api/alerts/{alert_id}/resolve": {"post": _op(
                "Resolve an alert (note required)", roles="fleet_operator, rental, admin", params=[alert_id],
                body=_NOTE, errors=(400, 404, 409))},
            "/api/stop-requests": {"get": _op("Remote-stop requests, newest first", roles=ALL, params=[
                _param("fleet_id"), _param("vehicle_id"), _param("status", schema={"enum": list(STOP_STATUSES)}),
                _LIMIT], errors=(400,))},
            "/api/stop-requests/{request_id}": {"get": _op("One stop request with its history", roles=ALL,
                                                           params=[request_id], errors=(404,))},
            "/api/stop-requests/{request_id}/approve": {"post": _op(
                "Approve: the first approval is recorded, a second by another officer authorises",
                roles="law_enforcement", params=[request_id], body=_NOTE, errors=(400, 404, 409))},
            "/api/stop-requests/{request_id}/refuse": {"post": _op(
                "Refuse, with a reason", roles="law_enforcement", params=[request_id],
                body={"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}},
                errors=(400, 404, 409))},
            "/api/map": {"get": _op("Map layers: vehicles, trips, zones, sites (GeoJSON)", roles=ALL)},
            "/api/vehicles": {"get": _op("Vehicles with last position, status and open alerts", roles=ALL)},
            "/api/reference": {"get": _op("Reference data in bundle shape (fleet.json, trips, zones)", roles=ALL)},
            "/api/reference/fleet": {"post": _op(
                "Add or replace fleets, vehicles and sites (fleet.json shape)", roles="fleet_operator, rental, admin",
                body=schemas.FLEET_DOCUMENT, errors=(400, 413))},
            "/api/reference/trips": {"post": _op("Add or replace planned trips (trips.geojson)",
                                                 roles="fleet_operator, rental, admin", body=schemas.TRIPS_DOCUMENT,
                                                 errors=(400, 413))},
            "/api/reference/zones": {"post": _op(
                "Add or replace protected zones (zones.geojson); a zone of more than "
                f"{ZONE_MAX_VERTICES} corners is simplified", roles="law_enforcement, admin",
                body=schemas.ZONES_DOCUMENT, errors=(400, 413))},
            "/api/reference/{kind}/{key}": {"delete": _op(
                "Delete one reference item", roles="fleet editors for fleet data, law_enforcement/admin for zones",
                params=[kind, _param("key", "path")], errors=(404,))},
            "/api/audit": {"get": _op("Audit log, newest first", roles=ALL, params=[
                _param("actor"), _param("action"), _param("target_id")])},
            "/api/tokens": {"get": _op("The caller's API tokens", roles=ALL),
                            "post": _op("Create an API token (shown once)", roles=ALL, body=schemas.TOKEN_BODY,
                                        errors=(400,))},
            "/api/tokens/{token_id}": {"delete": _op("Revoke one of the caller's tokens", roles=ALL, params=[
                _param("token_id", "path", {"type": "integer"})], errors=(404,))},
            "/api/users": {"get": _op("User accounts", roles="admin"),
                           "post": _op("Create a user; an officer's or administrator's answer carries the "
                                       "second factor's secret (totp_secret, totp_uri), shown once",
                                       roles="admin", body=schemas.USER_BODY, errors=(400,))},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "An error", "content": {_JSON: {"schema": {
                "type": "object", "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}}}}},
        },
    }
