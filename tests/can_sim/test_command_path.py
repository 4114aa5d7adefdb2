"""The command path after a gateway restart and across a key rotation (issue 20): replay memory on disk and
monotonic, a signed release that lifts a stop's measures, and trusted keys with validity periods."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from can_sim.truck import DrivenTimeline, VehicleState
from can_sim.truck.clock import SimulatedClock
from can_sim.truck.command_receiver import CommandReceiver, Refusal, RemoteStopTruck
from can_sim.truck.remote_stop import BodyActuators, RemoteStopController
from can_sim.truck.replay_memory import ReplayMemory
from can_sim.truck.runner import open_virtual_bus
from ingest.command_dispatch import Dispatcher
from telematics.commands import (
    CommandEnvelope,
    VerifiedCommand,
    generate_keypair,
    load_private_key,
    load_public_keys,
    load_signing_key,
    rotate_keys,
    sign_command,
    sign_release,
)
from telematics.timeutil import format_ms
from telematics.trust_lists import TrustList

NOW = 1_795_507_200.0
VEHICLE = "SIM-001"
_nonces = (hashlib.sha256(str(n).encode()).hexdigest()[:32] for n in itertools.count())


def _request(mode: str, authorised_at: float, request_id: str = "sr-1") -> dict[str, Any]:
    return {"request_id": request_id, "vehicle_id": VEHICLE, "fleet_id": "f", "ts": format_ms(round(NOW * 1000)),
            "mode": mode, "target_speed_kmh": 20.0 if mode == "speed_limit" else None, "status": "authorized",
            "alert_ids": ["al-1"], "reason": "hijack suspected", "zone_id": None, "lat": 52.5, "lon": 13.4,
            "history": [{"status": "requested", "at": format_ms(round(NOW * 1000)), "by": "detector"},
                        {"status": "authorized", "at": format_ms(round(authorised_at * 1000)), "by": "officer-2"}]}


def _command(key: Any, mode: str, at: float, request_id: str = "sr-1") -> bytes:
    request = _request(mode, at - 1, request_id)
    signed = sign_command(request, key, now=datetime.fromtimestamp(at, UTC), nonce=next(_nonces))
    return CommandEnvelope(signed, request).encode()


def _receiver(keys: dict[str, Any], memory: ReplayMemory) -> CommandReceiver:
    bus = open_virtual_bus(f"command-path-{id(memory)}")
    controller = RemoteStopController(bus, lambda now: {"wheel_speed_kmh": 50.0}, BodyActuators())
    return CommandReceiver(VEHICLE, keys, controller, memory=memory)


def test_a_restarted_gateway_refuses_what_it_carried_out_and_anything_older(tmp_path: Path) -> None:
    pair = generate_keypair(tmp_path / "keys")
    key, trusted = load_private_key(pair.private_path), load_public_keys(pair.public_path)
    path = tmp_path / "gateway" / "memory.json"
    older = _command(key, "speed_limit", NOW - 20, "sr-0")  # signed earlier, delivered late
    first = _command(key, "speed_limit", NOW)
    before = _receiver(trusted, ReplayMemory.open(path, round(NOW * 1000)))
    assert isinstance(before.receive(first, NOW + 1), VerifiedCommand)

    after = _receiver(trusted, ReplayMemory.open(path, round((NOW + 30) * 1000)))  # the gateway restarted
    replayed = after.receive(first, NOW + 31)
    assert isinstance(replayed, Refusal) and replayed.reason == "replayed"
    assert isinstance(after.receive(_command(key, "speed_limit", NOW - 40, "sr-0"), NOW + 32), Refusal)
    assert isinstance(after.receive(older, NOW + 33), VerifiedCommand), "within the skew of the newest: in order"
    assert isinstance(after.receive(_command(key, "controlled_stop", NOW + 34, "sr-2"), NOW + 35), VerifiedCommand)


def test_a_memory_that_cannot_be_read_refuses_every_command_issued_before_the_start(tmp_path: Path) -> None:
    pair = generate_keypair(tmp_path / "keys")
    key, trusted = load_private_key(pair.private_path), load_public_keys(pair.public_path)
    path = tmp_path / "memory.json"
    path.write_text("{not json")
    receiver = _receiver(trusted, ReplayMemory.open(path, round(NOW * 1000)))
    stale = receiver.receive(_command(key, "speed_limit", NOW - 60), NOW + 1)
    assert isinstance(stale, Refusal) and stale.reason == "replayed"
    assert isinstance(receiver.receive(_command(key, "speed_limit", NOW + 2, "sr-3"), NOW + 3), VerifiedCommand)
    assert json.loads(path.read_text())["last_issued_ms"] == round((NOW + 2) * 1000), "written down again"


def test_a_signed_release_lifts_the_restart_inhibit_and_the_speed_limit(tmp_path: Path) -> None:
    pair = generate_keypair(tmp_path / "keys")
    key, trusted = load_private_key(pair.private_path), load_public_keys(pair.public_path)
    start = VehicleState(lat=52.5, lon=13.4, speed_kmh=60.0, heading_deg=90.0, ignition=True, parking_brake=False)
    timeline = DrivenTimeline(start, [(20.0, {"ignition": False, "speed_kmh": 0.0}),
                                      (25.0, {"ignition": True}), (35.0, {"speed_kmh": 60.0})])
    with RemoteStopTruck(timeline, trusted, vehicle_id=VEHICLE, clock=SimulatedClock(NOW)) as truck:
        truck.deliver(_command(key, "prevent_restart", NOW + 1, "sr-restart"), at=NOW + 1)
        truck.deliver(_command(key, "speed_limit", NOW + 2, "sr-limit"), at=NOW + 2)
        truck.run(30.0)
        assert truck.timeline.immobilised and truck.timeline.start_refused == 1
        assert truck.records[-1]["ignition"] is True and truck.records[-1]["engine_rpm"] == 0
        release = sign_release("sr-restart", VEHICLE, key, authorized_by="officer-1",
                               authorized_at=format_ms(round((NOW + 29) * 1000)),
                               now=datetime.fromtimestamp(NOW + 30, UTC), nonce=next(_nonces))
        truck.deliver(CommandEnvelope(release, {}).encode(), at=NOW + 30)
        truck.run(15.0)
    assert not truck.timeline.immobilised and truck.records[-1]["engine_rpm"] > 0
    assert truck.records[-1]["wheel_speed_kmh"] > 55, "the 20 km/h limit is lifted too"
    assert truck.controller.speed_job is None and not truck.body.restart_inhibit_armed
    assert [v.command.mode for v in truck.receiver.accepted] == ["prevent_restart", "speed_limit", "release"]


def test_a_key_rotation_leaves_no_window_where_commands_fail(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    pair = generate_keypair(keys_dir)
    installed = load_public_keys(pair.public_path)  # what the vehicle was installed with
    now = datetime.fromtimestamp(NOW, UTC)
    new, entries = rotate_keys(keys_dir, now, handover_s=3600, overlap_s=86400)
    memory_path = tmp_path / "gateway.json"
    vehicle = _receiver(installed, ReplayMemory.open(memory_path, round(NOW * 1000)))

    # before the handover the old key signs, and sends the vehicles the new trust list
    old_key, _ = load_signing_key(keys_dir, now)
    assert old_key.public_key() == installed[pair.key_id]
    dispatcher = Dispatcher(old_key)
    [trust] = dispatcher.trust_lists([VEHICLE], entries, now, lambda: next(_nonces))
    assert dispatcher.trust_lists([VEHICLE], entries, now, lambda: next(_nonces)) == [], "sent once"
    assert isinstance(vehicle.receive(_command(old_key, "speed_limit", NOW + 1), NOW + 2), VerifiedCommand)
    accepted = vehicle.receive(trust.value, NOW + 3)
    assert isinstance(accepted, TrustList) and set(accepted.keys) == {pair.key_id, new.key_id}
    # a command the old key signed a second before the handover, delivered after it: obeyed
    in_flight = _command(old_key, "controlled_stop", NOW + 3599, "sr-6")
    assert isinstance(vehicle.receive(in_flight, NOW + 3630), VerifiedCommand)

    # after the handover the new key signs, and the vehicle, restarted meanwhile, trusts it
    later = NOW + 2 * 3600
    new_key, _ = load_signing_key(keys_dir, datetime.fromtimestamp(later, UTC))
    assert new_key.public_key() == new.public_key
    restarted = _receiver(installed, ReplayMemory.open(memory_path, round(later * 1000)))
    assert isinstance(restarted.receive(_command(new_key, "speed_limit", later, "sr-5"), later + 1), VerifiedCommand)

    # once the overlap is over the old key is not trusted, whatever it signs
    retired_at = NOW + 3600 + 86400 + 60
    stale = restarted.receive(_command(old_key, "speed_limit", retired_at, "sr-7"), retired_at + 1)
    assert isinstance(stale, Refusal) and stale.reason == "forged" and "trusted from" in stale.detail
    # and a trust list from a key the vehicle never trusted is refused
    stranger = Dispatcher(load_private_key(generate_keypair(tmp_path / "other").private_path))
    [forged] = stranger.trust_lists([VEHICLE], entries, datetime.fromtimestamp(later, UTC), lambda: next(_nonces))
    refused = restarted.receive(forged.value, later + 5)
    assert isinstance(refused, Refusal) and refused.reason == "forged"
