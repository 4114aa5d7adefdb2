"""trips.geojson read feature by feature (telematics/bundle.py _load_trips) gives what parsing the whole file gave:
the same trips, or the same error, for valid files and for files with faults of every kind, in any combination."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

import telematics.bundle as bundle_module
from telematics.bundle import ReferenceDataError, parse_trips_document
from tests.telematics.test_bundle import TRIP_ERRORS, TRIPS, edit


def whole(path: Path) -> object:
    """What the reader did before: orjson parses the whole file, then the trips are read."""
    try:
        try:
            doc = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise ReferenceDataError(f"{path}: not valid JSON ({exc})") from None
        return [repr(t) for t in parse_trips_document(doc, str(path))]
    except (ReferenceDataError, RecursionError) as exc:  # repr() of a value nested 990 deep fails as it did
        return f"{type(exc).__name__}: {exc}"


def by_feature(path: Path) -> object:
    try:
        return [repr(t) for t in bundle_module._load_trips(path)]
    except (ReferenceDataError, RecursionError) as exc:  # repr() of a value nested 990 deep fails as it did
        return f"{type(exc).__name__}: {exc}"


def three_trips() -> dict[str, Any]:
    doc = copy.deepcopy(TRIPS)
    for k in (2, 3):
        feature = copy.deepcopy(TRIPS["features"][0])
        feature["properties"]["trip_id"] = f"t-{k}"
        doc["features"].append(feature)
    return doc


def text(doc: Any) -> bytes:
    return json.dumps(doc, indent=1).encode()


CONTENT_FAULT = b'"corridor_m": "wide"'
NOT_A_LINE = b'"type": "Point"'
BAD_JSON = b'"corridor_m": 1e999'


def faults(data: bytes, feature_faults: dict[int, bytes]) -> bytes:
    """The document with one fault put in each of the given features (by feature number)."""
    head, *features = data.split(b'"type": "Feature",')
    for k, fault in feature_faults.items():
        old = b'"type": "LineString"' if fault == NOT_A_LINE else b'"corridor_m": 400'
        features[k] = features[k].replace(old, fault, 1)
    return b'"type": "Feature",'.join([head, *features])


DOCUMENTS: list[bytes] = [
    text(TRIPS),
    text(three_trips()),
    *(text(edit(TRIPS, change)) for change, _ in TRIP_ERRORS),
    *(faults(text(three_trips()), combination) for combination in (
        {0: CONTENT_FAULT}, {1: NOT_A_LINE}, {2: BAD_JSON},
        {0: CONTENT_FAULT, 2: NOT_A_LINE}, {0: NOT_A_LINE, 1: CONTENT_FAULT},
        {0: CONTENT_FAULT, 2: BAD_JSON}, {0: NOT_A_LINE, 2: BAD_JSON}, {1: NOT_A_LINE, 2: NOT_A_LINE},
    )),
    b'{"name": "plan", "type": "FeatureCollection", "features": []}',
    b'{"features": [], "type": "FeatureCollection", "crs": {"a": [1, 2.5, null]}}',
    b'{"type": "FeatureCollection", "name": "\xff", "features": []}',  # not UTF-8 outside the features
    b'{"type": "FeatureCollection", "name": "\\ud800", "features": []}',
    b'{"type": "FeatureCollection", "n": 1e999, "features": []}',
    b'\xef\xbb\xbf{"type": "FeatureCollection", "features": []}',
    b'{"type": "FeatureCollection", "features": []} x',
    b'{"type": "FeatureCollection", "features": [],}',
    b'{"type": null, "features": []}',
    b'{"type": "FeatureCollection"}',
    b'{"type": "FeatureCollection", "features": {}}',
    b'{"type": "FeatureCollection", "features": [1, "a", null]}',
    b'{"type": "X", "type": "FeatureCollection", "features": [1], "features": []}',
    b'[]',
    b'',
    b'{"type": "FeatureCollection", "features": [' + b"[" * 1030 + b"]" * 1030 + b"]}",
    b'{"type": "FeatureCollection", "features": [' + b"[" * 990 + b"]" * 990 + b"]}",
]


@pytest.mark.parametrize("data", DOCUMENTS, ids=range(len(DOCUMENTS)))
def test_read_by_feature_is_reading_the_whole(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "trips.geojson"
    path.write_bytes(data)
    expected = whole(path)
    assert by_feature(path) == expected


def test_the_faults_are_faults() -> None:
    """The combinations above do raise what they are meant to (so the comparison compares errors, not trips)."""
    data = text(three_trips())
    assert faults(data, {0: CONTENT_FAULT}) != data and faults(data, {1: NOT_A_LINE}) != data
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(faults(data, {2: BAD_JSON}))
