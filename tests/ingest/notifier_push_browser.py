"""What a browser holds for a web-push subscription (its P-256 key pair, the auth secret), for the web-push tests:
the subscription JSON a page sends, decrypting a pushed message as the browser does, and checking its VAPID header."""

from __future__ import annotations

import json
import os
import time

import http_ece
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ingest.notifier.vapid import b64url, b64url_decode


class Browser:
    """One browser profile's push keys."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    def keys(self) -> dict[str, str]:
        point = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
        return {"p256dh": b64url(point), "auth": b64url(self.auth)}

    def subscription(self, endpoint: str) -> str:
        """As ``JSON.stringify(pushSubscription)`` gives it."""
        return json.dumps({"endpoint": endpoint, "expirationTime": None, "keys": self.keys()})

    def decrypt(self, body: bytes) -> dict:
        return json.loads(http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"))


def verify_vapid(authorization: str, audience: str, public_key: str) -> dict:
    """Checks the ``vapid t=JWT,k=KEY`` header as a push service does (RFC 8292 §3): the expected key, ES256 over
    the JWT, the audience, an expiry within 24 hours. Returns the claims."""
    scheme, _, params = authorization.partition(" ")
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    assert scheme == "vapid" and parts["k"] == public_key
    header_b64, claims_b64, signature_b64 = parts["t"].split(".")
    assert json.loads(b64url_decode(header_b64)) == {"typ": "JWT", "alg": "ES256"}
    signature = b64url_decode(signature_b64)
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(parts["k"]))
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        pytest.fail("the VAPID JWT's signature does not verify with the key it names")
    claims = json.loads(b64url_decode(claims_b64))
    assert claims["aud"] == audience and time.time() < claims["exp"] <= time.time() + 24 * 3600
    return claims
