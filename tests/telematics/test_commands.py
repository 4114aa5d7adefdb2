"""Signed remote-stop commands: canonical form, signing, every refusal, key files."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from telematics.commands import (
    CommandEnvelope,
    ExpiredCommand,
    ForgedCommand,
    KeyFileError,
    MalformedCommand,
    NotAuthorized,
    ReplayedCommand,
    SignedCommand,
    WrongVehicle,
    canonical_bytes,
    command_id_for,
    generate_keypair,
    key_id_of,
    load_private_key,
    load_public_keys,
    parse_command,
    sign_command,
    verify_command,
)
from telematics.outputs import decode_stop_request

NOW = datetime(2026, 11, 24, 9, 20, tzinfo=UTC)
NONCE = "0123456789abcdef0123456789abcdef"


def authorized_request(mode: str = "controlled_stop", target: float | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "request_id": "sr-1", "vehicle_id": "NF-101", "fleet_id": "nordfracht", "ts": "2026-11-24T09:15:00Z",
        "mode": mode, "target_speed_kmh": target, "status": "authorized", "alert_ids": ["al-1"],
        "reason": "hijack suspected near a market", "zone_id": None, "lat": 52.5, "lon": 13.4,
        "history": [
            {"status": "requested", "at": "2026-11-24T09:15:00Z", "by": "detector"},
            {"status": "requested", "at": "2026-11-24T09:17:00Z", "by": "officer-a", "approval": 1},
            {"status": "authorized", "at": "2026-11-24T09:19:00Z", "by": "officer-b", "approval": 2},
        ],
        **extra,
    }


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def trusted(key: Ed25519PrivateKey) -> dict[str, Any]:
    return {key_id_of(key.public_key()): key.public_key()}


def sign(key: Ed25519PrivateKey, request: dict[str, Any] | None = None, **kwargs: Any) -> SignedCommand:
    options = {"now": NOW, "ttl_s": 120.0, "nonce": NONCE, **kwargs}
    return sign_command(request or authorized_request(), key, **options)


def verify(signed: SignedCommand, trusted: dict[str, Any], **kwargs: Any):
    options = {"now": NOW + timedelta(seconds=5), "vehicle_id": "NF-101", "seen_nonces": set(), **kwargs}
    return verify_command(signed, trusted, **options)


def test_signed_command_verifies_and_carries_the_request(key, trusted) -> None:
    verified = verify(sign(key), trusted)
    command = verified.command
    assert (command.request_id, command.vehicle_id, command.mode) == ("sr-1", "NF-101", "controlled_stop")
    assert command.issued_at == "2026-11-24T09:20:00Z" and command.expires_at == "2026-11-24T09:22:00Z"
    assert command.key_id == key_id_of(key.public_key()) and command.nonce == NONCE
    assert verified.expires_at_ms - verified.issued_at_ms == 120_000


def test_canonical_form_is_sorted_compact_and_stable(key) -> None:
    first, second = sign(key), sign(key)
    assert first.payload == second.payload
    assert first.payload == canonical_bytes(parse_command(first.payload))
    assert list(json.loads(first.payload)) == sorted(json.loads(first.payload))
    assert b" " not in first.payload


def test_command_id_is_deterministic_per_authorisation() -> None:
    request = authorized_request()
    assert command_id_for(request) == command_id_for(dict(request))
    assert command_id_for(request) == command_id_for(decode_stop_request(json.dumps(request)))
    other = authorized_request()
    other["history"][-1] = {**other["history"][-1], "at": "2026-11-24T09:19:30Z"}
    assert command_id_for(other) != command_id_for(request)


def test_speed_limit_needs_a_target(key, trusted) -> None:
    verified = verify(sign(key, authorized_request("speed_limit", 30)), trusted)
    assert verified.command.target_speed_kmh == 30.0
    with pytest.raises(MalformedCommand, match="target_speed_kmh"):
        sign(key, authorized_request("speed_limit", None))


@pytest.mark.parametrize("status", ["requested", "refused", "expired", "cancelled", "sent"])
def test_only_an_authorised_request_is_signed(key, status: str) -> None:
    with pytest.raises(NotAuthorized, match="status"):
        sign(key, authorized_request(status=status))


def test_authorised_status_without_an_officer_in_history_is_not_signed(key) -> None:
    request = authorized_request()
    request["history"] = request["history"][:1]
    with pytest.raises(NotAuthorized, match="history"):
        sign(key, request)


def test_signature_by_another_key_is_forged(key, trusted) -> None:
    impostor = Ed25519PrivateKey.generate()
    signed = sign(impostor)
    with pytest.raises(ForgedCommand, match="key_id"):
        verify(signed, trusted)
    # the impostor claims our key id: the signature does not verify
    payload = signed.payload.replace(key_id_of(impostor.public_key()).encode(), key_id_of(key.public_key()).encode())
    with pytest.raises(ForgedCommand, match="signature"):
        verify(SignedCommand(payload, impostor.sign(payload)), trusted)


def test_tampered_payload_is_forged(key, trusted) -> None:
    signed = sign(key, authorized_request("speed_limit", 30))
    tampered = SignedCommand(signed.payload.replace(b'"target_speed_kmh":30.0', b'"target_speed_kmh":90.0'),
                             signed.signature)
    assert tampered.payload != signed.payload
    with pytest.raises(ForgedCommand, match="signature"):
        verify(tampered, trusted)


def test_expired_and_not_yet_valid(key, trusted) -> None:
    signed = sign(key)
    with pytest.raises(ExpiredCommand, match="expires_at"):
        verify(signed, trusted, now=NOW + timedelta(seconds=151))
    verify(signed, trusted, now=NOW + timedelta(seconds=149))  # inside the 30 s clock-skew allowance
    with pytest.raises(ExpiredCommand, match="not valid yet"):
        verify(signed, trusted, now=NOW - timedelta(seconds=31))
    verify(signed, trusted, now=NOW - timedelta(seconds=29))


def test_replayed_nonce_or_command_id(key, trusted) -> None:
    first = verify(sign(key), trusted)
    with pytest.raises(ReplayedCommand, match="nonce"):
        verify(sign(key), trusted, seen_nonces={first.command.nonce})
    with pytest.raises(ReplayedCommand, match="command_id"):
        verify(sign(key, nonce="f" * 32), trusted, seen_nonces={first.command.command_id})


def test_wrong_vehicle(key, trusted) -> None:
    with pytest.raises(WrongVehicle, match="NF-102"):
        verify(sign(key), trusted, vehicle_id="NF-102")


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[]", b'{"command_id":"x"}', b'{ "command_id": "x" }'],
)
def test_malformed_payload(trusted, payload: bytes) -> None:
    with pytest.raises(MalformedCommand):
        verify(SignedCommand(payload, b"\0" * 64), trusted)


def test_non_canonical_payload_is_malformed(key, trusted) -> None:
    value = json.loads(sign(key).payload)
    spaced = json.dumps(value, sort_keys=True).encode()
    with pytest.raises(MalformedCommand, match="canonical"):
        verify(SignedCommand(spaced, key.sign(spaced)), trusted)


def test_envelope_round_trip_and_malformed(key) -> None:
    envelope = CommandEnvelope(sign(key), authorized_request())
    decoded = CommandEnvelope.decode(envelope.encode())
    assert decoded == envelope
    for raw in (b"{}", b"nope", json.dumps({"v": 1, "command": {"payload": 1}, "request": {}}).encode(),
                json.dumps({"v": 1, "command": {"payload": "x", "signature": "%%%"}, "request": {}}).encode()):
        with pytest.raises(MalformedCommand):
            CommandEnvelope.decode(raw)


def test_generate_keypair_with_restrictive_permissions(tmp_path: Path) -> None:
    pair = generate_keypair(tmp_path / "keys")
    assert stat.S_IMODE(pair.private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    private = load_private_key(pair.private_path)
    public = load_public_keys(pair.public_path)
    assert list(public) == [pair.key_id] == [key_id_of(private.public_key())]
    signed = sign(private)
    assert verify(signed, public).command.key_id == pair.key_id
    with pytest.raises(KeyFileError, match="already exists"):
        generate_keypair(tmp_path / "keys")


def test_private_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    pair = generate_keypair(tmp_path)
    pair.private_path.chmod(0o644)
    with pytest.raises(KeyFileError, match="owner-only"):
        load_private_key(pair.private_path)
    with pytest.raises(KeyFileError, match="public key"):
        load_public_keys(pair.private_path)
