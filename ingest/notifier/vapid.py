"""The site's web-push (VAPID, RFC 8292) key pair: made once in the data folder, read by the site and the notifier."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from telematics.errors import TruckguardError

KEY_FILE = Path("webpush") / "vapid_private.pem"
"""Under the data folder: the private half. Browsers tie each subscription to the public half, so replacing this
file silently ends every subscription (the push services refuse the new key's messages with 403)."""


class VapidKeyError(TruckguardError):
    """The VAPID key file exists but is not a P-256 private key; the message names the file."""


def b64url(raw: bytes) -> str:
    """Base64url without padding, as web push writes keys (RFC 8291 §3.1, RFC 8292 §3.2)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Base64url with or without padding (browsers differ) or ``+/`` (some send plain base64)."""
    text = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class VapidKeys:
    """The application server's key pair: the private key signs each push's JWT; the public key is the
    ``applicationServerKey`` a browser subscribes with."""

    private_key: ec.EllipticCurvePrivateKey
    path: Path

    @property
    def public_key(self) -> str:
        """The uncompressed P-256 point, base64url: what ``pushManager.subscribe`` takes (65 bytes, 0x04 first)."""
        point = self.private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                           serialization.PublicFormat.UncompressedPoint)
        return b64url(point)


def key_path(data_dir: Path) -> Path:
    return Path(data_dir) / KEY_FILE


def load_or_create(path: Path) -> VapidKeys:
    """The key pair at ``path``, made there (mode 0600) when missing. Made with O_EXCL: when the site and the notifier
    start together, one writes and the other reads what it wrote, so both sign with the same key."""
    for _ in range(2):
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            _create(path)
            continue
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except ValueError as exc:
            raise VapidKeyError(f"{path}: not a PEM private key ({exc}); remove it to make a new pair") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise VapidKeyError(f"{path}: expected a P-256 (secp256r1) EC private key, as RFC 8292 requires")
        return VapidKeys(key, path)
    raise VapidKeyError(f"{path}: could not be read after it was created")


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    with open(partial, "wb") as handle:  # written whole, then linked in: a reader never sees half a key
        os.chmod(partial, 0o600)
        handle.write(pem)
    try:
        os.link(partial, path)
    except FileExistsError:
        pass  # the other process was first: use its key
    finally:
        partial.unlink()


def subject(public_url: str, smtp_from: str) -> str:
    """The JWT's ``sub`` (RFC 8292 §2.1): a contact the push service can reach about our traffic, the site's https
    address when it has one, else the notifier's sender address."""
    if public_url.startswith("https://"):
        return public_url.rstrip("/")
    return f"mailto:{smtp_from}"
