from __future__ import annotations

from typing import Any

import pytest

from telematics.outputs import Alert, HistoryEntry, StopRequest, encode
from tests.web.samples import alert, stop_request
from web.contract import ContractViolation, check_alert, check_stop_request, decode_object


def test_detector_output_passes() -> None:
    produced = Alert(**{k: v for k, v in alert(revision=3).items()})
    assert check_alert(decode_object(encode(produced)))["revision"] == 3
    request = stop_request()
    request["history"] = [HistoryEntry(**h) for h in request["history"]]
    assert check_stop_request(decode_object(encode(StopRequest(**request))))["status"] == "requested"


def test_optional_fields_may_be_left_out() -> None:
    minimal = {k: v for k, v in alert().items() if k not in ("lat", "lon", "zone_id", "revision")}
    assert check_alert(minimal)["lat"] is None
    request = {k: v for k, v in stop_request().items() if k not in ("history", "target_speed_kmh")}
    assert check_stop_request(request)["history"] == []


@pytest.mark.parametrize(("raw", "field"), [
    (b"{not json", "message"),
    (b"[1, 2]", "message"),
    (None, "message"),
    (b'{"x": NaN}', "message"),
])
def test_undecodable_messages(raw: bytes | None, field: str) -> None:
    with pytest.raises(ContractViolation) as info:
        decode_object(raw)
    assert info.value.field == field


@pytest.mark.parametrize(("change", "field"), [
    ({"alert_id": ""}, "alert_id"),
    ({"vehicle_id": "NF 101"}, "vehicle_id"),
    ({"kind": "bad_kind"}, "kind"),
    ({"severity": None}, "severity"),
    ({"ts": "yesterday"}, "ts"),
    ({"onset_ts": "2026-11-24T09:14:00"}, "onset_ts"),
    ({"score": 1.5}, "score"),
    ({"score": True}, "score"),
    ({"lat": 95.0}, "lat"),
    ({"lon": None}, "lon"),
    ({"evidence": "text"}, "evidence"),
    ({"revision": -1}, "revision"),
    ({"fleet_id": 7}, "fleet_id"),
])
def test_alert_violations_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ContractViolation) as info:
        check_alert(alert(**change))
    assert info.value.field == field


def test_missing_required_alert_field_is_named() -> None:
    value = alert()
    del value["fleet_id"]
    with pytest.raises(ContractViolation, match="fleet_id: missing"):
        check_alert(value)


@pytest.mark.parametrize(("change", "field"), [
    ({"mode": "slam_brakes"}, "mode"),
    ({"status": "done"}, "status"),
    ({"alert_ids": []}, "alert_ids"),
    ({"alert_ids": "al-1"}, "alert_ids"),
    ({"reason": None}, "reason"),
    ({"target_speed_kmh": -5}, "target_speed_kmh"),
    ({"history": [{"status": "requested", "at": "2026-11-24T09:16:00Z"}]}, "history[0].by"),
    ({"history": ["requested"]}, "history[0]"),
])
def test_stop_request_violations_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ContractViolation) as info:
        check_stop_request(stop_request(**change))
    assert info.value.field == field


def test_violation_message_says_what_was_expected() -> None:
    with pytest.raises(ContractViolation) as info:
        check_alert(alert(severity="high"))
    assert str(info.value) == "severity: got 'high', expected one of info, warning, critical"
