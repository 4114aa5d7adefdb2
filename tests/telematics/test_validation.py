"""Contract v1 section 2 in code: what parse_telemetry accepts and refuses, and why, checked against the schema."""

from __future__ import annotations

import calendar
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from telematics.contract import schema
from telematics.parse import parse_fast, parse_telemetry, utc_ms
from telematics.records import TelemetryRecord
from telematics.timeutil import TimestampError, parse_rfc3339_ms
from telematics.validation import (
    MAX_MESSAGE_BYTES,
    MAX_SEQ,
    MAX_TS_MS,
    InvalidRecord,
    decode_message,
    parse_timestamp,
    validate_record,
)

SCHEMA = schema("telemetry")
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)

FULL: dict[str, Any] = {
    "vehicle_id": "NF-101", "ts": "2026-11-24T09:15:00Z", "seq": 17, "lat": 52.505, "lon": 13.337,
    "gnss_fix": True, "gnss_jamming": False, "gnss_speed_kmh": 42.5, "heading_deg": 90, "wheel_speed_kmh": 41.0,
    "engine_rpm": 1350, "ignition": True, "parking_brake": False, "cab_door_open": False, "cargo_door_open": True,
    "trailer_connected": True, "driver_card_id": "DE0000012345", "panic": False, "ext_power_v": 24.2,
    "odometer_km": 412345.6, "fuel_level_pct": 63.5, "hdop": 1.2, "satellites": 11, "gnss_accuracy_m": 4.5,
    "safety_systems": {"aebs": "on", "esc": "on", "lane_keeping": "off"},
    "speed_governor": {"active": True, "limit_kmh": 20, "zone_id": "ber-market", "source": "zone"},
    "source": "teltonika",
}
NUMBER_RANGES = {
    "gnss_speed_kmh": (0, 300), "wheel_speed_kmh": (0, 300), "heading_deg": (0, 360), "engine_rpm": (0, 10000),
    "ext_power_v": (0, 100), "odometer_km": (0, None), "fuel_level_pct": (0, 100), "hdop": (0, 100),
    "gnss_accuracy_m": (0, None),
}
BOOLEANS = ("gnss_fix", "gnss_jamming", "ignition", "parking_brake", "cab_door_open", "cargo_door_open",
            "trailer_connected", "panic")
QUICK = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
T0 = calendar.timegm((2026, 11, 24, 9, 15, 0)) * 1000


def raw(**fields: Any) -> bytes:
    """A minimal valid message with the given fields added, replaced or (value ...) removed."""
    record = {"vehicle_id": "NF-101", "ts": "2026-11-24T09:15:00Z"} | fields
    return json.dumps({k: v for k, v in record.items() if v is not ...}).encode()


def both_paths(message: bytes | str) -> TelemetryRecord:
    """parse_telemetry, after checking that the precise path gives the very same answer."""
    try:
        precise: TelemetryRecord | InvalidRecord = validate_record(decode_message(message))
    except InvalidRecord as exc:
        precise = exc
    try:
        record = parse_telemetry(message)
    except InvalidRecord as exc:
        assert isinstance(precise, InvalidRecord), f"fast path refused what the precise path accepts: {exc}"
        assert (exc.field, exc.reason) == (precise.field, precise.reason)
        raise
    assert record == precise
    return record


def rejected(message: bytes | str) -> InvalidRecord:
    with pytest.raises(InvalidRecord) as info:
        both_paths(message)
    return info.value


# --- accepted --------------------------------------------------------------------------------------------------


def test_every_field_of_section_2_is_read() -> None:
    record = both_paths(json.dumps(FULL).encode())
    assert record == TelemetryRecord(
        vehicle_id="NF-101", ts_ms=T0, seq=17, lat=52.505, lon=13.337, gnss_fix=True, gnss_jamming=False,
        gnss_speed_kmh=42.5, heading_deg=90.0, wheel_speed_kmh=41.0, engine_rpm=1350.0, ignition=True,
        parking_brake=False, cab_door_open=False, cargo_door_open=True, trailer_connected=True,
        driver_card_reported=True, driver_card_id="DE0000012345", panic=False, ext_power_v=24.2,
        odometer_km=412345.6, fuel_level_pct=63.5, hdop=1.2, satellites=11, gnss_accuracy_m=4.5,
        safety_systems={"aebs": "on", "esc": "on", "lane_keeping": "off"},
        speed_governor={"active": True, "limit_kmh": 20, "zone_id": "ber-market", "source": "zone"},
        source="teltonika",
    )
    assert all(type(getattr(record, name)) is float for name in NUMBER_RANGES)
    assert type(record.satellites) is int


@pytest.mark.parametrize(("ts", "expected"), [
    ("2026-11-24T09:15:00Z", T0),
    ("2026-11-24T10:15:00+01:00", T0),
    ("2026-11-24T04:15:00-05:00", T0),
    ("2026-11-24T09:15:00+00:00", T0),
    ("2026-11-24T09:15:00-00:00", T0),
    ("2026-11-25T09:14:00+23:59", T0),
    ("2026-11-23T09:17:00-23:59", T0 + 60_000),
    ("2026-11-24T09:15:00.250Z", T0 + 250),
    ("2026-11-24T09:15:00.2Z", T0 + 200),
    ("2026-11-24T10:15:00.999+01:00", T0 + 999),
    ("2026-11-24T09:15:00.9999999Z", T0 + 999),  # sub-millisecond digits are cut off, never rounded up
    ("2026-11-24T09:15:00.123456789012345Z", T0 + 123),
    ("2026-11-24t09:15:00z", T0),  # RFC 3339 allows lower case T and Z
    ("2024-02-29T00:00:00Z", calendar.timegm((2024, 2, 29, 0, 0, 0)) * 1000),
    ("1970-01-01T00:00:00Z", 0),
    ("1970-01-01T01:00:00+01:00", 0),
    ("9999-12-30T23:59:59.999Z", MAX_TS_MS),
    (T0, T0),
    (0, 0),
    (MAX_TS_MS, MAX_TS_MS),
    (float(T0), T0),  # JSON Schema's "integer" is any number without a fraction
    (1.7e12, 1_700_000_000_000),
])
def test_both_forms_of_ts(ts: str | int, expected: int) -> None:
    assert both_paths(raw(ts=ts)).ts_ms == expected
    assert parse_timestamp(ts) == expected


def test_milliseconds_are_exact_where_floats_are_not() -> None:
    # 1795511700.123 * 1000 is 1795511700122.9998 in floating point.
    assert both_paths(raw(ts="2026-11-24T09:15:00.123Z")).ts_ms == T0 + 123
    for ms in range(0, 1000, 7):
        assert parse_timestamp(f"2026-11-24T09:15:00.{ms:03d}Z") == T0 + ms


def test_absent_is_not_false() -> None:
    record = both_paths(raw())
    for name in ("seq", "lat", "lon", "gnss_jamming", "ignition", "parking_brake", "cab_door_open", "cargo_door_open",
                 "trailer_connected", "panic", "driver_card_id", *NUMBER_RANGES):
        assert getattr(record, name) is None, name
    assert record.driver_card_reported is False
    assert record.gnss_fix is False  # no position, so no fix
    falses = both_paths(raw(**{name: False for name in BOOLEANS}))
    assert all(getattr(falses, name) is False for name in BOOLEANS)


def test_gnss_fix_defaults_to_true_with_a_position_and_can_say_otherwise() -> None:
    assert both_paths(raw(lat=52.5, lon=13.3)).gnss_fix is True
    assert both_paths(raw(lat=52.5, lon=13.3)).has_position
    stale = both_paths(raw(lat=52.5, lon=13.3, gnss_fix=False))
    assert stale.gnss_fix is False and not stale.has_position
    assert both_paths(raw(lat=None, lon=None)).gnss_fix is False
    assert both_paths(raw(gnss_fix=True)).gnss_fix is True
    assert not both_paths(raw(gnss_fix=True)).has_position


def test_driver_card_null_means_no_card_and_absent_means_not_reported() -> None:
    no_card = both_paths(raw(driver_card_id=None))
    assert (no_card.driver_card_reported, no_card.driver_card_id) == (True, None)
    card = both_paths(raw(driver_card_id="DE0000012345"))
    assert (card.driver_card_reported, card.driver_card_id) == (True, "DE0000012345")
    assert both_paths(raw(driver_card_id="x" * 64)).driver_card_id == "x" * 64
    assert both_paths(raw(driver_card_id="ü" * 64)).driver_card_id == "ü" * 64  # characters, not bytes


def test_unknown_fields_are_ignored_whatever_they_hold() -> None:
    extras = {
        "firmware": "4.2.1", "tags": [1, {"a": None}], "ts_ms": "garbage", "driver_card_reported": "garbage",
        "(computed) driver_card_reported": 5, "Lat": "not lat", "speed": -5, "": 1, "nested": {"lat": 999},
        "big": 10**30, "name": "Jürgen Müller", "emoji": "🚚",
    }
    assert both_paths(raw(**extras)) == both_paths(raw())
    assert both_paths(json.dumps({**FULL, **extras}, ensure_ascii=False).encode()) == both_paths(
        json.dumps(FULL).encode())


def test_a_number_beyond_a_double_in_an_unknown_field_is_ignored_like_the_rest_of_it() -> None:
    assert both_paths(b'{"vehicle_id": "A", "ts": 0, "x": 1e999}').vehicle_id == "A"
    assert both_paths(b'{"vehicle_id": "A", "ts": 0, "x": [-1e999, ' + b"9" * 400 + b"]}").vehicle_id == "A"


@pytest.mark.parametrize("vehicle_id", ["A", "a" * 64, "NF-101", "nf_101.x", "0", "-", ".", "_"])
def test_vehicle_ids(vehicle_id: str) -> None:
    assert both_paths(raw(vehicle_id=vehicle_id)).vehicle_id == vehicle_id


def test_bounds_are_inclusive_and_integers_are_numbers() -> None:
    for name, (low, high) in NUMBER_RANGES.items():
        assert getattr(both_paths(raw(**{name: low})), name) == low
        if high is not None:
            assert getattr(both_paths(raw(**{name: high})), name) == high
    edge = both_paths(raw(lat=-90, lon=180, seq=0))
    assert (edge.lat, edge.lon, edge.seq) == (-90.0, 180.0, 0)
    assert both_paths(raw(lat=90.0, lon=-180.0)).lat == 90.0
    assert both_paths(raw(seq=MAX_SEQ)).seq == MAX_SEQ
    assert both_paths(raw(seq=5.0)).seq == 5  # an integer per JSON Schema
    assert both_paths(raw(odometer_km=1e308)).odometer_km == 1e308


def test_str_input_and_every_message_size_up_to_64_kib() -> None:
    assert both_paths(raw().decode()).vehicle_id == "NF-101"
    base = raw(pad="")
    exact = base[:-2] + b"x" * (MAX_MESSAGE_BYTES - len(base)) + b'"}'
    assert len(exact) == MAX_MESSAGE_BYTES
    assert both_paths(exact).vehicle_id == "NF-101"
    assert both_paths(exact.decode()).vehicle_id == "NF-101"
    wide = base[:-2].decode() + "ü" * ((MAX_MESSAGE_BYTES - len(base)) // 2) + '"}'
    assert len(wide.encode()) <= MAX_MESSAGE_BYTES
    assert both_paths(wide).vehicle_id == "NF-101"


def test_other_byte_buffers_are_read_like_bytes() -> None:
    assert parse_telemetry(bytearray(raw())) == parse_telemetry(memoryview(raw())) == both_paths(raw())


# --- rejected ----------------------------------------------------------------------------------------------------

NOT_JSON = "not valid JSON"
# (message, field, fragments that the reason must contain: the value and what was expected)
REJECTIONS: list[tuple[bytes | str, str, tuple[str, ...]]] = [
    # not JSON, not an object, too big
    (b"not json at all", "message", (NOT_JSON,)),
    (b"", "message", (NOT_JSON,)),
    (b'{"vehicle_id": "A", "ts": 0', "message", (NOT_JSON,)),
    (b'{"vehicle_id": "A", "ts": 0,}', "message", (NOT_JSON,)),
    (b'{"vehicle_id": "A", "ts": 0}{}', "message", (NOT_JSON,)),
    (b"\xff\xfe\x00binary", "message", (NOT_JSON,)),
    (b'{"vehicle_id": "A", "ts": 0, "x": "\xff"}', "message", (NOT_JSON,)),  # not UTF-8, even where unread
    (b'{"vehicle_id": "A", "ts": 0, "x": "\xed\xa0\x80"}', "message", (NOT_JSON,)),  # an encoded surrogate
    (b'{"vehicle_id": "A", "ts": 0, "x": "\\ud800"}', "message", (NOT_JSON,)),  # a lone surrogate
    ('{"vehicle_id": "A", "ts": 0, "x": "\ud800"}', "message", (NOT_JSON,)),
    (b'\xef\xbb\xbf{"vehicle_id": "A", "ts": 0}', "message", (NOT_JSON,)),  # a byte order mark
    ('{"vehicle_id": "A", "ts": 0}'.encode("utf-16"), "message", (NOT_JSON,)),
    (b'{"vehicle_id": "A", "ts": 0, "x": ' + b"[" * 1100 + b"]" * 1100 + b"}", "message", (NOT_JSON,)),
    (b"[1, 2, 3]", "message", ("got a JSON list", "expected an object")),
    (b'"text"', "message", ("got a JSON string", "expected an object")),
    (b"42", "message", ("got a JSON number", "expected an object")),
    (b"null", "message", ("got a JSON null", "expected an object")),
    (b"true", "message", ("got a JSON boolean", "expected an object")),
    (b'{"vehicle_id": "A", "ts": 0, "pad": "' + b"x" * MAX_MESSAGE_BYTES + b'"}', "message",
     (f"{MAX_MESSAGE_BYTES + 39} bytes", f"expected at most {MAX_MESSAGE_BYTES}")),
    ('{"vehicle_id": "A", "ts": 0, "pad": "' + "ü" * 32_768 + '"}', "message", ("65575 bytes", "at most 65536")),
    # non-finite numbers: not JSON, and the reason says where
    (raw(engine_rpm=...)[:-1] + b', "engine_rpm": NaN}', "message",
     (NOT_JSON, "engine_rpm: got NaN", "expected a finite number")),
    (raw()[:-1] + b', "lat": Infinity, "lon": 1}', "message", (NOT_JSON, "lat: got Infinity", "finite")),
    (raw()[:-1] + b', "lat": 1, "lon": -Infinity}', "message", (NOT_JSON, "lon: got -Infinity", "finite")),
    (raw()[:-1] + b', "fuel_level_pct": 1e999}', "message", (NOT_JSON, "fuel_level_pct: got 1e999", "finite")),
    (raw()[:-1] + b', "odometer_km": -1E400}', "message", (NOT_JSON, "odometer_km: got -1E400", "finite")),
    (raw()[:-1] + b', "odometer_km": ' + b"9" * 400 + b"}", "message", (NOT_JSON, "odometer_km: got 999", "finite")),
    (b'{"vehicle_id": "A", "ts": 1e999}', "message", (NOT_JSON, "ts: got 1e999")),
    (raw()[:-1] + b', "extra": NaN}', "message", (NOT_JSON,)),  # NaN is not JSON, even where unread
    # vehicle_id
    (b'{"ts": 0}', "vehicle_id", ("missing", "expected 1-64 characters of A-Z a-z 0-9 . _ -")),
    (raw(vehicle_id=""), "vehicle_id", ("got ''", "expected 1-64 characters")),
    (raw(vehicle_id="a" * 65), "vehicle_id", ("got 'aaaa", "expected 1-64 characters")),
    (raw(vehicle_id="has space"), "vehicle_id", ("got 'has space'", "expected 1-64")),
    (raw(vehicle_id="NF/101"), "vehicle_id", ("got 'NF/101'", "expected")),
    (raw(vehicle_id="NF-101\n"), "vehicle_id", ("got 'NF-101\\n'", "expected")),
    (raw(vehicle_id="Größe"), "vehicle_id", ("got 'Größe'", "expected")),
    (raw(vehicle_id="٣"), "vehicle_id", ("got '٣'", "expected")),  # a digit, but not 0-9
    (raw(vehicle_id=101), "vehicle_id", ("got 101", "expected")),
    (raw(vehicle_id=None), "vehicle_id", ("got None", "expected")),
    (raw(vehicle_id=["NF-101"]), "vehicle_id", ("got ['NF-101']", "expected")),
    # ts
    (raw(ts=...), "ts", ("missing", "expected RFC 3339 text or integer epoch milliseconds")),
    (raw(ts="2026-11-24T09:15:00"), "ts", ("'2026-11-24T09:15:00' has no UTC offset", "expected a trailing Z")),
    (raw(ts="2026-11-24 09:15:00"), "ts", ("has no UTC offset",)),
    (raw(ts="2026-11-24T09:15Z"), "ts", ("'2026-11-24T09:15Z' is not RFC 3339", "expected e.g.")),
    (raw(ts="yesterday"), "ts", ("'yesterday' is not RFC 3339", "expected e.g. 2026-11-24T09:15:00Z")),
    (raw(ts=""), "ts", ("'' is not RFC 3339",)),
    (raw(ts="2026-11-24"), "ts", ("is not RFC 3339",)),
    (raw(ts="2026-11-24 09:15:00Z"), "ts", ("is not RFC 3339",)),
    (raw(ts="2026-11-24T09:15:00+0100"), "ts", ("is not RFC 3339",)),
    (raw(ts="2026-11-24T09:15:00+01"), "ts", ("is not RFC 3339",)),
    (raw(ts="2026-11-24T09:15:00+01:00:30"), "ts", ("is not RFC 3339",)),
    (raw(ts="2026-11-24T09:15:00+24:00"), "ts", ("is not RFC 3339",)),
    (raw(ts="2026-11-24T09:15:00+01:60"), "ts", ("is not RFC 3339",)),
    (raw(ts="2026-11-24T09:15:00.Z"), "ts", ("is not RFC 3339",)),
    (raw(ts="2026-11-24T09:15:00,5Z"), "ts", ("is not RFC 3339",)),
    (raw(ts="20261124T091500Z"), "ts", ("is not RFC 3339",)),
    (raw(ts="2026-W48-2T09:15:00Z"), "ts", ("is not RFC 3339",)),
    (raw(ts="2026-11-24T09:15:60Z"), "ts", ("is not RFC 3339",)),  # no leap seconds, as the schema's checker
    (raw(ts="2026-11-24T24:00:00Z"), "ts", ("is not RFC 3339",)),
    (raw(ts="2026-13-01T00:00:00Z"), "ts", ("is not RFC 3339",)),
    (raw(ts="2026-02-29T00:00:00Z"), "ts", ("'2026-02-29T00:00:00Z' is not a date and time that exists",)),
    (raw(ts="2026-04-31T00:00:00Z"), "ts", ("is not a date and time that exists",)),
    (raw(ts="0000-01-01T00:00:00Z"), "ts", ("is not a date and time that exists",)),
    (raw(ts="2026-11-24T09:15:00Z\n"), "ts", ("is not RFC 3339",)),
    (raw(ts=" 2026-11-24T09:15:00Z"), "ts", ("is not RFC 3339",)),
    (raw(ts="２０２６-11-24T09:15:00Z"), "ts", ("is not RFC 3339",)),
    (raw(ts="1969-12-31T23:59:59Z"), "ts", ("got '1969-12-31T23:59:59Z'", "expected a time from 0 (1970-01-01T00")),
    (raw(ts="9999-12-31T00:00:00Z"), "ts", ("got '9999-12-31T00:00:00Z'", "to 253402214399999")),
    (raw(ts=-1), "ts", ("got -1", "expected epoch milliseconds from 0")),
    (raw(ts=MAX_TS_MS + 1), "ts", (f"got {MAX_TS_MS + 1}", "9999-12-30T23:59:59.999Z")),
    (raw(ts=10**20), "ts", ("got 1", "expected epoch milliseconds")),
    (raw(ts=1.5), "ts", ("got 1.5", "expected integer epoch milliseconds (no fraction)")),
    (raw(ts=-1.0), "ts", ("got -1.0", "expected epoch milliseconds from 0")),
    (raw(ts=True), "ts", ("got True", "expected RFC 3339 text or integer epoch milliseconds")),
    (raw(ts=False), "ts", ("got False", "expected RFC 3339 text")),
    (raw(ts=None), "ts", ("got None", "expected RFC 3339 text")),
    (raw(ts=[0]), "ts", ("got [0]", "expected RFC 3339 text")),
    (raw(ts={"s": 0}), "ts", ("got {'s': 0}", "expected")),
    # seq
    (raw(seq=-1), "seq", ("got -1", f"expected an integer from 0 to {MAX_SEQ}")),
    (raw(seq=1.5), "seq", ("got 1.5", "expected an integer")),
    (raw(seq="1"), "seq", ("got '1'", "expected an integer")),
    (raw(seq=True), "seq", ("got True", "expected an integer")),
    (raw(seq=None), "seq", ("got None", "expected an integer")),
    (raw(seq=MAX_SEQ + 1), "seq", ("got 1.8446744073709552e+19", "expected an integer from 0 to")),
    # lat, lon
    (raw(lat=91, lon=13), "lat", ("got 91", "expected between -90 and 90")),
    (raw(lat=-90.0001, lon=13), "lat", ("got -90.0001", "expected between -90 and 90")),
    (raw(lat=52, lon=-181), "lon", ("got -181", "expected between -180 and 180")),
    (raw(lat=52, lon=180.5), "lon", ("got 180.5", "expected between -180 and 180")),
    (raw(lat="52.5", lon=13), "lat", ("got '52.5'", "expected a number")),
    (raw(lat=52, lon=True), "lon", ("got True", "expected a number")),
    (raw(lat=52, lon=[13]), "lon", ("got [13]", "expected a number")),
    (raw(lat=52.5), "lon", ("missing while the other coordinate is 52.5", "expected both or neither")),
    (raw(lon=13.3), "lat", ("missing while the other coordinate is 13.3", "expected both or neither")),
    (raw(lat=52.5, lon=None), "lon", ("null while the other coordinate is 52.5", "expected both or neither")),
    # driver_card_id
    (raw(driver_card_id="x" * 65), "driver_card_id", ("got 'xxx", "expected text of at most 64 characters or null")),
    (raw(driver_card_id=12345), "driver_card_id", ("got 12345", "expected text of at most 64 characters or null")),
    (raw(driver_card_id=False), "driver_card_id", ("got False", "expected text")),
]
for _name, (_low, _high) in NUMBER_RANGES.items():
    _bounds = f"between {_low:g} and {_high:g}" if _high is not None else f"at least {_low:g}"
    REJECTIONS += [
        (raw(**{_name: -0.5}), _name, ("got -0.5", f"expected {_bounds}")),
        (raw(**{_name: -1}), _name, ("got -1", f"expected {_bounds}")),
        (raw(**{_name: "12"}), _name, ("got '12'", "expected a number")),
        (raw(**{_name: True}), _name, ("got True", "expected a number")),
        (raw(**{_name: None}), _name, ("got None", "expected a number")),
        (raw(**{_name: {"v": 1}}), _name, ("got {'v': 1}", "expected a number")),
    ]
    if _high is not None:
        REJECTIONS += [
            (raw(**{_name: _high + 0.001}), _name, (f"got {_high + 0.001!r}", f"expected {_bounds}")),
            (raw(**{_name: _high * 10}), _name, (f"got {_high * 10!r}", f"expected {_bounds}")),
        ]
for _name in BOOLEANS:
    REJECTIONS += [
        (raw(**{_name: None}), _name, ("got None", "expected true or false")),
        (raw(**{_name: 1}), _name, ("got 1", "expected true or false")),
        (raw(**{_name: 0}), _name, ("got 0", "expected true or false")),
        (raw(**{_name: "true"}), _name, ("got 'true'", "expected true or false")),
        (raw(**{_name: [True]}), _name, ("got [True]", "expected true or false")),
    ]


@pytest.mark.parametrize(("message", "field", "fragments"), REJECTIONS,
                         ids=[f"{i}-{f}" for i, (_, f, _) in enumerate(REJECTIONS)])
def test_rejections_name_the_field_the_value_and_what_was_expected(
    message: bytes | str, field: str, fragments: tuple[str, ...]
) -> None:
    error = rejected(message)
    assert error.field == field
    assert str(error) == f"{field}: {error.reason}"
    for fragment in fragments:
        assert fragment in error.reason, (fragment, error.reason)
    assert len(str(error)) < 300  # a huge value is shortened, not copied into the dead letter's reason


def test_the_first_bad_field_in_the_message_is_reported() -> None:
    assert rejected(b'{"vehicle_id": "A", "ts": 0, "panic": 1, "lat": 100}').field == "panic"
    assert rejected(b'{"vehicle_id": "A", "ts": 0, "lat": 100, "panic": 1}').field == "lat"
    # vehicle_id and ts come first, wherever they are in the message
    assert rejected(b'{"panic": 1, "ts": -1, "vehicle_id": "A"}').field == "ts"


def test_duplicate_keys_keep_the_last_value_on_both_paths() -> None:
    assert both_paths(b'{"vehicle_id": "A", "ts": 0, "lat": 100, "lat": 1, "lon": 2}').lat == 1.0
    assert rejected(b'{"vehicle_id": "A", "ts": 0, "lat": 1, "lat": 100, "lon": 2}').field == "lat"


def test_validate_record_on_python_values_names_non_finite_numbers_by_field() -> None:
    # Records built in Python (simulator, importers) can hold values JSON cannot.
    base = {"vehicle_id": "A", "ts": 0}
    for value, text in ((float("nan"), "got nan"), (float("inf"), "got inf"), (10**400, "got 1000")):
        with pytest.raises(InvalidRecord) as info:
            validate_record(base | {"engine_rpm": value})
        assert info.value.field == "engine_rpm"
        assert text in info.value.reason and "expected a finite number" in info.value.reason
    with pytest.raises(InvalidRecord, match=r"^lat: got nan, expected a finite number$"):
        validate_record(base | {"lat": float("nan"), "lon": 1.0})
    with pytest.raises(InvalidRecord, match=r"^message: got a JSON list, expected an object$"):
        validate_record([1])  # type: ignore[arg-type]
    with pytest.raises(InvalidRecord, match=r"^ts: got nan"):
        validate_record(base | {"ts": float("nan")})


def test_python_number_subclasses_are_numbers() -> None:
    class Reading(float):
        pass

    record = validate_record({"vehicle_id": "A", "ts": 0, "engine_rpm": Reading(900.0), "seq": True is False or 3})
    assert record.engine_rpm == 900.0 and type(record.engine_rpm) is float


# --- the schema, as the contract's JSON Schema says ------------------------------------------------------------
#
# parse_telemetry accepts exactly what telemetry.schema.json accepts (Draft 2020-12, date-time checked), except
# where contract v1 (or this parser, on purpose) is stricter than the schema:
#   1. lat and lon come together: one of them absent or null while the other is a number is refused (section 2:
#      "absent or null when there is no GNSS fix" is about the position, not one coordinate).
#   2. ts, in either form, is an instant from 1970-01-01T00:00:00Z to 9999-12-30T23:59:59.999Z: the two forms
#      cover the same instants (the schema's integer form has minimum 0), and every accepted ts is a date in
#      every time zone. The schema alone would let through text before 1970 and integers past year 9999.
#   3. seq is at most 2^64 - 1: a JSON reader turns larger integers into floats, so the counter would not be
#      exact; the schema has no maximum.
#   4. A message is at most 64 KiB (section 2); the schema says nothing about size.
#   5. Numbers are IEEE doubles (RFC 8259 section 6): NaN/Infinity are not JSON, and 1e999 in a field we read is
#      refused as a number that is not finite (section 2); the schema cannot see either in JSON text.
#   6. python-jsonschema checks "pattern" and "date-time" with Python's "$", which also matches before a final
#      newline, so it takes "NF-101\n" as a vehicle_id; JSON Schema patterns are ECMA-262, where "$" does not,
#      and RFC 3339 has no newline. The parser refuses both.


def stricter_than_schema(obj: dict[str, Any]) -> list[str]:
    """The rules above that refuse obj although the schema accepts it."""
    reasons = []
    lat, lon = obj.get("lat"), obj.get("lon")
    if (lat is None) != (lon is None):
        reasons.append("lat without lon")
    ts = obj.get("ts")
    if isinstance(ts, str) and VALIDATOR.is_valid({"vehicle_id": "A", "ts": ts}) and not ts.endswith("\n"):
        if not 0 <= reference_ms(ts) <= MAX_TS_MS:
            reasons.append("ts out of range")
    elif isinstance(ts, int | float) and not isinstance(ts, bool) and ts > MAX_TS_MS:
        reasons.append("ts out of range")
    seq = obj.get("seq")
    if isinstance(seq, int | float) and not isinstance(seq, bool) and seq > MAX_SEQ:
        reasons.append("seq beyond 64 bits")
    for name in ("vehicle_id", "ts"):
        if isinstance(obj.get(name), str) and obj[name].endswith("\n"):
            reasons.append(f"{name} ends with a newline")
    return reasons


RFC3339_PARTS = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:[Zz]|([+-])(\d\d):(\d\d))", re.ASCII)


def reference_ms(text: str) -> int:
    """Epoch ms of valid RFC 3339 text, computed without datetime, as a second opinion."""
    match = RFC3339_PARTS.fullmatch(text)
    assert match is not None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    days = calendar.timegm((year, month, day, 0, 0, 0)) // 86400 if year >= 1 else 0
    fraction, sign, off_h, off_m = match.group(7), match.group(8), match.group(9), match.group(10)
    offset = 0 if sign is None else (1 if sign == "+" else -1) * (int(off_h) * 60 + int(off_m)) * 60_000
    millis = int((fraction or "0")[:3].ljust(3, "0"))
    return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis - offset


DIGITS = st.sampled_from("0123456789")
ID_ALPHABET = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
# Text from characters that matter here, rather than all of Unicode (Hypothesis' full character tables are slow
# to build): ASCII, controls, the line separators Python's "$" knows, non-ASCII digits and letters whose case
# mapping lands in ASCII, and characters outside the BMP.
CHARACTERS = [chr(c) for c in range(0x20, 0x7F)] + list("\x00\t\n\r\x7f\x85\u2028üß٣２ſıKİ🚚\U0010fffd")
TEXT = st.text(st.sampled_from(CHARACTERS + list(" TZtz:-.+")), max_size=8)


def offsets(seconds: bool = False) -> st.SearchStrategy[timezone]:
    """Fixed UTC offsets; with seconds, also ones RFC 3339 cannot write."""
    step = st.integers(-86_399, 86_399) if seconds else st.integers(-1439, 1439).map(lambda m: m * 60)
    return step.map(lambda s: timezone(timedelta(seconds=s)))


def padded(strategy: st.SearchStrategy[int], width: int) -> st.SearchStrategy[str]:
    return strategy.map(lambda n: str(n).zfill(width))


timestamps_text = st.one_of(
    st.builds(
        lambda y, mo, d, sep, h, mi, s, frac, off: f"{y}-{mo}-{d}{sep}{h}:{mi}:{s}{frac}{off}",
        padded(st.one_of(st.integers(1969, 2100), st.integers(0, 9999)), 4),
        padded(st.integers(0, 13), 2), padded(st.integers(0, 32), 2),
        st.sampled_from(["T", "T", "t", " "]),
        padded(st.integers(0, 24), 2), padded(st.integers(0, 60), 2), padded(st.integers(0, 60), 2),
        st.one_of(st.just(""), st.text(DIGITS, min_size=1, max_size=12).map(".".__add__), st.sampled_from([".", ",5"])),
        st.one_of(
            st.sampled_from(["Z", "Z", "z", "", "+00:00", "-00:00", "+0100", "+01", "\n", "Z\n"]),
            st.builds(lambda sign, h, m: f"{sign}{h}:{m}", st.sampled_from("+-"),
                      padded(st.integers(0, 24), 2), padded(st.integers(0, 60), 2)),
        ),
    ),
    st.builds(lambda d, tz: d.replace(tzinfo=tz).isoformat(), st.datetimes(), st.none() | offsets(seconds=True)),
    TEXT,
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(allow_nan=False, allow_infinity=False), TEXT,
)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)


def near(low: float, high: float | None) -> st.SearchStrategy[Any]:
    """Numbers in range, at its edges and just outside."""
    top = high if high is not None else 1e12
    edges = [low, top, low - 1, top + 1, low - 1e-9, top + 1e-9, -0.0, 0]
    return st.one_of(st.floats(low, top), st.integers(int(low), int(top)), st.sampled_from(edges), json_scalars)


vehicle_ids = st.one_of(
    st.text(ID_ALPHABET, min_size=1, max_size=64), st.text(ID_ALPHABET, min_size=60, max_size=70),
    st.sampled_from(["NF-101\n", "NF 101", ""]), json_scalars,
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "vehicle_id": vehicle_ids,
    "ts": st.one_of(timestamps_text, st.integers(-5, MAX_TS_MS + 5), st.integers(0, 2**70),
                    st.floats(-1, 3e14), st.sampled_from([0, MAX_TS_MS, MAX_TS_MS + 1, 1.7e12, -0.0]), json_scalars),
    "seq": st.one_of(st.integers(-2, 2**66), st.sampled_from([MAX_SEQ, MAX_SEQ + 1, 2**63, 5.0, 0.5]), json_scalars),
    "lat": near(-90, 90),
    "lon": near(-180, 180),
    **{name: near(low, high) for name, (low, high) in NUMBER_RANGES.items()},
    **{name: st.one_of(st.booleans(), json_scalars) for name in BOOLEANS},
    "driver_card_id": st.one_of(st.none(), TEXT, st.text(st.sampled_from("AZü🚚"), min_size=60, max_size=66),
                                json_scalars),
}
VALID_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "vehicle_id": st.text(ID_ALPHABET, min_size=1, max_size=64),
    "ts": st.one_of(st.integers(0, MAX_TS_MS),
                    st.builds(lambda d, tz: d.replace(tzinfo=tz).isoformat(),
                              st.datetimes(datetime(1971, 1, 1), datetime(9998, 12, 31)), offsets())),
    "seq": st.integers(0, MAX_SEQ),
    **{name: st.floats(low, high if high is not None else 1e12) for name, (low, high) in NUMBER_RANGES.items()},
    **{name: st.booleans() for name in BOOLEANS},
    "driver_card_id": st.one_of(st.none(), TEXT),
}


OPTIONAL = st.sets(st.sampled_from(sorted(set(VALID_VALUES) - {"vehicle_id", "ts"})))
POSITION = st.none() | st.tuples(st.floats(-90, 90), st.floats(-180, 180))
CHANGED = st.lists(st.sampled_from([*FIELD_VALUES, "extra"]), max_size=2)
DROPPED = st.lists(st.sampled_from(["vehicle_id", "ts", "lat", "lon"]), max_size=1)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid record with 0-2 fields changed to anything, some fields dropped, and some unknown fields."""
    obj = {"vehicle_id": draw(VALID_VALUES["vehicle_id"]), "ts": draw(VALID_VALUES["ts"])}
    for name in draw(OPTIONAL):
        obj[name] = draw(VALID_VALUES[name])
    position = draw(POSITION)
    if position is not None:
        obj["lat"], obj["lon"] = position
    for name in draw(CHANGED):
        obj[name] = draw(json_values if name == "extra" else FIELD_VALUES[name])
    for name in draw(DROPPED):
        obj.pop(name, None)
    return obj


def encode(obj: Any, ascii_only: bool) -> bytes:
    return json.dumps(obj, ensure_ascii=ascii_only, allow_nan=False).encode("utf-8", "surrogatepass")


def accepts(message: bytes) -> bool:
    try:
        both_paths(message)
    except InvalidRecord:
        return False
    return True


@settings(QUICK, max_examples=300)
@given(records(), st.booleans())
@example({"vehicle_id": "NF-101\n", "ts": 0}, True)
@example({"vehicle_id": "A", "ts": "2026-11-24T09:15:00Z\n"}, True)
@example({"vehicle_id": "A", "ts": "1969-12-31T23:59:59Z"}, True)
@example({"vehicle_id": "A", "ts": 10**16}, True)
@example({"vehicle_id": "A", "ts": 0, "seq": 2**64}, True)
@example({"vehicle_id": "A", "ts": 0, "lat": 1.0}, True)
@example({"vehicle_id": "A", "ts": 0, "lat": None, "lon": 2.0}, True)
@example({"vehicle_id": "A", "ts": 1.7e12, "seq": 3.0}, True)
def test_the_parser_accepts_exactly_what_the_schema_accepts_except_where_the_contract_is_stricter(
    obj: dict[str, Any], ascii_only: bool
) -> None:
    schema_ok = VALIDATOR.is_valid(obj)
    stricter = stricter_than_schema(obj)
    assert accepts(encode(obj, ascii_only)) == (schema_ok and not stricter), (schema_ok, stricter)


@settings(QUICK, max_examples=100)
@given(records())
def test_accepted_records_hold_the_values_sent(obj: dict[str, Any]) -> None:
    assume(VALIDATOR.is_valid(obj) and not stricter_than_schema(obj))
    record = both_paths(encode(obj, True))
    assert record.vehicle_id == obj["vehicle_id"]
    ts = obj["ts"]
    assert record.ts_ms == (reference_ms(ts) if isinstance(ts, str) else int(ts))
    for name in ("lat", "lon", *NUMBER_RANGES, *BOOLEANS, "seq", "driver_card_id"):
        if name in obj and obj[name] is not None:
            assert getattr(record, name) == obj[name], name
    assert record.gnss_fix == obj.get("gnss_fix", obj.get("lat") is not None)
    assert record.driver_card_reported == ("driver_card_id" in obj)


# --- the fast path never accepts what the precise path refuses -------------------------------------------------

TOKENS = [b"NaN", b"1e999", b"-1e999", b"9" * 400, b'"\\ud800"', b'"\\u0041"', b'"\xff"', b'"\xc3\xa9"', b"null",
          b"true", b"1.0", b"-0", b'"2026-11-24t09:15:00z"', b'"\xed\xa0\x80"', b"[", b"}", b",", b'"\\n"', b"1E2"]


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    """An encoded record with JSON-breaking tokens or bytes put in, cut out or swapped around."""
    message = bytearray(encode(draw(records()), draw(st.booleans())))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(message)))
        action = draw(st.integers(0, 3))
        if action == 0:
            message[at:at] = draw(st.sampled_from(TOKENS))
        elif action == 1:
            message[at:at + draw(st.integers(1, 6))] = b""
        elif action == 2:
            value_end = message.find(b",", at)
            if value_end > 0:
                colon = message.rfind(b":", 0, value_end)
                if colon > 0:
                    message[colon + 1:value_end] = b" " + draw(st.sampled_from(TOKENS))
        else:
            message[at:at] = bytes([draw(st.integers(0, 255))])
    return bytes(message)


@settings(QUICK, max_examples=300)
@given(mangled())
def test_the_fast_path_only_ever_agrees_with_the_precise_path(message: bytes) -> None:
    fast = parse_fast(message)
    try:
        precise: TelemetryRecord | None = validate_record(decode_message(message))
    except InvalidRecord:
        precise = None
    if fast is not None:
        assert fast == precise
    accepts(message)  # parse_telemetry and the precise path agree, field and reason (see both_paths)


WITHOUT_GOVERNOR = {k: v for k, v in FULL.items() if k != "speed_governor"}


@pytest.mark.parametrize("message", [
    raw(), json.dumps(WITHOUT_GOVERNOR).encode(), raw(ts=T0), raw(lat=None, lon=None), raw(driver_card_id=None),
    raw(driver_card_id="🚚" * 64), raw(vehicle_id="a" * 64, seq=2**63 - 1),
    raw(firmware={"v": [1, 2]}, x=0).replace(b"0}", b"1e999}"),
    raw(ts="2026-11-24T10:15:00.123456+01:00"), raw(name="Jürgen").replace(b"\\u00fc", "ü".encode()),
    raw().decode(),
])
def test_ordinary_records_take_the_fast_path(message: bytes | str) -> None:
    record = parse_fast(message)
    assert record is not None
    assert record == validate_record(decode_message(message))


def test_a_speed_governor_is_left_to_the_precise_path() -> None:
    message = raw(speed_governor={"active": True, "limit_kmh": 20, "zone_id": None, "source": "command"})
    assert parse_fast(message) is None
    assert both_paths(message).speed_governor == {"active": True, "limit_kmh": 20, "zone_id": None, "source": "command"}
    assert rejected(raw(speed_governor={"source": "driver"})).field == "speed_governor.source"
    assert rejected(raw(safety_systems={"aebs": "disabled"})).field == "safety_systems.aebs"
    assert rejected(raw(satellites=1.5)).field == "satellites"


def test_schema_and_checks_agree_on_the_fields_of_section_2() -> None:
    # The checks above cover every property of the schema, and no more.
    assert set(SCHEMA["properties"]) == set(FULL)
    assert set(SCHEMA["required"]) == {"vehicle_id", "ts"}
    for name, (low, high) in NUMBER_RANGES.items():
        assert SCHEMA["properties"][name].get("minimum") == low
        assert SCHEMA["properties"][name].get("maximum") == high
    assert VALIDATOR.is_valid(FULL)
    assert orjson.loads(orjson.dumps(FULL)) == FULL


@settings(max_examples=400, deadline=None)
@given(
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 30)),
    st.sampled_from(["", ".000", ".5", ".25", ".250", ".999", ".1234", ".123456789"]),
    st.sampled_from(["Z", "z", "+00:00", "+01:30", "-05:00"]),
)
def test_the_fast_timestamp_reading_agrees_with_the_precise_one_cold_and_warm(
    moment: datetime, fraction: str, offset: str
) -> None:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + offset
    try:
        expected: int | None = parse_rfc3339_ms(text)
    except TimestampError:
        expected = None
    assert utc_ms(text) == (expected if text[10] == "T" and offset != "z" else None)
    assert utc_ms(text) == utc_ms(text)  # the minute is now known: the shortcut gives the same


def test_a_known_minute_does_not_let_an_impossible_second_through() -> None:
    assert utc_ms("2026-11-24T09:15:07Z") == parse_rfc3339_ms("2026-11-24T09:15:07Z")
    for bad in ("2026-11-24T09:15:60Z", "2026-11-24T09:15:7xZ", "2026-11-24T09:15:07.12xZ", "2026-11-24T09:15:07Y"):
        assert utc_ms(bad) is None
    assert utc_ms("2026-11-24T09:15:59.999Z") == parse_rfc3339_ms("2026-11-24T09:15:59.999Z")
