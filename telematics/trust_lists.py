"""The signed trust list: the platform keys a vehicle's gateway trusts, with their validity, sent like a zone set.

After `truckguard keys rotate` the dispatcher sends every vehicle the new list, signed by a key the vehicle trusts
now; the gateway checks it exactly as a command (forged, expired, replayed, other vehicle: refused with the
reason), and from then on trusts exactly the keys listed, each for its period. So the new key is trusted on
every vehicle before it signs anything, and the old one until well after it stopped.
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

from telematics.commands import (
    DEFAULT_SKEW_S,
    ForgedCommand,
    KeyEntry,
    KeyFileError,
    MalformedCommand,
    ReplayedCommand,
    TrustedKey,
    TrustedKeys,
    WrongVehicle,
    check_validity,
    key_id_of,
    read_signed_message,
    signed_message,
    trusted_key,
)
from telematics.timeutil import TimestampError, format_ms, parse_rfc3339_ms

FORMAT_VERSION = 1
FIELDS = ("list_id", "vehicle_id", "issued_at", "expires_at", "nonce", "key_id", "keys")
DEFAULT_TTL_S = 7 * 24 * 3600.0
"""A trust list waits a week for a vehicle that is off the road; the dispatcher signs it again after half that."""
MAX_TTL_S = 30 * 24 * 3600.0
MAX_BYTES = 64 * 1024
_NONCE = re.compile(r"[0-9a-f]{32,64}", re.ASCII)


@dataclass(frozen=True, slots=True)
class SignedTrustList:
    payload: bytes
    signature: bytes

    def encode(self) -> bytes:
        """One message of the vehicle-commands topic (keyed by the vehicle id)."""
        return signed_message("trust", self.payload, self.signature)

    @classmethod
    def decode(cls, raw: bytes | str) -> SignedTrustList:
        return cls(*read_signed_message(raw, "trust", MAX_BYTES))


def is_trust_message(raw: bytes | str) -> bool:
    head = raw[:32] if isinstance(raw, bytes) else raw[:32].encode()
    return b'"trust"' in head


@dataclass(frozen=True, slots=True)
class TrustList:
    list_id: str
    vehicle_id: str
    issued_at_ms: int
    expires_at_ms: int
    nonce: str
    keys: dict[str, TrustedKey]


def _canonical(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def list_id(entries: list[KeyEntry]) -> str:
    """Names the list's content, so the dispatcher knows whether a vehicle holds it already."""
    return "tl-" + hashlib.sha256(_canonical({"keys": [_entry(e) for e in entries]})).hexdigest()[:16]


def _entry(entry: KeyEntry) -> dict[str, Any]:
    value = entry.as_dict()
    del value["signs_from"]  # when the platform signs with it is the platform's business
    return value


def sign_trust_list(vehicle_id: str, entries: list[KeyEntry], private_key: Ed25519PrivateKey, *, now: datetime,
                    nonce: str, ttl_s: float = DEFAULT_TTL_S) -> SignedTrustList:
    if not 0 < ttl_s <= MAX_TTL_S:
        raise MalformedCommand(f"ttl_s: got {ttl_s!r}, expected more than 0 and at most {MAX_TTL_S:g} s")
    if _NONCE.fullmatch(nonce) is None:
        raise MalformedCommand(f"nonce: got {nonce!r:.60}, expected 32-64 lower-case hex digits")
    if now.tzinfo is None:
        raise MalformedCommand(f"now: got naive {now.isoformat()}, expected a timezone-aware UTC datetime")
    issued_ms = math.floor(now.timestamp() * 1000)
    body = {"list_id": list_id(entries), "vehicle_id": vehicle_id, "issued_at": format_ms(issued_ms),
            "expires_at": format_ms(issued_ms + round(ttl_s * 1000)), "nonce": nonce,
            "key_id": key_id_of(private_key.public_key()), "keys": [_entry(e) for e in entries]}
    payload = _canonical(body)
    return SignedTrustList(payload, private_key.sign(payload))


def verify_trust_list(
    signed: SignedTrustList,
    public_keys: TrustedKeys,
    *,
    now: datetime,
    vehicle_id: str,
    seen_nonces: Container[str],
    held_issued_at_ms: int | None = None,
    skew_s: float = DEFAULT_SKEW_S,
) -> TrustList:
    """Check a received trust list as a command is checked (the key must be in force when it was issued and now)."""
    try:
        value = json.loads(signed.payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedCommand(f"trust.payload: not JSON ({exc})") from None
    if not isinstance(value, dict) or sorted(value) != sorted(FIELDS) or _canonical(value) != signed.payload:
        raise MalformedCommand(f"trust.payload: expected the fields {', '.join(FIELDS)} in canonical form")
    try:
        issued_ms, expires_ms = parse_rfc3339_ms(value["issued_at"]), parse_rfc3339_ms(value["expires_at"])
    except (TimestampError, TypeError) as exc:
        raise MalformedCommand(f"trust: {exc}") from None
    now_ms = math.floor(now.timestamp() * 1000)
    public_key = trusted_key(public_keys, str(value["key_id"]), issued_ms, now_ms, "trust list")
    try:
        public_key.verify(signed.signature, signed.payload)
    except InvalidSignature:
        raise ForgedCommand(f"signature: does not verify for trust list {value['list_id']} with key "
                            f"{value['key_id']}, expected a signature by that key") from None
    if value["vehicle_id"] != vehicle_id:
        raise WrongVehicle(f"vehicle_id: got {value['vehicle_id']!r}, expected {vehicle_id!r}")
    check_validity(value["issued_at"], value["expires_at"], issued_ms, expires_ms, now_ms, skew_s, MAX_TTL_S)
    if value["nonce"] in seen_nonces:
        raise ReplayedCommand(f"nonce: got {value['nonce']}, already accepted once, expected a fresh nonce")
    if held_issued_at_ms is not None and issued_ms <= held_issued_at_ms:
        raise ReplayedCommand(f"issued_at: got {value['issued_at']}, not newer than the trust list held (issued "
                              f"{format_ms(held_issued_at_ms)}), expected a newer list")
    keys: dict[str, TrustedKey] = {}
    try:
        for i, raw in enumerate(value["keys"]):
            entry = KeyEntry.from_dict({**raw, "signs_from": None}, f"trust.keys[{i}]")
            keys[entry.key_id] = entry.trusted()
    except (KeyFileError, TypeError) as exc:
        raise MalformedCommand(str(exc)) from None
    if not keys:
        raise MalformedCommand("trust.keys: got none, expected at least one key (a vehicle must trust someone)")
    return TrustList(value["list_id"], vehicle_id, issued_ms, expires_ms, value["nonce"], keys)
