"""JSON Schemas of the bodies the site accepts, and reading a body against one: a 400 that names the field."""

from __future__ import annotations

from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from telematics.errors import BadInput
from web.reference import ZONE_REFUSED_VERTICES
from web.scope import ROLES

MAX_DEPTH = 12
"""Deepest nesting of arrays and objects in a body: a zones.geojson polygon's corner is 7 levels down."""
ID = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}
"""Ids as the data contract spells vehicle ids: letters, digits, dot, underscore, hyphen; never markup."""
TEXT = {"type": "string", "maxLength": 200}
NOTE = {"type": "string", "maxLength": 2000}
CLOCK = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"}
DAY = {"enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
NUMBER = {"type": "number"}
TIMESTAMP = {"type": "string", "maxLength": 40}
POSITION = {"type": "array", "minItems": 2, "maxItems": 3, "items": NUMBER}
WINDOW = {"type": "object", "additionalProperties": False, "required": ["from", "to"],
          "properties": {"days": {"type": "array", "maxItems": 7, "items": DAY}, "from": CLOCK, "to": CLOCK}}

FLEET = {
    "type": "object", "additionalProperties": False, "required": ["fleet_id"],
    "properties": {
        "fleet_id": ID, "name": TEXT, "kind": {"enum": ["haulier", "rental"]}, "timezone": {**TEXT, "maxLength": 64},
        "operating_hours": {"type": "object", "additionalProperties": False, "properties": {
            day: {"type": ["array", "null"], "minItems": 2, "maxItems": 2, "items": CLOCK} for day in DAY["enum"]}},
    },
}
VEHICLE = {
    "type": "object", "additionalProperties": False, "required": ["vehicle_id", "fleet_id"],
    "properties": {
        "vehicle_id": ID, "fleet_id": ID, "category": {"type": "string", "maxLength": 8},
        "plate": {"type": ["string", "null"], "maxLength": 20},
        "authorized_driver_cards": {"type": "array", "maxItems": 500, "items": {"type": "string", "maxLength": 64}},
        "device_ids": {"type": "array", "maxItems": 16, "items": {"type": "string", "maxLength": 64}},
    },
}
SITE = {
    "type": "object", "additionalProperties": False, "required": ["site_id", "fleet_id"],
    "properties": {"site_id": ID, "fleet_id": ID, "name": TEXT, "kind": {"type": "string", "maxLength": 32},
                   "lat": NUMBER, "lon": NUMBER, "radius_m": NUMBER},
}
FLEET_DOCUMENT = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "fleets": {"type": "array", "maxItems": 100, "items": FLEET},
        "vehicles": {"type": "array", "maxItems": 20_000, "items": VEHICLE},
        "sites": {"type": "array", "maxItems": 5_000, "items": SITE},
    },
}
"""20,000 vehicles: the largest European rental companies run fleets of this order per country."""


def _collection(geometry: dict[str, Any], properties: dict[str, Any], max_features: int) -> dict[str, Any]:
    feature = {"type": "object", "additionalProperties": False, "required": ["type", "geometry", "properties"],
               "properties": {"type": {"const": "Feature"}, "id": {"type": ["string", "integer"]},
                              "geometry": geometry, "properties": properties}}
    return {"type": "object", "additionalProperties": False, "required": ["type", "features"],
            "properties": {"type": {"const": "FeatureCollection"},
                           "features": {"type": "array", "maxItems": max_features, "items": feature}}}


TRIPS_DOCUMENT = _collection(
    {"type": "object", "additionalProperties": False, "required": ["type", "coordinates"],
     "properties": {"type": {"const": "LineString"},
                    "coordinates": {"type": "array", "minItems": 2, "maxItems": 20_000, "items": POSITION}}},
    {"type": "object", "additionalProperties": False, "required": ["trip_id", "vehicle_id"],
     "properties": {"trip_id": ID, "vehicle_id": ID, "driver_card_id": {"type": ["string", "null"], "maxLength": 64},
                    "planned_start": TIMESTAMP, "planned_end": TIMESTAMP, "corridor_m": NUMBER,
                    "stops": {"type": "array", "maxItems": 200, "items": {
                        "type": "object", "additionalProperties": False,
                        "properties": {"lat": NUMBER, "lon": NUMBER, "radius_m": NUMBER, "planned_arrival": TIMESTAMP,
                                       "planned_departure": TIMESTAMP, "site_id": ID, "name": TEXT}}}}},
    max_features=5_000,
)
ZONES_DOCUMENT = _collection(
    {"type": "object", "additionalProperties": False, "required": ["type", "coordinates"],
     "properties": {"type": {"const": "Polygon"},
                    "coordinates": {"type": "array", "minItems": 1, "maxItems": 50, "items": {
                        "type": "array", "minItems": 4, "maxItems": ZONE_REFUSED_VERTICES, "items": POSITION}}}},
    {"type": "object", "additionalProperties": False, "required": ["zone_id"],
     "properties": {"zone_id": ID, "name": TEXT, "kind": {"type": "string", "maxLength": 32},
                    "timezone": {**TEXT, "maxLength": 64},
                    "active": {"type": ["array", "null"], "maxItems": 50, "items": WINDOW},
                    "access": {"type": ["object", "null"], "additionalProperties": False, "properties": {
                        "categories_allowed": {"type": "array", "maxItems": 20,
                                               "items": {"type": "string", "maxLength": 8}},
                        "delivery_windows": {"type": ["array", "null"], "maxItems": 50, "items": WINDOW},
                        "max_speed_kmh": {"type": ["number", "null"]}}}}},
    max_features=500,
)
NOTE_BODY = {"type": "object", "additionalProperties": False, "properties": {"note": {"type": ["string", "null"],
                                                                                      "maxLength": 2000}}}
REFUSAL_BODY = {"type": "object", "additionalProperties": False, "required": ["reason"],
                "properties": {"reason": {**NOTE, "minLength": 1}}}
TOKEN_BODY = {"type": "object", "additionalProperties": False, "required": ["name"],
              "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100}}}
USER_BODY = {
    "type": "object", "additionalProperties": False, "required": ["username", "password", "role"],
    "properties": {"username": {"type": "string", "pattern": "^[a-z0-9._-]{1,64}$"},
                   "password": {"type": "string", "maxLength": 256}, "role": {"enum": list(ROLES)},
                   "fleet_ids": {"type": "array", "maxItems": 100, "uniqueItems": True, "items": ID}},
}

_VALIDATORS: dict[int, Draft202012Validator] = {}


class BodyError(BadInput):
    """A request body that is not what the endpoint takes; the message names the field (as a JSON path)."""


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def _path(error: ValidationError) -> str:
    path = "body"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _describe(error: ValidationError) -> str:
    """The field and what was wrong, without echoing a large value back."""
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"{_path(error)}: unknown field(s) {', '.join(map(repr, extra[:5]))}"
    if error.validator == "required":
        return f"{_path(error)}: {error.message.split(' is a required')[0]} is required"
    shown = repr(error.instance)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    expected = {"type": f"expected {error.validator_value}", "pattern": "expected letters, digits, '.', '_' or '-'",
                "maxLength": f"expected at most {error.validator_value} characters",
                "minLength": f"expected at least {error.validator_value} characters",
                "maxItems": f"expected at most {error.validator_value} items",
                "minItems": f"expected at least {error.validator_value} items",
                "enum": f"expected one of {error.validator_value}"}.get(str(error.validator), error.message[:200])
    return f"{_path(error)}: got {shown}, {expected}"


def check(value: Any, schema: dict[str, Any]) -> Any:
    """``value`` when it matches ``schema`` and nests at most MAX_DEPTH deep, else BodyError naming the field."""
    if _depth_exceeds(value, MAX_DEPTH):
        raise BodyError(f"body: nested deeper than {MAX_DEPTH} levels")
    validator = _VALIDATORS.get(id(schema))
    if validator is None:
        validator = _VALIDATORS[id(schema)] = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        raise BodyError(_describe(errors[0]))
    return value


def parse(raw: bytes, schema: dict[str, Any]) -> Any:
    """Raw JSON bytes checked against ``schema``; BodyError when they are not JSON or do not match."""
    try:
        value = orjson.loads(raw)  # refuses nesting past 1,024 levels instead of exhausting the stack
    except orjson.JSONDecodeError as exc:
        raise BodyError(f"body: not valid JSON ({exc})") from None
    return check(value, schema)
