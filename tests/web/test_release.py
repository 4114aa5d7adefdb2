"""Releasing a recovered vehicle from its stop (issue 17): two different officers with a reason each, a signed
release command queued for the vehicle on the second approval, ``released`` on the pages and the API while the
contract status stays; and the vehicle page with its devices and driver."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from can_sim.truck import DrivenTimeline, VehicleState
from can_sim.truck.clock import SimulatedClock
from can_sim.truck.command_receiver import CommandReceiver, RemoteStopTruck
from can_sim.truck.remote_stop import BodyActuators, RemoteStopController
from can_sim.truck.runner import open_virtual_bus
from ingest.command_dispatch import Dispatcher
from ingest.kafka_clients import make_producer, read_to_end
from ingest.topics import REFERENCE, STOP_REQUESTS, VEHICLE_COMMANDS, ensure_topics
from telematics.commands import (
    CommandEnvelope,
    VerifiedCommand,
    generate_keypair,
    load_public_keys,
    load_signing_key,
    new_nonce,
)
from telematics.settings import Settings
from telematics.timeutil import format_ms
from tests.web.people import csrf_token, signed_in
from tests.web.samples import alert, stop_request
from web import create_app
from web.db import get_engine
from web.migrate import upgrade_store
from web.models import AuditRow, OutboxRow
from web.reference import announce_change, put_fleet_document, put_trips
from web.scope import Scope
from web.stop_flow import ReleaseUnavailable, approve_release, release_of
from web.store import upsert_alert, upsert_stop_request
from workers.outbox_relay import relay

FLEET = {
    "fleets": [{"fleet_id": "nordfracht", "name": "Nordfracht", "kind": "haulier", "timezone": "Europe/Berlin",
                "operating_hours": {"mon": ["05:00", "21:00"]}}],
    "vehicles": [{"vehicle_id": "NF-101", "fleet_id": "nordfracht", "category": "N3", "plate": "B-NF 101",
                  "authorized_driver_cards": ["DE0000012345"], "device_ids": ["356307042441013", "TRK-101"]}],
}
TRIP = {"type": "FeatureCollection", "features": [{
    "type": "Feature", "geometry": {"type": "LineString", "coordinates": [[13.4, 52.5], [13.5, 52.6]]},
    "properties": {"trip_id": "trip-101", "vehicle_id": "NF-101", "driver_card_id": "DE0000012345",
                   "planned_start": "2026-11-24T08:00:00Z", "planned_end": "2026-11-24T12:00:00Z",
                   "corridor_m": 500}}]}
STOPPED = [{"status": "requested", "at": "2026-11-24T09:16:00Z", "by": "detector"},
           {"status": "requested", "at": "2026-11-24T09:16:30Z", "by": "officer1", "approval": 1},
           {"status": "authorized", "at": "2026-11-24T09:17:00Z", "by": "officer2"},
           {"status": "sent", "at": "2026-11-24T09:17:01Z", "by": "command-dispatch"},
           {"status": "acknowledged", "at": "2026-11-24T09:17:02Z", "by": "vehicle:NF-101"},
           {"status": "completed", "at": "2026-11-24T09:18:30Z", "by": "vehicle:NF-101"}]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The web tests' settings with the platform's command-signing key, as `truckguard keys generate` makes it."""
    generate_keypair(tmp_path / "keys")
    return Settings(data_dir=tmp_path / "data", command_keys_dir=tmp_path / "keys")


def _store(app: Flask, *, status: str = "completed", history: list[dict[str, Any]] | None = None) -> None:
    with app.app_context(), Session(get_engine()) as session, session.begin():
        put_fleet_document(session, FLEET, Scope(None), actor="test")
        put_trips(session, TRIP, Scope(None), actor="test")
        announce_change(session)
        upsert_alert(session, alert(alert_id="al-driver", kind="unauthorized_driver", severity="critical",
                                    evidence={"driver_card_id": "PL0000098765", "summary": "card not authorised"}))
        upsert_stop_request(session, stop_request(status=status, history=STOPPED if history is None else history))


def _release(client: FlaskClient, reason: str = "truck recovered at the depot, checked by the haulier") -> Any:
    return client.post("/stop-requests/sr-0001/release", data={"reason": reason, "csrf_token": csrf_token(client)})


def _outbox(app: Flask, topic: str) -> list[OutboxRow]:
    with app.app_context(), Session(get_engine()) as session:
        return list(session.execute(select(OutboxRow).where(OutboxRow.topic == topic)
                                    .order_by(OutboxRow.message_id)).scalars())


def test_two_officers_release_a_stopped_truck_and_its_signed_release_is_queued(app: Flask, settings: Settings) -> None:
    _store(app)
    first = signed_in(app, "officer1", "law_enforcement")
    second = signed_in(app, "officer2", "law_enforcement")
    page = first.get("/stop-requests/sr-0001").get_data(as_text=True)
    assert 'id="release-form"' in page and "Approve the release (first of two)" in page

    _release(first, "  ")
    assert "a release needs a reason" in first.get("/stop-requests/sr-0001").get_data(as_text=True)
    assert _release(first).status_code == 303
    facts = first.get("/api/stop-requests/sr-0001").get_json()
    assert facts["status"] == "completed", "the contract status stays"
    assert facts["decision"]["release"]["pending_approval_by"] == "officer1"
    assert not facts["decision"]["release"]["released"]

    _release(first)  # the same officer again: refused, nothing signed
    assert "a second officer must approve the release" in first.get("/stop-requests/sr-0001").get_data(as_text=True)
    assert _outbox(app, VEHICLE_COMMANDS) == []

    assert _release(second, "owner has the keys back; vehicle inspected").status_code == 303
    [queued] = _outbox(app, VEHICLE_COMMANDS)
    assert queued.key == "NF-101" and queued.lane == "stop"
    envelope = CommandEnvelope.decode(json.dumps(queued.value))
    bus = open_virtual_bus("release-test-receiver")
    try:
        receiver = CommandReceiver("NF-101", load_public_keys(settings.keys_dir / "command-signing.pub"),
                                   RemoteStopController(bus, lambda now: {"wheel_speed_kmh": 0.0}, BodyActuators()))
        verified = receiver.receive(envelope.encode(), time.time())
    finally:
        bus.shutdown()
    assert isinstance(verified, VerifiedCommand) and verified.command.mode == "release"
    assert verified.command.request_id == "sr-0001"

    api = first.get("/api/stop-requests/sr-0001").get_json()
    assert api["status"] == "completed"
    steps = [(h["status"], h["by"]) for h in api["history"]][-2:]
    assert steps == [("release_approved", "officer1"), ("released", "officer2")]
    release = api["decision"]["release"]
    assert release["released"] and release["released_by"] == ["officer1", "officer2"]
    assert release["command_id"] == verified.command.command_id and not release["releasable"]
    published = [row.value for row in _outbox(app, STOP_REQUESTS)]
    assert published[-1]["status"] == "completed" and published[-1]["history"][-1]["status"] == "released"

    page = first.get("/stop-requests/sr-0001").get_data(as_text=True)
    assert 'id="release-form"' not in page and "release approved 1 of 2</strong> by officer1" in page
    assert "released</strong> by officer2" in page and verified.command.command_id in page
    listing = first.get("/stop-requests").get_data(as_text=True)
    assert "badge-released" in listing
    _release(second, "again")
    assert "already released" in second.get("/stop-requests/sr-0001").get_data(as_text=True)
    assert len(_outbox(app, VEHICLE_COMMANDS)) == 1

    with app.app_context(), Session(get_engine()) as session:
        audit = [(r.action, r.actor, (r.after or {}).get("step")) for r in session.execute(
            select(AuditRow).where(AuditRow.target_id == "sr-0001", AuditRow.action.like("%release%"))
            .order_by(AuditRow.audit_id)).scalars()]
    assert audit == [("stop_request.release_approve", "officer1", "release approved 1 of 2"),
                     ("stop_request.released", "officer2", "released")]


def test_an_operator_or_an_administrator_cannot_release_nor_a_request_never_sent(app: Flask) -> None:
    _store(app, status="requested", history=STOPPED[:1])
    for username, role, fleets in (("op1", "fleet_operator", ("nordfracht",)), ("admin1", "admin", ())):
        assert _release(signed_in(app, username, role, fleets)).status_code == 403
    officer = signed_in(app, "officer1", "law_enforcement")
    assert 'id="release-form"' not in officer.get("/stop-requests/sr-0001").get_data(as_text=True)
    _release(officer)
    assert "only a request whose command was sent" in officer.get("/stop-requests/sr-0001").get_data(as_text=True)
    assert _outbox(app, VEHICLE_COMMANDS) == []


def test_the_vehicle_page_shows_its_devices_its_driver_and_its_stop_requests(app: Flask) -> None:
    _store(app)
    page = signed_in(app, "officer1", "law_enforcement").get("/vehicles/NF-101").get_data(as_text=True)
    devices = page[page.index('id="vehicle-devices"'):]
    assert devices.index("356307042441013, TRK-101") < devices.index("</dd>")
    driver = page[page.index('id="vehicle-driver"'):]
    driver = driver[:driver.index("</dd>")]
    assert "card PL0000098765, reported at" in driver and "planned card DE0000012345" in driver
    assert "/stop-requests/sr-0001" in page


def _authorised(request_id: str, vehicle_id: str, at_ms: int) -> dict[str, Any]:
    stamp = format_ms(at_ms)
    return stop_request(request_id=request_id, vehicle_id=vehicle_id, mode="prevent_restart", status="authorized",
                        history=[{"status": "requested", "at": stamp, "by": "detector"},
                                 {"status": "requested", "at": stamp, "by": "officer1", "approval": 1},
                                 {"status": "authorized", "at": stamp, "by": "officer2"}])


@pytest.mark.slow
def test_two_approvals_reach_the_immobilised_truck_through_the_broker_and_it_drives_again(
        tmp_path: Path, broker: str) -> None:
    keys = tmp_path / "keys"
    generate_keypair(keys)
    settings = Settings(data_dir=tmp_path / "data", command_keys_dir=keys, bootstrap_servers=broker)
    upgrade_store(settings.store_url)
    app = create_app(settings, testing=True)
    ensure_topics(broker, 1, (STOP_REQUESTS, VEHICLE_COMMANDS, REFERENCE))
    # The truck's bus clock runs 40 s behind the wall clock, so the 30 s it drives here end before the officers'
    # release is signed (a command may not come from the future beyond the 30 s clock skew).
    start = time.time() - 40
    timeline = DrivenTimeline(VehicleState(lat=52.5, lon=13.4, speed_kmh=50.0, heading_deg=90.0, ignition=True,
                                           parking_brake=False),
                              [(10.0, {"ignition": False, "speed_kmh": 0.0}), (20.0, {"ignition": True}),
                               (30.0, {"speed_kmh": 40.0})])
    trusted = load_public_keys(keys / "command-signing.pub")
    with RemoteStopTruck(timeline, trusted, vehicle_id="NF-101", clock=SimulatedClock(start)) as truck:
        # the stop as `truckguard dispatch` signs it, obeyed: the engine does not start again
        dispatcher = Dispatcher(load_signing_key(keys, datetime.now(UTC))[0])
        outputs, _ = dispatcher.batch([_authorised("sr-0001", "NF-101", round(start * 1000))],
                                      datetime.fromtimestamp(start + 1, UTC), new_nonce)
        command, sent = outputs
        truck.deliver(command.value, at=start + 1)
        truck.run(30.0)
        assert truck.timeline.immobilised and truck.records[-1]["engine_rpm"] == 0
        _store(app, status="authorized", history=[])
        with app.app_context(), Session(get_engine()) as session, session.begin():
            for change in [json.loads(sent.value), *truck.statuses]:
                upsert_stop_request(session, change)

        first = signed_in(app, "officer1", "law_enforcement")
        second = signed_in(app, "officer2", "law_enforcement")
        operator = signed_in(app, "op1", "fleet_operator", ("nordfracht",))
        assert _release(operator).status_code == 403
        _release(first)
        with app.app_context():
            producer = make_producer(broker, "release-test")
            try:
                relay(get_engine(), producer)  # the first approval alone: nothing for the vehicle
                _release(second, "vehicle recovered by the police and handed back to the haulier")
                relay(get_engine(), producer)
            finally:
                producer.close()
        # everything on the topic for this vehicle, from its start (as the gateway's link would read it, without a
        # consumer group's join): one command, the release; the first approval alone sent nothing
        [release] = [m.value for m in read_to_end(broker, VEHICLE_COMMANDS) if m.key == b"NF-101"]
        truck.deliver(release)
        truck.run(10.0)
    assert [v.command.mode for v in truck.receiver.accepted] == ["prevent_restart", "release"]
    assert not truck.receiver.refusals
    assert not truck.timeline.immobilised and truck.records[-1]["engine_rpm"] > 0, "the engine starts again"


def test_a_first_release_approval_lapses_and_a_site_without_the_signing_key_records_nothing(
        app: Flask, tmp_path: Path) -> None:
    _store(app)
    now = datetime.now(UTC)
    with app.app_context(), Session(get_engine()) as session:
        row, state = approve_release(session, "sr-0001", "officer1", "recovered", keys_dir=tmp_path / "no-keys",
                                     window_s=900, now=now)
        assert state.pending_by == "officer1" and not state.done
        session.commit()
        assert release_of(row.history, 900, now + timedelta(seconds=901)).pending_by is None, "lapsed"
        with pytest.raises(ReleaseUnavailable, match="command-signing key is not usable here"):
            approve_release(session, "sr-0001", "officer2", "recovered", keys_dir=tmp_path / "no-keys",
                            window_s=900, now=now + timedelta(seconds=60))
        session.rollback()  # as the page does: nothing of the second approval is kept
        # lapsed: the next officer's approval is a first approval again, and signs nothing
        row, state = approve_release(session, "sr-0001", "officer2", "recovered", keys_dir=tmp_path / "no-keys",
                                     window_s=900, now=now + timedelta(seconds=901))
        assert state.pending_by == "officer2"
        assert [(e["status"], e["by"]) for e in row.history[-3:]] == [
            ("completed", "vehicle:NF-101"), ("release_approved", "officer1"), ("release_approved", "officer2")]
        session.rollback()
