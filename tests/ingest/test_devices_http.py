"""OsmAnd and Traccar forwarding over real HTTP, and Traccar's Kafka forwarding, through the embedded broker."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request

import orjson
import pytest

from ingest.devices.directory import DeviceDirectory
from ingest.devices.traccar_kafka import TraccarKafkaOptions, run_traccar_kafka
from ingest.topics import DEADLETTER, TELEMETRY, ensure_topics
from telematics.validation import validate_record
from tests.ingest.device_helpers import TRACCAR_UNIT, VAN_PHONE, device_service, reference
from tests.ingest.kafka_helpers import produce, read_all

pytestmark = pytest.mark.slow


def _request(url: str, body: bytes | None = None, content_type: str = "application/json") -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type} if body else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _records(bootstrap: str, vehicle_id: str) -> list[dict]:
    return [r for r in (orjson.loads(v) for v in read_all(bootstrap, TELEMETRY)) if r["vehicle_id"] == vehicle_id]


def _traccar_position(ts: str, **attributes: object) -> dict:
    return {"position": {"fixTime": ts, "valid": True, "latitude": 48.85, "longitude": 2.35, "speed": 10.0,
                         "course": 90.0, "attributes": attributes},
            "device": {"uniqueId": TRACCAR_UNIT, "name": "Truck 12"}}


def test_osmand_and_traccar_http(kafka: str) -> None:
    with device_service(kafka, reference(), http=True) as service:
        osmand = f"http://127.0.0.1:{service.ports['osmand']}/"
        traccar = f"http://127.0.0.1:{service.ports['traccar']}/"
        status, _ = _request(f"{osmand}?id={VAN_PHONE}&timestamp=1764000000&lat=52.5&lon=13.4&speed=5&batt=70")
        assert status == 200
        assert _request(f"{osmand}?id=nobody&lat=52.5&lon=13.4")[0] == 403
        assert _request(f"{osmand}?id={VAN_PHONE}&lat=95&lon=13.4")[0] == 400
        assert _request(osmand, b"{" + b" " * 70_000 + b"}")[0] == 413
        body = orjson.dumps(_traccar_position("2025-11-24T16:00:00.000+00:00", ignition=True, alarm="sos"))
        assert _request(traccar, body) == (200, "OK\n")
        online = {"event": {"type": "deviceOnline", "eventTime": "2025-11-24T16:00:00Z"},
                  "device": {"uniqueId": TRACCAR_UNIT}}
        assert _request(traccar, orjson.dumps(online))[0] == 200
        assert _request(traccar, b"not json")[0] == 400
        metrics = _request(f"{osmand}metrics")[1]
        counters = service.running.counters
    van = _records(kafka, "SV-7")
    assert len(van) == 1 and van[0]["gnss_speed_kmh"] == pytest.approx(9.26) and van[0]["source"] == "osmand"
    truck = _records(kafka, "NF-12")
    assert len(truck) == 1 and truck[0]["panic"] is True and truck[0]["ignition"] is True
    for record in van + truck:
        validate_record(record)
    assert 'truckguard_device_records_accepted_total{listener="osmand"} 1' in metrics
    assert counters.rejected[("osmand", "unknown_device")] == 1
    errors = [orjson.loads(v)["error"] for v in read_all(kafka, DEADLETTER)]
    assert any(e.startswith("unknown_device") for e in errors) and any(e.startswith("invalid_record") for e in errors)


def test_traccar_kafka_forwarding(kafka: str) -> None:
    ensure_topics(kafka, 1, ("positions", "events"))
    produce(kafka, "positions", [
        orjson.dumps(_traccar_position("2025-11-24T17:00:00Z", ignition=False)),
        orjson.dumps({**_traccar_position("2025-11-24T17:00:05Z"), "device": {"uniqueId": "someone-else"}}),
        b"{broken",
    ])
    produce(kafka, "events", [orjson.dumps({
        "event": {"type": "alarm", "eventTime": "2025-11-24T17:00:07Z", "attributes": {"alarm": "jamming"}},
        "device": {"uniqueId": TRACCAR_UNIT}})])
    stop = threading.Event()
    options = TraccarKafkaOptions(traccar_bootstrap=kafka, bootstrap=kafka, commit_every_s=0.2)
    result: list = []
    thread = threading.Thread(target=lambda: result.append(
        run_traccar_kafka(options, DeviceDirectory(reference=reference()), stop)))
    thread.start()
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        records = [r for r in _records(kafka, "NF-12") if r["ts"].startswith("2025-11-24T17")]
        if len(records) == 2:
            break
        time.sleep(0.3)
    stop.set()
    thread.join(30)
    assert sorted(r["ts"] for r in records) == ["2025-11-24T17:00:00Z", "2025-11-24T17:00:07Z"]
    assert next(r for r in records if r["ts"].endswith("07Z"))["gnss_jamming"] is True
    counters = result[0]
    assert counters.rejected[("traccar-kafka", "unknown_device")] == 1
    assert counters.rejected[("traccar-kafka", "not_json")] == 1
    letters = [orjson.loads(v) for v in read_all(kafka, DEADLETTER)]
    assert any(d["topic"] == "positions" and d["offset"] >= 0 and d["error"].startswith("not_json") for d in letters)
