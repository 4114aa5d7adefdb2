"""Stop and release commands come from one builder: the same checks, the same validity window, the same signature."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from telematics.commands import (
    RELEASE,
    MalformedCommand,
    key_id_of,
    release_command_id,
    sign_command,
    sign_release,
    verify_command,
)
from tests.telematics.test_commands import NONCE, NOW, authorized_request

KEY = Ed25519PrivateKey.generate()
TRUSTED = {key_id_of(KEY.public_key()): KEY.public_key()}


def release(**changes: Any):
    arguments: dict[str, Any] = {"authorized_by": "officer-b", "authorized_at": "2026-11-24T09:40:00Z", "now": NOW,
                                 "nonce": NONCE, "ttl_s": 60.0} | changes
    return sign_release(arguments.pop("request_id", "sr-1"), arguments.pop("vehicle_id", "NF-101"), KEY, **arguments)


def test_a_release_is_built_and_checked_like_the_stop_it_lifts() -> None:
    checks: dict[str, Any] = {"now": NOW + timedelta(seconds=1), "vehicle_id": "NF-101", "seen_nonces": set()}
    stop = verify_command(sign_command(authorized_request(), KEY, now=NOW, ttl_s=60.0, nonce=NONCE), TRUSTED,
                          **checks).command
    lifted = verify_command(release(), TRUSTED, **checks).command
    same = ("request_id", "vehicle_id", "issued_at", "expires_at", "nonce", "key_id")
    assert [getattr(lifted, name) for name in same] == [getattr(stop, name) for name in same]
    assert (lifted.issued_at, lifted.expires_at) == ("2026-11-24T09:20:00Z", "2026-11-24T09:21:00Z")
    assert (lifted.mode, lifted.target_speed_kmh) == (RELEASE, None)
    assert lifted.command_id == release_command_id("sr-1", "NF-101", "2026-11-24T09:40:00Z", "officer-b")
    assert lifted.command_id != stop.command_id


@pytest.mark.parametrize(("changes", "field"), [
    ({"nonce": "not-hex"}, "nonce"),
    ({"vehicle_id": "V" * 65}, "vehicle_id"),
    ({"request_id": ""}, "request_id"),
    ({"ttl_s": 0.0}, "ttl_s"),
    ({"authorized_by": ""}, "authorized_by"),
    ({"now": datetime(2026, 11, 24, 9, 20)}, "now"),
])
def test_a_release_is_refused_for_what_a_stop_is_refused_for(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(MalformedCommand, match=rf"^{field}: "):
        release(**changes)


def test_a_stop_request_cannot_carry_the_release_mode() -> None:
    with pytest.raises(MalformedCommand, match=r"^mode: got 'release'"):
        sign_command(authorized_request(mode=RELEASE), KEY, now=NOW, nonce=NONCE)
