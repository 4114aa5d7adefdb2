"""The signed remote-stop command: canonical form, Ed25519 signing and verification, and its key files."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
import re
import stat
from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from telematics.errors import CommandRejected, ConfigurationError
from telematics.outputs import STOP_MODES, StopRequest, deterministic_id
from telematics.timeutil import TimestampError, format_ms, parse_rfc3339_ms

FORMAT_VERSION = 1
COMMAND_FIELDS = (
    "command_id", "request_id", "vehicle_id", "mode", "target_speed_kmh",
    "issued_at", "expires_at", "nonce", "key_id",
)
RELEASE = "release"
"""The command that lifts what a stop command left in force (restart inhibit, speed limit, parking brake held) once
a recovered vehicle is back in its operator's hands; authorised by an officer, like the stop."""
COMMAND_MODES = (*STOP_MODES, RELEASE)
DEFAULT_TTL_S = 120.0
"""A command not applied within two minutes of signing is refused: the situation it was meant for has moved on."""
MAX_TTL_S = 900.0
DEFAULT_SKEW_S = 30.0
"""Vehicle and platform clocks may disagree by this much (GNSS-disciplined clocks do far better)."""
MAX_ENVELOPE_BYTES = 16 * 1024
PRIVATE_KEY_NAME = "command-signing.key"
PUBLIC_KEY_NAME = "command-signing.pub"
_NONCE = re.compile(r"[0-9a-f]{32,64}", re.ASCII)
_KEY_ID = re.compile(r"[0-9a-f]{16}", re.ASCII)


class CommandError(CommandRejected):
    """A command cannot be signed or must be refused; ``reason`` is a short machine-readable word."""

    reason = "invalid"


class MalformedCommand(CommandError):
    """The command is not in the signed-command format (a field missing, of the wrong type or out of range)."""

    reason = "malformed"


class ForgedCommand(CommandError):
    """The signature does not verify, or the key that signed it is not one the vehicle trusts."""

    reason = "forged"


class ExpiredCommand(CommandError):
    """The command is past its expiry, or not valid yet (issued in the future beyond the clock-skew allowance)."""

    reason = "expired"


class ReplayedCommand(CommandError):
    """The command's nonce or command id was already accepted once."""

    reason = "replayed"


class WrongVehicle(CommandError):
    """The command names another vehicle."""

    reason = "wrong_vehicle"


class NotAuthorized(CommandError):
    """The stop request has not been authorised by law enforcement, so no command may be made of it."""

    reason = "not_authorized"


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A platform public key a vehicle trusts, for commands issued within its validity period (None: open)."""

    public_key: Ed25519PublicKey
    not_before_ms: int | None = None
    not_after_ms: int | None = None

    def valid_at(self, ms: int) -> bool:
        return (self.not_before_ms is None or ms >= self.not_before_ms) and (
            self.not_after_ms is None or ms <= self.not_after_ms)

    def describe(self) -> str:
        start = "always" if self.not_before_ms is None else format_ms(self.not_before_ms)
        end = "open-ended" if self.not_after_ms is None else format_ms(self.not_after_ms)
        return f"from {start} to {end}"


TrustedKeys = Mapping[str, "Ed25519PublicKey | TrustedKey"]
"""Key id to a trusted key: a bare public key is trusted with no time limit."""


def trusted_key(public_keys: TrustedKeys, key_id: str, issued_ms: int, now_ms: int | None = None,
                what: str = "command") -> Ed25519PublicKey:
    """The public key to verify with; ForgedCommand when the key is not trusted, or not for a message issued then
    (and, given ``now_ms``, not any more now: long-lived zone sets and trust lists need a key still in force)."""
    entry = public_keys.get(key_id)
    if entry is None:
        raise ForgedCommand(f"key_id: got {key_id!r}, expected one of the trusted keys "
                            f"({', '.join(sorted(public_keys)) or 'none configured'})")
    if not isinstance(entry, TrustedKey):
        return entry
    for at_ms, when in ((issued_ms, "issued"), (now_ms, "received")):
        if at_ms is not None and not entry.valid_at(at_ms):
            raise ForgedCommand(f"key_id: {key_id} is trusted {entry.describe()}, but the {what} was {when} at "
                                f"{format_ms(at_ms)}, expected a key in force then")
    return entry.public_key


class KeyFileError(ConfigurationError, OSError):
    """A key file is missing, unreadable, not the expected key type, or readable by others."""


@dataclass(frozen=True, slots=True)
class Command:
    """What the vehicle is told to do; every field is covered by the signature."""

    command_id: str
    request_id: str
    vehicle_id: str
    mode: str
    target_speed_kmh: float | None
    issued_at: str
    expires_at: str
    nonce: str
    key_id: str

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COMMAND_FIELDS}


@dataclass(frozen=True, slots=True)
class SignedCommand:
    """The canonical command bytes exactly as signed, and the Ed25519 signature over them."""

    payload: bytes
    signature: bytes

    def to_dict(self) -> dict[str, str]:
        return {"payload": self.payload.decode(), "signature": base64.b64encode(self.signature).decode()}

    @classmethod
    def from_dict(cls, value: Any) -> SignedCommand:
        if not isinstance(value, Mapping):
            raise MalformedCommand(f"command: got {type(value).__name__}, expected an object with payload, signature")
        payload, signature = value.get("payload"), value.get("signature")
        if not isinstance(payload, str):
            raise MalformedCommand(f"command.payload: got {payload!r:.60}, expected the canonical command as text")
        if not isinstance(signature, str):
            raise MalformedCommand(f"command.signature: got {signature!r:.60}, expected base64 text")
        try:
            raw_signature = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedCommand(f"command.signature: got {signature!r:.60}, expected base64 text") from None
        return cls(payload.encode(), raw_signature)


def signed_message(key: str, payload: bytes, signature: bytes) -> bytes:
    """One vehicle-commands message carrying signed bytes under ``key`` (``zone_set``, ``trust``):
    ``{"v": 1, key: {"payload": ..., "signature": base64}}``."""
    value = {"v": FORMAT_VERSION, key: {"payload": payload.decode(), "signature": base64.b64encode(signature).decode()}}
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode()


def read_signed_message(raw: bytes | str, key: str, max_bytes: int) -> tuple[bytes, bytes]:
    """The payload and signature of a message written by signed_message; MalformedCommand naming what is wrong."""
    what = key.replace("_", " ")
    if len(raw) > max_bytes:
        raise MalformedCommand(f"{what}: got {len(raw)} bytes, expected at most {max_bytes}")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedCommand(f"{what}: not JSON ({exc})") from None
    if not isinstance(value, dict) or value.get("v") != FORMAT_VERSION or not isinstance(value.get(key), dict):
        raise MalformedCommand(f"{what}: expected an object with v {FORMAT_VERSION} and {key}")
    payload, signature = value[key].get("payload"), value[key].get("signature")
    if not isinstance(payload, str) or not isinstance(signature, str):
        raise MalformedCommand(f"{key}: expected payload and signature as text")
    try:
        return payload.encode(), base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedCommand(f"{key}.signature: got {signature!r:.60}, expected base64 text") from None


@dataclass(frozen=True, slots=True)
class VerifiedCommand:
    """A command whose signature, key, vehicle, validity window and freshness have all been checked."""

    command: Command
    issued_at_ms: int
    expires_at_ms: int


@dataclass(frozen=True, slots=True)
class CommandEnvelope:
    """One message of the vehicle-commands topic: the signed command and the stop request it carries out.

    The request rides along, unsigned, only so that the vehicle can report status changes of it as full
    contract stop requests; the vehicle acts on the signed command alone.
    """

    signed: SignedCommand
    request: dict[str, Any]

    def encode(self) -> bytes:
        value = {"v": FORMAT_VERSION, "command": self.signed.to_dict(), "request": self.request}
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def decode(cls, raw: bytes | str) -> CommandEnvelope:
        if len(raw) > MAX_ENVELOPE_BYTES:
            raise MalformedCommand(f"envelope: got {len(raw)} bytes, expected at most {MAX_ENVELOPE_BYTES}")
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedCommand(f"envelope: not JSON ({exc})") from None
        if not isinstance(value, dict) or value.get("v") != FORMAT_VERSION:
            raise MalformedCommand(f"envelope.v: got {_peek(value, 'v')!r}, expected {FORMAT_VERSION}")
        request = value.get("request")
        if not isinstance(request, dict):
            raise MalformedCommand(f"envelope.request: got {type(request).__name__}, expected a stop request object")
        return cls(SignedCommand.from_dict(value.get("command")), request)


def _peek(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else value


# --- canonical form ---------------------------------------------------------------------------------------


def canonical_bytes(command: Command) -> bytes:
    """Sorted keys, no spaces, ASCII only: one command has exactly one byte form, so signatures are stable."""
    return json.dumps(command.as_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode()


def _check_text(name: str, value: Any, pattern: re.Pattern[str] | None = None, max_len: int = 128) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= max_len:
        raise MalformedCommand(f"{name}: got {value!r:.80}, expected text of 1 to {max_len} characters")
    if pattern is not None and pattern.fullmatch(value) is None:
        raise MalformedCommand(f"{name}: got {value!r:.80}, expected to match {pattern.pattern}")
    return value


def _check_time(name: str, value: Any) -> int:
    try:
        return parse_rfc3339_ms(value)
    except TimestampError as exc:
        raise MalformedCommand(f"{name}: {exc}") from None


def _check_target(mode: str, value: Any) -> float | None:
    if value is None:
        if mode == "speed_limit":
            raise MalformedCommand("target_speed_kmh: got None for mode speed_limit, expected a speed in km/h")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedCommand(f"target_speed_kmh: got {value!r}, expected a number of km/h or null")
    if not 0 <= value <= 130:
        raise MalformedCommand(f"target_speed_kmh: got {value!r}, expected 0 to 130 km/h")
    return float(value)


def parse_command(payload: bytes) -> Command:
    """The command in canonical bytes; raises MalformedCommand for anything else (including non-canonical bytes)."""
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedCommand(f"payload: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise MalformedCommand(f"payload: got {type(value).__name__}, expected an object")
    missing = [name for name in COMMAND_FIELDS if name not in value]
    if missing:
        raise MalformedCommand(f"payload.{missing[0]}: missing, expected every field of {', '.join(COMMAND_FIELDS)}")
    extra = sorted(set(value) - set(COMMAND_FIELDS))
    if extra:
        raise MalformedCommand(f"payload.{extra[0]}: unexpected field, expected only {', '.join(COMMAND_FIELDS)}")
    mode = value["mode"]
    if mode not in COMMAND_MODES:
        raise MalformedCommand(f"mode: got {mode!r}, expected one of {', '.join(COMMAND_MODES)}")
    command = Command(
        command_id=_check_text("command_id", value["command_id"]),
        request_id=_check_text("request_id", value["request_id"]),
        vehicle_id=_check_text("vehicle_id", value["vehicle_id"], max_len=64),
        mode=mode,
        target_speed_kmh=_check_target(mode, value["target_speed_kmh"]),
        issued_at=_check_text("issued_at", value["issued_at"]),
        expires_at=_check_text("expires_at", value["expires_at"]),
        nonce=_check_text("nonce", value["nonce"], _NONCE),
        key_id=_check_text("key_id", value["key_id"], _KEY_ID),
    )
    if canonical_bytes(command) != payload:
        raise MalformedCommand("payload: not in canonical form (sorted keys, no spaces, ASCII), expected as signed")
    return command


# --- signing and verification -----------------------------------------------------------------------------


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """A short stable name for a public key: the first 16 hex digits of SHA-256 over its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _request_fields(request: StopRequest | Mapping[str, Any]) -> tuple[str, str, str, Any, str, list[Any]]:
    if isinstance(request, StopRequest):
        history = [{"status": e.status, "at": e.at, "by": e.by} for e in request.history]
        return (request.request_id, request.vehicle_id, request.mode, request.target_speed_kmh, request.status,
                history)
    history = request.get("history") or []
    return (request.get("request_id"), request.get("vehicle_id"), request.get("mode"),  # type: ignore[return-value]
            request.get("target_speed_kmh"), request.get("status"), history if isinstance(history, list) else [])


def authorization_of(request: StopRequest | Mapping[str, Any]) -> dict[str, Any]:
    """The history entry that authorised the request; raises NotAuthorized when its latest status is not
    ``authorized`` or no entry by law enforcement says so."""
    request_id, _, _, _, status, history = _request_fields(request)
    if status != "authorized":
        raise NotAuthorized(f"request {request_id}: status is {status!r}, expected 'authorized'")
    entries = [e for e in history if isinstance(e, Mapping) and e.get("status") == "authorized"]
    if not entries or history[-1] is not entries[-1]:
        raise NotAuthorized(
            f"request {request_id}: history does not end with an 'authorized' entry, expected who and when")
    entry = dict(entries[-1])
    if not isinstance(entry.get("by"), str) or not entry["by"]:
        raise NotAuthorized(f"request {request_id}: history[-1].by: got {entry.get('by')!r}, expected the officer")
    _check_time("history[-1].at", entry.get("at"))
    return entry


def command_id_for(request: StopRequest | Mapping[str, Any]) -> str:
    """Deterministic: one authorisation of one request always gives the same command id, on every restart."""
    request_id, vehicle_id, mode, target, _, _ = _request_fields(request)
    entry = authorization_of(request)
    return deterministic_id("cmd", request_id, vehicle_id, mode, target, entry["at"], entry["by"])


def _utc_ms(now: datetime) -> int:
    if now.tzinfo is None:
        raise MalformedCommand(f"now: got naive {now.isoformat()}, expected a timezone-aware UTC datetime")
    return int(now.astimezone(UTC).timestamp() * 1000)


def sign_command(
    request: StopRequest | Mapping[str, Any],
    private_key: Ed25519PrivateKey,
    *,
    now: datetime,
    ttl_s: float = DEFAULT_TTL_S,
    nonce: str,
) -> SignedCommand:
    """Sign the command that carries out an authorised stop request; refuses any request not authorised."""
    request_id, vehicle_id, mode, target, _, _ = _request_fields(request)
    _check_ttl(ttl_s)
    issued_ms = _utc_ms(now)
    return _signed(private_key, command_id_for(request), request_id, vehicle_id, mode, STOP_MODES, target,
                   issued_ms, ttl_s, nonce)


def release_command_id(request_id: str, vehicle_id: str, authorized_at: str, authorized_by: str) -> str:
    """Deterministic, like a stop command's: one officer's release of one request is one command, on every retry."""
    return deterministic_id("cmd", request_id, vehicle_id, RELEASE, None, authorized_at, authorized_by)


def sign_release(
    request_id: str,
    vehicle_id: str,
    private_key: Ed25519PrivateKey,
    *,
    authorized_by: str,
    authorized_at: str,
    now: datetime,
    nonce: str,
    ttl_s: float = DEFAULT_TTL_S,
) -> SignedCommand:
    """Sign the release of a stop request's measures on its vehicle, authorised by ``authorized_by`` (an officer:
    the caller has checked the role) at ``authorized_at``; both are bound into the command id for the audit."""
    _check_ttl(ttl_s)
    _check_text("authorized_by", authorized_by)
    _check_time("authorized_at", authorized_at)
    issued_ms = _utc_ms(now)
    return _signed(private_key, release_command_id(request_id, vehicle_id, authorized_at, authorized_by),
                   request_id, vehicle_id, RELEASE, (RELEASE,), None, issued_ms, ttl_s, nonce)


def _check_ttl(ttl_s: float) -> None:
    if not 0 < ttl_s <= MAX_TTL_S:
        raise MalformedCommand(f"ttl_s: got {ttl_s!r}, expected more than 0 and at most {MAX_TTL_S:g} s")


def _signed(
    private_key: Ed25519PrivateKey, command_id: str, request_id: Any, vehicle_id: Any, mode: Any,
    modes: tuple[str, ...], target: Any, issued_ms: int, ttl_s: float, nonce: Any,
) -> SignedCommand:
    """The one place a Command is built and signed: each field checked (``mode`` one of ``modes``), valid for
    ``ttl_s`` from ``issued_ms``, signed by ``private_key``."""
    command = Command(
        command_id=command_id,
        request_id=_check_text("request_id", request_id),
        vehicle_id=_check_text("vehicle_id", vehicle_id, max_len=64),
        mode=mode if mode in modes else _bad_mode(mode),
        target_speed_kmh=_check_target(mode, target) if mode == "speed_limit" else None,
        issued_at=format_ms(issued_ms),
        expires_at=format_ms(issued_ms + round(ttl_s * 1000)),
        nonce=_check_text("nonce", nonce, _NONCE),
        key_id=key_id_of(private_key.public_key()),
    )
    payload = canonical_bytes(command)
    return SignedCommand(payload, private_key.sign(payload))


def _bad_mode(mode: Any) -> str:
    raise MalformedCommand(f"mode: got {mode!r}, expected one of {', '.join(STOP_MODES)}")


def check_validity(
    issued_at: str, expires_at: str, issued_ms: int, expires_ms: int, now_ms: int, skew_s: float, max_ttl_s: float
) -> None:
    """The validity window of a signed message (command, zone set, trust list): expiring after it is issued by at
    most max_ttl_s, already valid and not yet expired at now_ms, allowing skew_s either way for the clocks."""
    if not 0 < expires_ms - issued_ms <= max_ttl_s * 1000:
        raise MalformedCommand(f"expires_at: got {expires_at} for issued_at {issued_at}, "
                               f"expected after it by at most {max_ttl_s:g} s")
    skew_ms = round(skew_s * 1000)
    if now_ms + skew_ms < issued_ms:
        raise ExpiredCommand(f"issued_at: got {issued_at}, expected no later than "
                             f"{format_ms(now_ms)} + {skew_s:g} s skew (not valid yet)")
    if now_ms - skew_ms >= expires_ms:
        raise ExpiredCommand(f"expires_at: got {expires_at}, expected later than "
                             f"{format_ms(now_ms)} - {skew_s:g} s skew (expired)")


def verify_command(
    signed: SignedCommand,
    public_keys: TrustedKeys,
    *,
    now: datetime,
    vehicle_id: str,
    seen_nonces: Container[str],
    skew_s: float = DEFAULT_SKEW_S,
    not_before_ms: int | None = None,
) -> VerifiedCommand:
    """Check one received command; raises ForgedCommand, ExpiredCommand, ReplayedCommand, WrongVehicle or
    MalformedCommand. ``seen_nonces`` holds the nonces and command ids already accepted; it is not changed.
    ``not_before_ms``: the newest issue time the vehicle has accepted; a command issued more than the skew before
    it is refused as replayed (issue times only move forward, whatever the vehicle has forgotten)."""
    if len(signed.payload) > MAX_ENVELOPE_BYTES:
        raise MalformedCommand(f"payload: got {len(signed.payload)} bytes, expected at most {MAX_ENVELOPE_BYTES}")
    command = parse_command(signed.payload)
    public_key = trusted_key(public_keys, command.key_id, _check_time("issued_at", command.issued_at))
    try:
        public_key.verify(signed.signature, signed.payload)
    except InvalidSignature:
        raise ForgedCommand(f"signature: does not verify for command {command.command_id} with key "
                            f"{command.key_id}, expected a signature by that key") from None
    if command.vehicle_id != vehicle_id:
        raise WrongVehicle(f"vehicle_id: got {command.vehicle_id!r}, expected {vehicle_id!r}")
    issued_ms = _check_time("issued_at", command.issued_at)
    expires_ms = _check_time("expires_at", command.expires_at)
    check_validity(command.issued_at, command.expires_at, issued_ms, expires_ms, _utc_ms(now), skew_s, MAX_TTL_S)
    skew_ms = round(skew_s * 1000)
    if command.nonce in seen_nonces:
        raise ReplayedCommand(f"nonce: got {command.nonce}, already accepted once, expected a fresh nonce")
    if command.command_id in seen_nonces:
        raise ReplayedCommand(f"command_id: got {command.command_id}, already accepted once, expected a new one")
    if not_before_ms is not None and issued_ms + skew_ms < not_before_ms:
        raise ReplayedCommand(f"issued_at: got {command.issued_at}, before the newest command accepted (issued "
                              f"{format_ms(not_before_ms)}) by more than the {skew_s:g} s skew, expected a newer one")
    return VerifiedCommand(command, issued_ms, expires_ms)


# --- key files --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyPair:
    private_path: Path
    public_path: Path
    key_id: str


def generate_keypair(directory: Path | str) -> KeyPair:
    """Write a new Ed25519 signing key (owner-only, 0600) and its public key (0644) into ``directory``.

    An existing key is never overwritten: vehicles trust the public key, so replacing it silently would
    make every vehicle refuse the platform's commands.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_path, public_path = directory / PRIVATE_KEY_NAME, directory / PUBLIC_KEY_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"{path}: already exists, expected a directory without a signing key")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    # O_EXCL with the mode set at creation: the private key is never readable by others, not even briefly
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private_pem)
    fd = os.open(public_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(public_pem)
    return KeyPair(private_path, public_path, key_id_of(key.public_key()))


def load_private_key(path: Path | str) -> Ed25519PrivateKey:
    """The signing key; refuses a file that group or others can read."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot be read ({exc.strerror}), expected an Ed25519 private key") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path}: permissions {stat.filemode(mode)}, expected owner-only (chmod 600)")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: got a {type(key).__name__}, expected an Ed25519 private key")
    return key


def load_public_keys(*paths: Path | str) -> dict[str, Ed25519PublicKey]:
    """Trusted public keys by key id, from PEM files (a vehicle may trust the current and the next key)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for raw_path in paths:
        path = Path(raw_path)
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except OSError as exc:
            raise KeyFileError(f"{path}: cannot be read ({exc.strerror}), expected an Ed25519 public key") from None
        except ValueError as exc:
            raise KeyFileError(f"{path}: not a PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError(f"{path}: got a {type(key).__name__}, expected an Ed25519 public key")
        keys[key_id_of(key)] = key
    return keys


def new_nonce() -> str:
    """128 random bits as hex; the one impure helper, for callers that sign live."""
    return os.urandom(16).hex()


def epoch_to_datetime(t: float) -> datetime:
    """Simulator and bus time (epoch seconds) to the aware UTC datetime the functions here take."""
    return datetime.fromtimestamp(t, UTC)


# --- trusted keys and their rotation ----------------------------------------------------------------------

TRUST_FILE_NAME = "trusted-keys.json"
DEFAULT_HANDOVER_S = 24 * 3600.0
"""After a rotation the old key signs on for a day while the new trust list reaches every vehicle (a truck parked
overnight reads it when it wakes); only then does the new key sign."""
DEFAULT_OVERLAP_S = 14 * 24 * 3600.0
"""The old key stays trusted this long after the handover: a vehicle off the road for a fortnight still obeys."""


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One platform key in the trust file: trusted from ``not_before`` to ``not_after`` (None: open), used for
    signing from ``signs_from``."""

    key_id: str
    public_key: Ed25519PublicKey
    not_before_ms: int | None
    not_after_ms: int | None
    signs_from_ms: int | None

    def trusted(self) -> TrustedKey:
        return TrustedKey(self.public_key, self.not_before_ms, self.not_after_ms)

    def as_dict(self) -> dict[str, Any]:
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"key_id": self.key_id, "public_key": base64.b64encode(raw).decode(),
                "not_before": None if self.not_before_ms is None else format_ms(self.not_before_ms),
                "not_after": None if self.not_after_ms is None else format_ms(self.not_after_ms),
                "signs_from": None if self.signs_from_ms is None else format_ms(self.signs_from_ms)}

    @classmethod
    def from_dict(cls, value: Any, where: str) -> KeyEntry:
        if not isinstance(value, Mapping):
            raise KeyFileError(f"{where}: got {type(value).__name__}, expected a key entry object")
        try:
            public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(value["public_key"], validate=True))
            times = [None if value.get(name) is None else parse_rfc3339_ms(value[name])
                     for name in ("not_before", "not_after", "signs_from")]
        except (KeyError, ValueError, binascii.Error, TimestampError) as exc:
            raise KeyFileError(f"{where}: {exc!s}, expected key_id, public_key (base64), not_before, not_after, "
                               f"signs_from") from None
        if key_id_of(public_key) != value.get("key_id"):
            raise KeyFileError(f"{where}.key_id: got {value.get('key_id')!r}, expected {key_id_of(public_key)} "
                               f"(the id of its public key)")
        return cls(value["key_id"], public_key, times[0], times[1], times[2])


def load_key_entries(keys_dir: Path | str) -> list[KeyEntry]:
    """The platform's keys with their validity: the trust file when there is one, else the one signing key (trusted
    with no time limit, as `truckguard keys generate` leaves it)."""
    keys_dir = Path(keys_dir)
    trust_file = keys_dir / TRUST_FILE_NAME
    if trust_file.is_file():
        try:
            value = json.loads(trust_file.read_bytes())
        except (OSError, ValueError) as exc:
            raise KeyFileError(f"{trust_file}: cannot be read as JSON ({exc})") from None
        entries = value.get("keys") if isinstance(value, dict) else None
        if not isinstance(entries, list) or not entries:
            raise KeyFileError(f"{trust_file}: expected an object with a non-empty list of keys")
        return [KeyEntry.from_dict(entry, f"{trust_file}: keys[{i}]") for i, entry in enumerate(entries)]
    public = load_public_keys(keys_dir / PUBLIC_KEY_NAME)
    return [KeyEntry(key_id, key, None, None, None) for key_id, key in public.items()]


def private_key_path(keys_dir: Path, key_id: str, entries: list[KeyEntry]) -> Path:
    """Where a key's private half is: the first key keeps the name `keys generate` gave it, rotated ones are named
    by their id."""
    named = keys_dir / f"command-signing-{key_id}.key"
    return named if named.exists() or key_id != entries[0].key_id else keys_dir / PRIVATE_KEY_NAME


def signing_entry(entries: list[KeyEntry], now_ms: int) -> KeyEntry:
    """The key that signs at ``now_ms``: of the keys trusted now, the one whose signing began last."""
    usable = [e for e in entries if e.trusted().valid_at(now_ms) and (e.signs_from_ms or 0) <= now_ms]
    if not usable:
        raise KeyFileError(f"no key is trusted and signing at {format_ms(now_ms)}, expected one "
                           f"(run `truckguard keys rotate`)")
    return max(usable, key=lambda e: e.signs_from_ms or 0)


def load_signing_key(keys_dir: Path | str, now: datetime) -> tuple[Ed25519PrivateKey, list[KeyEntry]]:
    """The private key that signs now, and every key entry (for the vehicles' trust list)."""
    keys_dir = Path(keys_dir)
    entries = load_key_entries(keys_dir)
    entry = signing_entry(entries, _utc_ms(now))
    key = load_private_key(private_key_path(keys_dir, entry.key_id, entries))
    if key_id_of(key.public_key()) != entry.key_id:
        raise KeyFileError(f"{private_key_path(keys_dir, entry.key_id, entries)}: holds key "
                           f"{key_id_of(key.public_key())}, expected {entry.key_id}")
    return key, entries


def rotate_keys(keys_dir: Path | str, now: datetime, *, handover_s: float = DEFAULT_HANDOVER_S,
                overlap_s: float = DEFAULT_OVERLAP_S) -> tuple[KeyEntry, list[KeyEntry]]:
    """Add a new signing key with no window in which commands fail: the new key is trusted at once (the
    dispatcher sends every vehicle the new trust list, signed by the key they trust), signs from ``handover_s``
    later, and the keys before it stay trusted for ``overlap_s`` after that. Keys already retired are dropped."""
    keys_dir = Path(keys_dir)
    now_ms = _utc_ms(now)
    entries = load_key_entries(keys_dir)
    key = Ed25519PrivateKey.generate()
    key_id = key_id_of(key.public_key())
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    fd = os.open(keys_dir / f"command-signing-{key_id}.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private_pem)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    (keys_dir / f"command-signing-{key_id}.pub").write_bytes(public_pem)
    handover_ms = now_ms + round(handover_s * 1000)
    retire_ms = handover_ms + round(overlap_s * 1000)
    kept = [KeyEntry(e.key_id, e.public_key, e.not_before_ms,
                     retire_ms if e.not_after_ms is None else min(e.not_after_ms, retire_ms), e.signs_from_ms)
            for e in entries if e.not_after_ms is None or e.not_after_ms >= now_ms]
    new = KeyEntry(key_id, key.public_key(), now_ms, None, handover_ms)
    result = [*kept, new]
    document = json.dumps({"keys": [e.as_dict() for e in result]}, indent=2).encode() + b"\n"
    temporary = keys_dir / (TRUST_FILE_NAME + ".tmp")
    temporary.write_bytes(document)
    os.replace(temporary, keys_dir / TRUST_FILE_NAME)
    return new, result
