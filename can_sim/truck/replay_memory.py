"""The gateway's replay memory: nonces and command ids accepted, the newest issue time and the keys it trusts, on disk.

A command stays valid for minutes; a gateway that forgot on restart which ones it had carried out would carry
out a recorded one again. So every acceptance is written (atomically: a temporary file, fsync, rename) before
the command is acted on, and issue times only move forward: a command issued before the newest one accepted
(beyond the clock-skew allowance) is refused as replayed even when its nonce was forgotten. A memory file that
cannot be read is never taken as empty: the gateway then refuses every command issued before it started.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from telematics.commands import TrustedKey

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass
class ReplayMemory:
    """What a gateway has accepted; ``path`` None keeps it in memory only (tests, the offline simulator)."""

    path: Path | None = None
    seen: dict[str, int] = field(default_factory=dict)
    """Nonces and command ids accepted, with the expiry (epoch ms) after which a replay is refused as expired."""
    last_issued_ms: int | None = None
    """The newest issue time accepted, or the start time when the memory on disk could not be read."""
    trusted: dict[str, TrustedKey] | None = None
    """The platform keys of the last trust list accepted (None: the keys the gateway was installed with)."""
    trust_issued_ms: int | None = None

    @classmethod
    def open(cls, path: Path | str, now_ms: int) -> ReplayMemory:
        """The memory kept at ``path`` (a new one when there is no file yet)."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            return cls._unreadable(path, now_ms, f"cannot be read ({exc.strerror})")
        try:
            value = json.loads(raw)
            if not isinstance(value, dict) or value.get("v") != FORMAT_VERSION:
                raise ValueError(f"expected an object with v {FORMAT_VERSION}")
            seen = {str(k): int(v) for k, v in dict(value["seen"]).items()}
            last = value.get("last_issued_ms")
            trusted = None
            if value.get("trusted") is not None:
                trusted = {str(k): _trusted_from(v) for k, v in dict(value["trusted"]).items()}
            trust_issued = value.get("trust_issued_ms")
            return cls(path, seen, None if last is None else int(last), trusted,
                       None if trust_issued is None else int(trust_issued))
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            return cls._unreadable(path, now_ms, f"is not a replay memory ({exc})")

    @classmethod
    def _unreadable(cls, path: Path, now_ms: int, problem: str) -> ReplayMemory:
        log.error("%s %s: refusing every command issued before now (%d ms) so none can be replayed", path, problem,
                  now_ms)
        return cls(path, {}, now_ms)

    def __contains__(self, key: object) -> bool:
        return key in self.seen

    def remember(self, keys: tuple[str, ...], expires_ms: int, issued_ms: int | None, now_ms: int,
                 skew_ms: int) -> None:
        """Note an accepted command (or, with no ``issued_ms``, a zone set) and write the memory down before it is
        acted on."""
        for key in [k for k, until in self.seen.items() if until + skew_ms < now_ms]:
            del self.seen[key]
        for key in keys:
            self.seen[key] = expires_ms
        if issued_ms is not None and (self.last_issued_ms is None or issued_ms > self.last_issued_ms):
            self.last_issued_ms = issued_ms
        self._save()

    def trust(self, keys: dict[str, TrustedKey], issued_ms: int) -> None:
        """Trust exactly these keys from now on (a verified trust list), written down before it takes effect."""
        self.trusted, self.trust_issued_ms = dict(keys), issued_ms
        self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        value: dict[str, object] = {"v": FORMAT_VERSION, "seen": self.seen, "last_issued_ms": self.last_issued_ms,
                                    "trust_issued_ms": self.trust_issued_ms}
        if self.trusted is not None:
            value["trusted"] = {key_id: _trusted_to(key) for key_id, key in self.trusted.items()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "wb") as out:
            out.write(json.dumps(value, sort_keys=True, separators=(",", ":")).encode())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)


def _trusted_to(key: TrustedKey) -> dict[str, object]:
    raw = key.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"public_key": base64.b64encode(raw).decode(), "not_before_ms": key.not_before_ms,
            "not_after_ms": key.not_after_ms}


def _trusted_from(value: object) -> TrustedKey:
    if not isinstance(value, dict):
        raise ValueError(f"trusted key: got {type(value).__name__}, expected an object")
    public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(value["public_key"], validate=True))
    before, after = value.get("not_before_ms"), value.get("not_after_ms")
    return TrustedKey(public_key, None if before is None else int(before), None if after is None else int(after))
