"""The command dispatcher: only authorised requests become signed commands, once, even across restarts."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from can_sim.truck import DrivenTimeline, SimulatedClock, VehicleState
from can_sim.truck.command_receiver import KafkaCommandLink, RemoteStopTruck
from ingest import topics
from ingest.broker import EmbeddedBroker
from ingest.command_dispatch import VEHICLE_COMMANDS, CommandDispatch, Dispatcher, DispatchOptions
from telematics.commands import (
    CommandEnvelope,
    generate_keypair,
    key_id_of,
    load_public_keys,
    parse_command,
    verify_command,
)
from telematics.timeutil import format_ms, parse_rfc3339_ms
from tests.conftest import wait_for
from tests.ingest.kafka_helpers import produce, read_all

NOW = datetime(2026, 11, 24, 9, 20, tzinfo=UTC)


def stop_request(request_id: str, vehicle_id: str, status: str, authorized_at: datetime | None = None,
                 mode: str = "controlled_stop") -> dict[str, Any]:
    history = [{"status": "requested", "at": "2026-11-24T09:15:00Z", "by": "detector"}]
    if authorized_at is not None:
        history.append({"status": "authorized", "at": format_ms(int(authorized_at.timestamp() * 1000)),
                        "by": "officer-b", "approval": 2})
    return {
        "request_id": request_id, "vehicle_id": vehicle_id, "fleet_id": "nordfracht",
        "ts": "2026-11-24T09:15:00Z", "mode": mode, "target_speed_kmh": None, "status": status,
        "alert_ids": ["al-1"], "reason": "hijack suspected", "zone_id": None, "lat": 52.5, "lon": 13.4,
        "history": history,
    }


def nonces():
    counter = iter(range(1, 1000))
    return lambda: f"{next(counter):032x}"


def decoded(outputs) -> list[tuple[str, dict[str, Any]]]:
    return [(o.topic, json.loads(o.value)) for o in outputs]


# --- the decisions, without a broker ----------------------------------------------------------------------


def test_authorised_request_becomes_one_command_and_one_sent_status() -> None:
    key = Ed25519PrivateKey.generate()
    dispatcher = Dispatcher(key)
    request = stop_request("sr-1", "NF-101", "authorized", NOW - timedelta(seconds=20))
    outputs, rejected = dispatcher.batch([request], NOW, nonces())
    assert rejected == []
    (command_topic, envelope), (status_topic, sent) = decoded(outputs)
    assert (command_topic, status_topic) == (VEHICLE_COMMANDS, topics.STOP_REQUESTS)
    assert all(o.key == b"NF-101" for o in outputs)
    signed = CommandEnvelope.decode(outputs[0].value)
    verified = verify_command(signed.signed, {key_id_of(key.public_key()): key.public_key()}, now=NOW,
                              vehicle_id="NF-101", seen_nonces=set())
    assert sent["status"] == "sent" and sent["history"][:2] == request["history"]
    assert sent["history"][-1] == {"status": "sent", "at": verified.command.issued_at, "by": "command-dispatch",
                                   "note": f"command {verified.command.command_id}"}
    assert envelope["request"] == sent
    # seen again (re-delivery, or its own `sent` coming back): nothing more
    assert dispatcher.batch([request, sent], NOW, nonces()) == ([], [])


@pytest.mark.parametrize("status", ["requested", "refused", "expired", "cancelled"])
def test_request_not_authorised_is_never_dispatched(status: str) -> None:
    request = stop_request("sr-1", "NF-101", status, NOW if status != "requested" else None)
    assert Dispatcher(Ed25519PrivateKey.generate()).batch([request], NOW, nonces()) == ([], [])


def test_requests_already_sent_are_remembered_on_restart() -> None:
    key = Ed25519PrivateKey.generate()
    request = stop_request("sr-1", "NF-101", "authorized", NOW - timedelta(seconds=20))
    first, _ = Dispatcher(key).batch([request], NOW, nonces())
    restarted = Dispatcher(key)
    restarted.remember_request(first[1].value)
    restarted.remember_request(b"not json")
    assert restarted.batch([request], NOW, nonces()) == ([], [])


def test_authorised_then_cancelled_in_the_same_poll_is_not_dispatched() -> None:
    authorised = stop_request("sr-1", "NF-101", "authorized", NOW)
    cancelled = {**authorised, "status": "cancelled",
                 "history": [*authorised["history"], {"status": "cancelled", "at": format_ms(0), "by": "op"}]}
    assert Dispatcher(Ed25519PrivateKey.generate()).batch([authorised, cancelled], NOW, nonces()) == ([], [])


def test_stale_authorisation_is_recorded_as_expired_not_sent() -> None:
    request = stop_request("sr-1", "NF-101", "authorized", NOW - timedelta(minutes=10))
    outputs, _ = Dispatcher(Ed25519PrivateKey.generate()).batch([request], NOW, nonces())
    [(topic, expired)] = decoded(outputs)
    assert topic == topics.STOP_REQUESTS and expired["status"] == "expired"
    assert expired["history"][-1]["by"] == "command-dispatch" and "300 s" in expired["history"][-1]["note"]


def test_authorised_status_without_officer_is_rejected_not_signed() -> None:
    request = stop_request("sr-1", "NF-101", "authorized", None)
    outputs, [(rejected, error)] = Dispatcher(Ed25519PrivateKey.generate()).batch([request], NOW, nonces())
    assert outputs == [] and rejected is request and error.reason == "not_authorized"


def test_command_already_on_the_topic_is_not_sent_again() -> None:
    """A crash after the command was produced but before the offsets were committed."""
    key = Ed25519PrivateKey.generate()
    request = stop_request("sr-1", "NF-101", "authorized", NOW - timedelta(seconds=20))
    first, _ = Dispatcher(key).batch([request], NOW, nonces())
    restarted = Dispatcher(key)
    restarted.remember_command(first[0].value)
    again, _ = restarted.batch([request], NOW + timedelta(seconds=30), nonces())
    assert [o.topic for o in again] == [topics.STOP_REQUESTS]
    assert again[0].value == first[1].value  # the very same `sent` change, which history merging absorbs


# --- end to end through the embedded broker ---------------------------------------------------------------


def run_dispatch(broker: EmbeddedBroker, key_path: Path, until) -> CommandDispatch:
    dispatch = CommandDispatch(DispatchOptions(bootstrap=broker.bootstrap, private_key_path=key_path, partitions=2))
    stop = threading.Event()
    thread = threading.Thread(target=dispatch.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: until(dispatch), 40, "the dispatcher to consume the stop requests")
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()
    return dispatch


def statuses(broker: EmbeddedBroker) -> list[tuple[str, str]]:
    values = [v for v in read_all(broker.bootstrap, topics.STOP_REQUESTS) if v != b"not json"]
    return [(r["request_id"], r["status"]) for r in map(json.loads, values)]


@pytest.mark.slow
def test_dispatch_end_to_end_once_across_a_restart_and_the_truck_obeys(broker: EmbeddedBroker, tmp_path: Path) -> None:
    pair = generate_keypair(tmp_path / "keys")
    now = datetime.now(UTC)
    authorised = stop_request("sr-a", "NF-101", "authorized", now - timedelta(seconds=5))
    requested = stop_request("sr-b", "NF-102", "requested")
    topics.ensure_topics(broker.bootstrap, 2, (topics.STOP_REQUESTS, topics.DEADLETTER, VEHICLE_COMMANDS))
    produce(broker.bootstrap, topics.STOP_REQUESTS, [requested, authorised, b"not json"])

    run_dispatch(broker, pair.private_path, lambda d: d.consumed >= 4)  # three, then its own `sent`
    commands = read_all(broker.bootstrap, VEHICLE_COMMANDS)
    assert len(commands) == 1
    assert sorted(statuses(broker)) == [("sr-a", "authorized"), ("sr-a", "sent"), ("sr-b", "requested")]
    [dead] = map(json.loads, read_all(broker.bootstrap, topics.DEADLETTER))
    assert dead["raw"] == "not json" and "not JSON" in dead["error"]

    # restarted, with the authorised version delivered once more (as a web site relaying its outbox might)
    produce(broker.bootstrap, topics.STOP_REQUESTS, [authorised])
    run_dispatch(broker, pair.private_path, lambda d: d.consumed >= 1)
    assert read_all(broker.bootstrap, VEHICLE_COMMANDS) == commands
    assert sorted(statuses(broker)).count(("sr-a", "sent")) == 1

    # the truck it names receives the command from the topic, stops, and reports back on the stop-requests topic
    link = KafkaCommandLink(broker.bootstrap, "NF-101")
    try:
        received = wait_for(lambda: link.poll(timeout_ms=500), 30, "the vehicle to receive its command")
        assert received == commands
        command = parse_command(CommandEnvelope.decode(received[0]).signed.payload)
        assert command.request_id == "sr-a" and command.key_id == pair.key_id
        issued = parse_rfc3339_ms(command.issued_at) / 1000
        scenario = DrivenTimeline(VehicleState(lat=52.5, lon=13.4, speed_kmh=70.0, heading_deg=0.0,
                                               ignition=True, parking_brake=False))
        with RemoteStopTruck(scenario, load_public_keys(pair.public_path), vehicle_id="NF-101",
                             clock=SimulatedClock(start=issued), on_status=link.publish) as truck:
            truck.deliver(received[0], at=issued + 2)
            truck.run(25)
        link.commit()
    finally:
        link.close()
    assert [s for s in statuses(broker) if s[0] == "sr-a"][-2:] == [("sr-a", "acknowledged"), ("sr-a", "completed")]
    assert [e["status"] for e in truck.statuses[-1]["history"]] == [
        "requested", "authorized", "sent", "acknowledged", "completed"]


def test_zone_sets_are_signed_from_the_reference_parts_the_site_sends(broker: EmbeddedBroker, tmp_path: Path) -> None:
    # The site sends its reference data in parts (a fleet, a vehicle's trips, a zone), not as one snapshot: the
    # dispatcher must rebuild it from them, or no vehicle ever gets a zone set and no zone guard governs.
    from ingest.reference_source import split_snapshot
    from telematics.zone_sets import SignedZoneSet, is_zone_set_message, parse_zone_set
    from tests.bundles import FLEET, ZONES

    keys = generate_keypair(tmp_path / "keys")
    topics.ensure_topics(broker.bootstrap, 2)
    produce(broker.bootstrap, topics.REFERENCE,
            [{**message, "version": 3} for _part, _id, message in split_snapshot({"fleet": FLEET, "zones": ZONES})])

    def zone_sets() -> dict[str, list[str]]:
        found = {}
        for raw in read_all(broker.bootstrap, VEHICLE_COMMANDS):
            if is_zone_set_message(raw):
                value = parse_zone_set(SignedZoneSet.decode(raw).payload)
                found[value["vehicle_id"]] = sorted(f["properties"]["zone_id"] for f in value["zones"]["features"])
        return found

    run_dispatch(broker, keys.private_path, lambda _dispatch: zone_sets())
    signed = zone_sets()
    vehicles = {v["vehicle_id"] for v in FLEET["vehicles"]}
    assert set(signed) <= vehicles and signed, signed
    assert all(ids for ids in signed.values()), signed
