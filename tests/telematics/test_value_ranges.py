"""The telemetry limits (telematics/wire.py) are the contract schema's, and both parser paths hold every one of them."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest

from telematics.contract import schema
from telematics.parse import parse_fast, parse_telemetry
from telematics.validation import InvalidRecord, decode_message, validate_record
from telematics.wire import GOVERNOR_SOURCES, MAX_TEXT, RANGES, SAFETY_SYSTEM_STATES

PROPERTIES: dict[str, Any] = schema("telemetry")["properties"]
PRECISE_ONLY = ("speed_governor",)
"""Fields the fast path always leaves to the precise one (telematics/wire.py)."""


def _walk(properties: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property of the schema with its dotted name, nested objects' properties included; ts (two forms,
    its own rules) apart."""
    for name, spec in properties.items():
        if name == "ts":
            continue
        yield prefix + name, spec
        yield from _walk(spec.get("properties", {}), f"{prefix}{name}.")


BOUNDED = [(name, spec) for name, spec in _walk(PROPERTIES) if "minimum" in spec]
TEXTS = [(name, spec) for name, spec in _walk(PROPERTIES) if "maxLength" in spec]


def message(name: str, value: Any) -> bytes:
    """A valid record with the dotted field set to value (the other coordinate given with lat or lon)."""
    record: dict[str, Any] = {"vehicle_id": "NF-101", "ts": "2026-11-24T09:15:00Z"}
    if name in ("lat", "lon"):
        record["lat" if name == "lon" else "lon"] = 0.0
    *outer, last = name.split(".")
    target = record
    for part in outer:
        target = target.setdefault(part, {})
    target[last] = value
    return json.dumps(record).encode()


def accepted(name: str, value: Any) -> None:
    raw = message(name, value)
    record = parse_telemetry(raw)
    assert record == validate_record(decode_message(raw))
    if name.split(".")[0] not in PRECISE_ONLY:
        assert parse_fast(raw) == record, f"the fast path left {name}={value!r} to the precise path"


def refused(name: str, value: Any) -> None:
    raw = message(name, value)
    assert parse_fast(raw) is None, f"the fast path took {name}={value!r}"
    with pytest.raises(InvalidRecord) as info:
        parse_telemetry(raw)
    assert info.value.field == name


def test_the_table_is_the_schema() -> None:
    assert {name: (spec["minimum"], spec.get("maximum")) for name, spec in BOUNDED} == RANGES
    assert {name: spec["maxLength"] for name, spec in TEXTS if "." not in name} == MAX_TEXT
    assert set(SAFETY_SYSTEM_STATES) == set(PROPERTIES["safety_systems"]["additionalProperties"]["enum"])
    assert set(GOVERNOR_SOURCES) == set(PROPERTIES["speed_governor"]["properties"]["source"]["enum"])


@pytest.mark.parametrize(("name", "spec"), BOUNDED, ids=[name for name, _ in BOUNDED])
def test_each_range_holds_on_both_paths_to_its_edges(name: str, spec: dict[str, Any]) -> None:
    whole = spec["type"] == "integer"
    low, high = spec["minimum"], spec.get("maximum")
    accepted(name, low)
    refused(name, low - 1 if whole else math.nextafter(low, -math.inf))
    if high is None:
        accepted(name, 2**62 if whole else 1e300)  # no upper bound in the contract
    else:
        accepted(name, high)
        refused(name, high + 1 if whole else math.nextafter(high, math.inf))


@pytest.mark.parametrize(("name", "spec"), TEXTS, ids=[name for name, _ in TEXTS])
def test_each_text_length_holds_on_both_paths(name: str, spec: dict[str, Any]) -> None:
    accepted(name, "🚚" * spec["maxLength"])  # characters, not bytes
    refused(name, "a" * (spec["maxLength"] + 1))


def test_each_enumeration_holds() -> None:
    for state in SAFETY_SYSTEM_STATES:
        accepted("safety_systems.aebs", state)
    refused("safety_systems.aebs", "disabled")
    for source in GOVERNOR_SOURCES:
        accepted("speed_governor.source", source)
    refused("speed_governor.source", "driver")
