"""The signed zone set: the protected zones one vehicle's gateway guards, signed and checked like a stop command.

The platform signs, per vehicle, the zones of its operating area (contract zones.geojson features: outline,
active windows, allowed categories, delivery windows, ``max_speed_kmh``) with the Ed25519 key that signs stop
commands. The gateway refuses a set that is forged (unknown key or bad signature), expired (outside its validity
window, with the same clock-skew allowance as commands), replayed (a nonce already accepted, or not newer than
the set it holds) or meant for another vehicle, each with its reason (the reasons of telematics/commands.py),
and keeps the last valid set: it goes on guarding with it when the link is down.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from telematics.bundle import ReferenceDataError, parse_zones_document
from telematics.commands import (
    DEFAULT_SKEW_S,
    ForgedCommand,
    MalformedCommand,
    ReplayedCommand,
    TrustedKeys,
    WrongVehicle,
    check_validity,
    key_id_of,
    read_signed_message,
    signed_message,
    trusted_key,
)
from telematics.reference import Zone
from telematics.timeutil import TimestampError, format_ms, parse_rfc3339_ms

FORMAT_VERSION = 1
ZONE_SET_FIELDS = ("zone_set_id", "vehicle_id", "category", "issued_at", "expires_at", "nonce", "key_id", "zones")
DEFAULT_TTL_S = 24 * 3600.0
"""A zone set must reach the vehicle within a day of signing: a truck parked overnight reads the set sent while it
slept when it wakes. The dispatcher signs each vehicle's set again after half that (ingest/command_dispatch.py)."""
MAX_TTL_S = 7 * 24 * 3600.0
MAX_ZONE_SET_BYTES = 900 * 1024
"""Under Kafka's default 1 MB message size: about 2,000 zones of 60 vertices."""
_NONCE = re.compile(r"[0-9a-f]{32,64}", re.ASCII)
_KEY_ID = re.compile(r"[0-9a-f]{16}", re.ASCII)


@dataclass(frozen=True, slots=True)
class SignedZoneSet:
    """The canonical zone-set bytes exactly as signed, and the Ed25519 signature over them."""

    payload: bytes
    signature: bytes

    def encode(self) -> bytes:
        """One message of the vehicle-commands topic (keyed by the vehicle id)."""
        return signed_message("zone_set", self.payload, self.signature)

    @classmethod
    def decode(cls, raw: bytes | str) -> SignedZoneSet:
        return cls(*read_signed_message(raw, "zone_set", MAX_ZONE_SET_BYTES + 1024))


def is_zone_set_message(raw: bytes | str) -> bool:
    """Whether a vehicle-commands message carries a zone set (cheap: the key is near the start)."""
    head = raw[:64] if isinstance(raw, bytes) else raw[:64].encode()
    return b'"zone_set"' in head


@dataclass(frozen=True, slots=True)
class ZoneSet:
    """A verified zone set: who it is for, when it was signed, and its zones parsed as reference zones."""

    zone_set_id: str
    vehicle_id: str
    category: str | None
    issued_at_ms: int
    expires_at_ms: int
    nonce: str
    key_id: str
    zones: tuple[Zone, ...]


def _canonical(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def _utc_ms(now: datetime) -> int:
    if now.tzinfo is None:
        raise MalformedCommand(f"now: got naive {now.isoformat()}, expected a timezone-aware UTC datetime")
    return math.floor(now.timestamp() * 1000)


def zone_set_id(category: str | None, zones_document: Mapping[str, Any]) -> str:
    """Names a set's content (category and zones): the same zones signed again keep their id, a change gives a new
    one, so a dispatcher reading the topic back knows what each vehicle holds."""
    digest = hashlib.sha256(_canonical({"category": category, "zones": dict(zones_document)})).hexdigest()
    return "zs-" + digest[:16]


def sign_zone_set(
    vehicle_id: str,
    category: str | None,
    zones_document: Mapping[str, Any],
    private_key: Ed25519PrivateKey,
    *,
    now: datetime,
    nonce: str,
    ttl_s: float = DEFAULT_TTL_S,
) -> SignedZoneSet:
    """Sign one vehicle's zones (a zones.geojson FeatureCollection); the set id names its content."""
    if not 0 < ttl_s <= MAX_TTL_S:
        raise MalformedCommand(f"ttl_s: got {ttl_s!r}, expected more than 0 and at most {MAX_TTL_S:g} s")
    if _NONCE.fullmatch(nonce) is None:
        raise MalformedCommand(f"nonce: got {nonce!r:.60}, expected 32-64 lower-case hex digits")
    try:
        parse_zones_document(dict(zones_document), "zone_set.zones")
    except ReferenceDataError as exc:
        raise MalformedCommand(str(exc)) from None
    issued_ms = _utc_ms(now)
    body = {
        "vehicle_id": vehicle_id,
        "category": category,
        "issued_at": format_ms(issued_ms),
        "expires_at": format_ms(issued_ms + round(ttl_s * 1000)),
        "nonce": nonce,
        "key_id": key_id_of(private_key.public_key()),
        "zones": dict(zones_document),
    }
    body["zone_set_id"] = zone_set_id(category, zones_document)
    payload = _canonical(body)
    if len(payload) > MAX_ZONE_SET_BYTES:
        raise MalformedCommand(f"zones: {len(payload)} bytes signed, expected at most {MAX_ZONE_SET_BYTES}")
    return SignedZoneSet(payload, private_key.sign(payload))


def parse_zone_set(payload: bytes) -> dict[str, Any]:
    """The payload's fields, checked for shape and canonical form (the signature covers exactly these bytes)."""
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedCommand(f"zone_set.payload: not JSON ({exc})") from None
    if not isinstance(value, dict) or sorted(value) != sorted(ZONE_SET_FIELDS):
        fields = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise MalformedCommand(f"zone_set.payload: got {fields}, expected the fields {', '.join(ZONE_SET_FIELDS)}")
    for name in ("zone_set_id", "vehicle_id", "issued_at", "expires_at", "nonce", "key_id"):
        if not isinstance(value[name], str) or not value[name]:
            raise MalformedCommand(f"zone_set.{name}: got {value[name]!r:.60}, expected text")
    if value["category"] is not None and not isinstance(value["category"], str):
        raise MalformedCommand(f"zone_set.category: got {value['category']!r:.60}, expected text or null")
    if _NONCE.fullmatch(value["nonce"]) is None or _KEY_ID.fullmatch(value["key_id"]) is None:
        raise MalformedCommand("zone_set.nonce/key_id: expected lower-case hex digits")
    if _canonical(value) != payload:
        raise MalformedCommand("zone_set.payload: not in canonical form (sorted keys, no spaces, ASCII)")
    return value


def verify_zone_set(
    signed: SignedZoneSet,
    public_keys: TrustedKeys,
    *,
    now: datetime,
    vehicle_id: str,
    seen_nonces: Container[str],
    held_issued_at_ms: int | None = None,
    skew_s: float = DEFAULT_SKEW_S,
) -> ZoneSet:
    """Check one received zone set exactly as a command is checked; raises ForgedCommand, ExpiredCommand,
    ReplayedCommand (a nonce seen before, or a set not newer than ``held_issued_at_ms``), WrongVehicle or
    MalformedCommand."""
    if len(signed.payload) > MAX_ZONE_SET_BYTES:
        raise MalformedCommand(f"zone_set.payload: got {len(signed.payload)} bytes, expected at most "
                               f"{MAX_ZONE_SET_BYTES}")
    value = parse_zone_set(signed.payload)
    try:
        issued_ms = parse_rfc3339_ms(value["issued_at"])
    except TimestampError as exc:
        raise MalformedCommand(f"zone_set: {exc}") from None
    public_key = trusted_key(public_keys, value["key_id"], issued_ms, _utc_ms(now), "zone set")
    try:
        public_key.verify(signed.signature, signed.payload)
    except InvalidSignature:
        raise ForgedCommand(f"signature: does not verify for zone set {value['zone_set_id']} with key "
                            f"{value['key_id']}, expected a signature by that key") from None
    if value["vehicle_id"] != vehicle_id:
        raise WrongVehicle(f"vehicle_id: got {value['vehicle_id']!r}, expected {vehicle_id!r}")
    try:
        expires_ms = parse_rfc3339_ms(value["expires_at"])
    except TimestampError as exc:
        raise MalformedCommand(f"zone_set: {exc}") from None
    check_validity(value["issued_at"], value["expires_at"], issued_ms, expires_ms, _utc_ms(now), skew_s, MAX_TTL_S)
    if value["nonce"] in seen_nonces:
        raise ReplayedCommand(f"nonce: got {value['nonce']}, already accepted once, expected a fresh nonce")
    if held_issued_at_ms is not None and issued_ms <= held_issued_at_ms:
        raise ReplayedCommand(f"issued_at: got {value['issued_at']}, not newer than the zone set held (issued "
                              f"{format_ms(held_issued_at_ms)}), expected a newer set")
    try:
        zones = parse_zones_document(value["zones"], "zone_set.zones")
    except ReferenceDataError as exc:
        raise MalformedCommand(str(exc)) from None
    return ZoneSet(value["zone_set_id"], value["vehicle_id"], value["category"], issued_ms, expires_ms,
                   value["nonce"], value["key_id"], tuple(zones))


OPERATING_MARGIN_DEG = 0.3
"""A haulier's operating area: the box around its depots and its vehicle's planned routes, widened by about 30 km
(our choice: a day's detours and unplanned jobs stay well inside it)."""


def zones_for_vehicle(
    vehicle_id: str, fleet_document: Mapping[str, Any], trips_document: Mapping[str, Any],
    zones_document: Mapping[str, Any],
) -> tuple[str | None, dict[str, Any]] | None:
    """The category and the zones (a FeatureCollection) of one vehicle's zone set; None for a vehicle the fleet
    document does not list. A haulier's vehicle gets the zones of its operating area; a rental vehicle, which its
    hirer may drive anywhere, and a vehicle with no depot or route to go by, get every zone."""
    vehicle = next((v for v in fleet_document.get("vehicles") or () if isinstance(v, Mapping)
                    and v.get("vehicle_id") == vehicle_id), None)
    if vehicle is None:
        return None
    fleet_id = vehicle.get("fleet_id")
    fleet = next((f for f in fleet_document.get("fleets") or () if isinstance(f, Mapping)
                  and f.get("fleet_id") == fleet_id), {})
    features = [f for f in zones_document.get("features") or () if isinstance(f, Mapping)]
    points: list[tuple[float, float]] = []
    if fleet.get("kind") != "rental":
        for site in fleet_document.get("sites") or ():
            if isinstance(site, Mapping) and site.get("fleet_id") == fleet_id:
                points.append((float(site["lat"]), float(site["lon"])))
        for trip in trips_document.get("features") or ():
            if isinstance(trip, Mapping) and (trip.get("properties") or {}).get("vehicle_id") == vehicle_id:
                points.extend((float(lat), float(lon)) for lon, lat in trip["geometry"]["coordinates"])
    if points:
        lats, lons = [p[0] for p in points], [p[1] for p in points]
        south, north = min(lats) - OPERATING_MARGIN_DEG, max(lats) + OPERATING_MARGIN_DEG
        lon_margin = OPERATING_MARGIN_DEG / max(math.cos(math.radians((south + north) / 2)), 0.1)
        west, east = min(lons) - lon_margin, max(lons) + lon_margin

        def in_area(feature: Mapping[str, Any]) -> bool:
            ring = feature["geometry"]["coordinates"][0]
            return any(south <= lat <= north and west <= lon <= east for lon, lat in ring)

        features = [f for f in features if in_area(f)]
    category = vehicle.get("category")
    return (category if isinstance(category, str) else None,
            {"type": "FeatureCollection", "features": features})
