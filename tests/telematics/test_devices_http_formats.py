"""OsmAnd requests and Traccar forwarded positions and events as contract records."""

from __future__ import annotations

import orjson
import pytest

from telematics.devices.osmand import osmand_reports
from telematics.devices.telemetry import DeviceMessageError, device_seq
from telematics.devices.traccar import decode_forward
from telematics.validation import validate_record

RECEIVED_MS = 1_764_000_000_000


def test_osmand_query_of_traccar_client() -> None:
    query = {"id": "van-7", "timestamp": "1764000000", "lat": "52.5163", "lon": "13.3777", "speed": "10",
             "bearing": "370", "altitude": "34.5", "accuracy": "4.2", "batt": "81", "ignition": "true",
             "charge": "false"}
    (report,) = osmand_reports(query, b"", "", RECEIVED_MS)
    record = report.to_record("SV-7")
    assert report.device_id == "van-7"
    assert record["ts"] == "2025-11-24T16:00:00Z"
    assert record["gnss_speed_kmh"] == pytest.approx(18.52)  # 10 knots
    assert record["heading_deg"] == pytest.approx(10.0)
    assert record["gnss_accuracy_m"] == pytest.approx(4.2)
    assert record["ignition"] is True and record["battery_pct"] == 81
    assert record["attributes"] == {"charge": "false"}
    assert record["source"] == "osmand" and record["seq"] == device_seq(RECEIVED_MS)
    validate_record(record)


def test_osmand_form_body_location_and_millisecond_time() -> None:
    body = b"deviceid=van-7&timestamp=1764000000250&location=52.5,13.4&valid=true&alarm=sos"
    (report,) = osmand_reports({}, body, "application/x-www-form-urlencoded", RECEIVED_MS)
    record = report.to_record("SV-7")
    assert record["ts"] == "2025-11-24T16:00:00.250Z"
    assert (record["lat"], record["lon"]) == (52.5, 13.4)
    assert record["panic"] is True and record["alarm"] == "sos"


def test_osmand_invalid_fix_keeps_no_position() -> None:
    (report,) = osmand_reports({"id": "van-7", "lat": "52.5", "lon": "13.4", "valid": "false", "speed": "3"}, b"",
                               "", RECEIVED_MS)
    record = report.to_record("SV-7")
    assert record["gnss_fix"] is False and "lat" not in record and "gnss_speed_kmh" not in record
    assert record["ts"] == "2025-11-24T16:00:00Z"  # no timestamp: taken as of arrival


def test_osmand_json_body_of_current_traccar_client() -> None:
    body = orjson.dumps({
        "device_id": "phone-42",
        "location": {
            "timestamp": "2025-11-24T16:00:05.120Z",
            "coords": {"latitude": 52.51, "longitude": 13.38, "accuracy": 6.0, "speed": 5.0, "heading": -1,
                       "altitude": 40.0},
            "is_moving": True, "odometer": 12_345.0, "battery": {"level": 0.64, "is_charging": False},
        },
    })
    (report,) = osmand_reports({}, body, "application/json", RECEIVED_MS)
    record = report.to_record("SV-8")
    assert record["gnss_speed_kmh"] == pytest.approx(18.0)  # 5 m/s
    assert "heading_deg" not in record  # -1: the phone does not know
    assert record["battery_pct"] == pytest.approx(64.0) and record["odometer_km"] == pytest.approx(12.345)
    assert record["ts"] == "2025-11-24T16:00:05.120Z"


@pytest.mark.parametrize(
    ("query", "body", "reason"),
    [
        ({"lat": "1", "lon": "2"}, b"", "malformed"),
        ({"id": "x", "lat": "north"}, b"", "malformed"),
        ({}, b"{not json", "not_json"),
        ({}, b"{" + b" " * 70_000 + b"}", "oversized"),
    ],
)
def test_osmand_bad_requests(query: dict, body: bytes, reason: str) -> None:
    with pytest.raises(DeviceMessageError) as caught:
        osmand_reports(query, body, "", RECEIVED_MS)
    assert caught.value.reason == reason


def _position(**attributes: object) -> dict:
    return {
        "position": {"id": 991, "deviceId": 3, "protocol": "teltonika", "valid": True,
                     "fixTime": "2025-11-24T16:00:00.000+00:00", "deviceTime": "2025-11-24T16:00:00.000+00:00",
                     "latitude": 48.85, "longitude": 2.35, "altitude": 35.0, "speed": 27.0, "course": 180.0,
                     "accuracy": 0.0, "attributes": attributes},
        "device": {"id": 3, "name": "Truck 12", "uniqueId": "864636060000001"},
    }


def test_traccar_position_forward() -> None:
    report = decode_forward(orjson.dumps(_position(ignition=True, motion=True, sat=9, hdop=0.9, power=26.8,
                                                   driverUniqueId="FR0000067890", odometer=1_000_500)))
    assert report is not None and report.device_id == "864636060000001"
    record = report.to_record("NF-12")
    assert record["gnss_speed_kmh"] == pytest.approx(50.004)  # 27 knots
    assert record["heading_deg"] == 180.0 and "gnss_accuracy_m" not in record  # 0 means unknown in Traccar
    assert record["ignition"] is True and record["satellites"] == 9 and record["hdop"] == 0.9
    assert record["ext_power_v"] == 26.8 and record["driver_card_id"] == "FR0000067890"
    assert record["odometer_km"] == pytest.approx(1000.5)
    assert record["attributes"] == {"motion": True}
    assert record["source"] == "traccar"
    validate_record(record)


def test_traccar_alarms_map_to_contract_facts() -> None:
    record = decode_forward(orjson.dumps(_position(alarm="powerCut,jamming"))).to_record("NF-12")
    assert record["ext_power_v"] == 0.0 and record["gnss_jamming"] is True
    assert record["alarm"] == "powerCut,jamming"
    tow = decode_forward(orjson.dumps(_position(alarm="tow"))).to_record("NF-12")
    assert tow["alarm"] == "tow" and "panic" not in tow


def test_traccar_events() -> None:
    event = {"event": {"id": 5, "type": "alarm", "eventTime": "2025-11-24T16:00:03.000+00:00", "deviceId": 3,
                       "attributes": {"alarm": "sos"}}, **_position()}
    record = decode_forward(orjson.dumps(event)).to_record("NF-12")
    assert record["panic"] is True and record["event"] == "alarm" and record["ts"] == "2025-11-24T16:00:03Z"
    position = decode_forward(orjson.dumps(_position())).to_record("NF-12")
    assert record["seq"] != position["seq"]
    ignition_off = {"event": {"type": "ignitionOff", "eventTime": "2025-11-24T16:00:03Z", "attributes": {}},
                    "device": {"uniqueId": "864636060000001"}}
    record = decode_forward(orjson.dumps(ignition_off)).to_record("NF-12")
    assert record["ignition"] is False and "gnss_fix" not in record and "lat" not in record
    online = {"event": {"type": "deviceOnline", "eventTime": "2025-11-24T16:00:03Z"},
              "device": {"uniqueId": "864636060000001"}}
    assert decode_forward(orjson.dumps(online)) is None


def test_traccar_malformed() -> None:
    with pytest.raises(DeviceMessageError, match="uniqueId"):
        decode_forward(orjson.dumps({"position": _position()["position"], "device": {}}))
    with pytest.raises(DeviceMessageError, match="fixTime"):
        decode_forward(orjson.dumps({**_position(), "position": {**_position()["position"], "fixTime": "yesterday",
                                                                "deviceTime": None}}))
