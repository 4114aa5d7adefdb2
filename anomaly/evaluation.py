"""Scores detector output (alerts, stop requests) against labels: recall, delays, lead times, false alerts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec
import polars as pl

from telematics.errors import BadInput
from telematics.kinds import EARLY_RAMMING_KINDS
from telematics.outputs import SEVERITIES
from telematics.timeutil import TimestampError, parse_rfc3339_ms

LABELS_FORMAT = "truckguard.labels.v1"
DEFAULT_GRACE_S = 60.0
RENTAL_RAMMING = "rental_ramming"
"""A rental hired for the attack never left its hirer's control: every other ramming is a hijack or a theft."""
LOUD_SEVERITIES = ("warning", "critical")
"""The severities a dispatcher is asked to act on: the issue's false-alarm target counts these."""
GROUPINGS = ("device_profile", "driving_profile", "cadence")
"""How per-vehicle figures are grouped: the labels' device and driving profiles, and the moving cadence."""
CADENCE_BUCKETS = ((15, "<=15 s"), (45, "30 s"))
"""Moving report period up to 15 s, up to 45 s (the 30 s class), else the 60 s class."""


class LabelsError(BadInput):
    """labels.json is malformed; the message names the field at fault and what was expected."""


class OutputRecordError(BadInput):
    """An alert or stop request lacks a field the evaluation needs, or has a malformed one."""


@dataclass(frozen=True)
class TypeScore:
    """Recall and detection delay (seconds from incident start to the first expected alert) for one incident type."""

    type: str
    incidents: int
    detected: int
    recall: float
    delay_median_s: float | None
    delay_p90_s: float | None


@dataclass(frozen=True)
class RammingScore:
    """Incidents that end inside a protected zone: how many were flagged, and stopped, before the zone entry."""

    incidents: int
    detected_before_entry: int
    share_detected_before_entry: float | None
    lead_time_median_s: float | None
    """Zone entry minus the first ramming_risk or hijack_suspected alert, over incidents detected before entry."""
    stop_request_before_entry: int
    share_stop_request_before_entry: float | None
    control_loss_incidents: int = 0
    """Rammings by a hijacked or stolen vehicle (not a rental hired for the attack): issue 3's stop-request target."""
    control_loss_stop_request_before_entry: int = 0
    share_control_loss_stop_request_before_entry: float | None = None


@dataclass(frozen=True)
class FalseAlertScore:
    severity: str
    count: int
    per_1000_vehicle_hours: float


@dataclass(frozen=True)
class GroupScore:
    """The issue's figures for the vehicles of one device profile, driving profile or cadence class."""

    grouping: str
    """"device_profile", "driving_profile" or "cadence"."""
    group: str
    vehicles: int
    vehicle_hours: float
    false_loud_alerts: int
    """False warning and critical alerts."""
    false_loud_per_1000_vehicle_hours: float
    false_loud_by_kind: dict[str, int]
    false_stop_requests: int
    """Stop requests outside every incident window: on normal days and normal stretches."""
    incidents: int
    detected: int
    recall: float | None
    ramming: RammingScore


@dataclass(frozen=True)
class EvaluationReport:
    """Everything evaluate() measured; to_dict() gives plain JSON-ready values."""

    vehicle_hours: float
    grace_s: float
    incidents: int
    detected: int
    recall: float | None
    by_type: list[TypeScore]
    ramming: RammingScore
    false_alerts: list[FalseAlertScore]
    """One row per severity, then "total"."""
    false_alerts_by_kind: dict[str, int]
    false_alerts_by_hard_case: dict[str, int]
    """False alerts that fall on a labelled hard case (a tunnel, a detour, ...), by hard-case kind."""
    false_stop_requests: int
    false_stop_requests_per_1000_vehicle_hours: float
    kind_coverage: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per expected alert kind: in how many incidents it was expected and in how many it was raised."""
    missed: list[str] = field(default_factory=list)
    by_group: list[GroupScore] = field(default_factory=list)
    """The same figures per device profile, driving profile and cadence class (labels that name them)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- inputs


def _ms(value: Any, where: str, error: type[ValueError]) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        try:
            return parse_rfc3339_ms(value)
        except TimestampError as exc:
            raise error(f"{where}: {exc}") from None
    raise error(f"{where}: got {value!r}, expected RFC 3339 text or epoch milliseconds")


def _incident_rows(labels: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(labels, Mapping):
        raise LabelsError(f"labels: got {type(labels).__name__}, expected the labels.json object")
    if labels.get("format", LABELS_FORMAT) != LABELS_FORMAT:
        raise LabelsError(f"labels.format: got {labels.get('format')!r}, expected {LABELS_FORMAT!r}")
    incidents = labels.get("incidents")
    if not isinstance(incidents, list):
        raise LabelsError("labels.incidents: missing, expected a list of incidents")
    rows = []
    for i, inc in enumerate(incidents):
        where = f"labels.incidents[{i}]"
        if not isinstance(inc, Mapping):
            raise LabelsError(f"{where}: expected an object")
        for key in ("incident_id", "type", "vehicle_id"):
            if not isinstance(inc.get(key), str):
                raise LabelsError(f"{where}.{key}: got {inc.get(key)!r}, expected text")
        expected = inc.get("expected_alerts")
        if not isinstance(expected, list) or not all(isinstance(k, str) for k in expected):
            raise LabelsError(f"{where}.expected_alerts: got {expected!r}, expected a list of alert kinds")
        start = _ms(inc.get("start"), f"{where}.start", LabelsError)
        end = _ms(inc.get("end"), f"{where}.end", LabelsError)
        if end < start:
            raise LabelsError(f"{where}.end: {inc.get('end')!r} is before start {inc.get('start')!r}")
        entry = inc.get("zone_entry_ts")
        rows.append({
            "incident_id": inc["incident_id"], "type": inc["type"], "vehicle_id": inc["vehicle_id"],
            "start_ms": start, "end_ms": end, "expected": list(expected),
            "zone_entry_ms": None if entry is None else _ms(entry, f"{where}.zone_entry_ts", LabelsError),
        })
    return rows


def _hard_case_rows(labels: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for i, case in enumerate(labels.get("hard_cases") or []):
        where = f"labels.hard_cases[{i}]"
        if not isinstance(case, Mapping) or not isinstance(case.get("kind"), str):
            raise LabelsError(f"{where}: expected an object with kind, vehicle_id, start and end")
        rows.append({"hc_kind": case["kind"], "vehicle_id": str(case.get("vehicle_id")),
                     "hc_start_ms": _ms(case.get("start"), f"{where}.start", LabelsError),
                     "hc_end_ms": _ms(case.get("end"), f"{where}.end", LabelsError)})
    return rows


def vehicle_groups(labels: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """grouping -> group -> vehicle ids, from the labels' vehicle entries (absent profile fields: no grouping)."""
    out: dict[str, dict[str, list[str]]] = {g: {} for g in GROUPINGS}
    for i, vehicle in enumerate(labels.get("vehicles") or []):
        if not isinstance(vehicle, Mapping) or not isinstance(vehicle.get("vehicle_id"), str):
            raise LabelsError(f"labels.vehicles[{i}]: expected an object with a vehicle_id")
        vid = vehicle["vehicle_id"]
        for grouping in ("device_profile", "driving_profile"):
            if isinstance(vehicle.get(grouping), str):
                out[grouping].setdefault(vehicle[grouping], []).append(vid)
        device = vehicle.get("device")
        period = device.get("period_moving_s") if isinstance(device, Mapping) else None
        if isinstance(period, int | float) and not isinstance(period, bool):
            out["cadence"].setdefault(cadence_class(float(period)), []).append(vid)
    return {g: groups for g, groups in out.items() if groups}


def _group_order(grouping: str, group: str) -> tuple[int, str]:
    if grouping == "cadence":
        return ([name for _, name in CADENCE_BUCKETS] + ["60 s"]).index(group), group
    return 0, group


def cadence_class(period_moving_s: float) -> str:
    """The cadence class of a unit's moving report period: "<=15 s", "30 s" or "60 s"."""
    for limit, name in CADENCE_BUCKETS:
        if period_moving_s <= limit:
            return name
    return "60 s"


def _as_mapping(item: Any) -> Mapping[str, Any]:
    if isinstance(item, Mapping):
        return item
    if isinstance(item, msgspec.Struct):
        return msgspec.structs.asdict(item)
    raise OutputRecordError(f"got {type(item).__name__}, expected an alert or stop request object")


def _alert_rows(alerts: Iterable[Any]) -> list[dict[str, Any]]:
    rows = []
    for n, raw in enumerate(alerts):
        alert = _as_mapping(raw)
        where = f"alerts[{n}]"
        for key in ("vehicle_id", "kind", "severity"):
            if not isinstance(alert.get(key), str):
                raise OutputRecordError(f"{where}.{key}: got {alert.get(key)!r}, expected text")
        if alert["severity"] not in SEVERITIES:
            raise OutputRecordError(f"{where}.severity: got {alert['severity']!r}, expected one of {SEVERITIES}")
        rows.append({"alert_n": n, "vehicle_id": alert["vehicle_id"], "kind": alert["kind"],
                     "severity": alert["severity"], "ts_ms": _ms(alert.get("ts"), f"{where}.ts", OutputRecordError)})
    return rows


def _stop_rows(stop_requests: Iterable[Any]) -> list[dict[str, Any]]:
    rows = []
    for n, raw in enumerate(stop_requests):
        request = _as_mapping(raw)
        where = f"stop_requests[{n}]"
        if not isinstance(request.get("vehicle_id"), str):
            raise OutputRecordError(f"{where}.vehicle_id: got {request.get('vehicle_id')!r}, expected text")
        rows.append({"stop_n": n, "vehicle_id": request["vehicle_id"],
                     "ts_ms": _ms(request.get("ts"), f"{where}.ts", OutputRecordError)})
    return rows


Schema = dict[str, pl.DataType | type[pl.DataType]]
_INCIDENT_SCHEMA: Schema = {"incident_id": pl.Utf8, "type": pl.Utf8, "vehicle_id": pl.Utf8, "start_ms": pl.Int64,
                            "end_ms": pl.Int64, "expected": pl.List(pl.Utf8), "zone_entry_ms": pl.Int64}
_ALERT_SCHEMA: Schema = {"alert_n": pl.Int64, "vehicle_id": pl.Utf8, "kind": pl.Utf8, "severity": pl.Utf8,
                         "ts_ms": pl.Int64}
_STOP_SCHEMA: Schema = {"stop_n": pl.Int64, "vehicle_id": pl.Utf8, "ts_ms": pl.Int64}
_HARD_CASE_SCHEMA = {"hc_kind": pl.Utf8, "vehicle_id": pl.Utf8, "hc_start_ms": pl.Int64, "hc_end_ms": pl.Int64}


# ----------------------------------------------------------------------------- scoring


def evaluate(labels: Mapping[str, Any], alerts: Iterable[Any], stop_requests: Iterable[Any], *,
             vehicle_hours: float | None = None, grace_s: float = DEFAULT_GRACE_S) -> EvaluationReport:
    """Score alerts and stop requests (contract dicts or Alert/StopRequest values) against labels.json content.

    An incident is detected when an alert of one of its expected kinds, for its vehicle, has a ts inside
    [start - grace, end + grace]. An alert is false when it lies inside no incident window (with grace) of its
    vehicle; a stop request likewise. vehicle_hours defaults to the labels' own figure.
    """
    hours = vehicle_hours
    if hours is None and isinstance(labels, Mapping):
        hours = labels.get("vehicle_hours")
    if isinstance(hours, bool) or not isinstance(hours, int | float) or hours <= 0:
        raise LabelsError(f"vehicle_hours: got {hours!r}, expected a positive number (passed, or in the labels)")
    grace_ms = int(grace_s * 1000)
    incidents = pl.DataFrame(_incident_rows(labels), schema=_INCIDENT_SCHEMA)
    alert_df = pl.DataFrame(_alert_rows(alerts), schema=_ALERT_SCHEMA)
    stop_df = pl.DataFrame(_stop_rows(stop_requests), schema=_STOP_SCHEMA)
    hard_cases = pl.DataFrame(_hard_case_rows(labels), schema=_HARD_CASE_SCHEMA)

    detections = first_detections(incidents, alert_df, grace_ms)
    by_type = type_scores(incidents, detections)
    false_alerts = outside_incidents(alert_df, incidents, grace_ms)
    false_stops = outside_incidents(stop_df, incidents, grace_ms)
    detected = detections.height
    hours_per_vehicle = _hours_per_vehicle(labels, float(hours))
    by_group = [
        group_score(grouping, group, vids, hours_per_vehicle, incidents, alert_df, stop_df, false_alerts,
                    false_stops, detections, grace_ms)
        for grouping, groups in vehicle_groups(labels).items()
        for group, vids in sorted(groups.items(), key=lambda item: _group_order(grouping, item[0]))
    ] if hours_per_vehicle is not None else []
    return EvaluationReport(
        vehicle_hours=float(hours),
        grace_s=grace_s,
        incidents=incidents.height,
        detected=detected,
        recall=detected / incidents.height if incidents.height else None,
        by_type=by_type,
        ramming=ramming_score(incidents, alert_df, stop_df, grace_ms),
        false_alerts=severity_rates(false_alerts, float(hours)),
        false_alerts_by_kind=_counts(false_alerts, "kind"),
        false_alerts_by_hard_case=hard_case_counts(false_alerts, hard_cases, grace_ms),
        false_stop_requests=false_stops.height,
        false_stop_requests_per_1000_vehicle_hours=round(false_stops.height * 1000.0 / float(hours), 3),
        kind_coverage=kind_coverage(incidents, alert_df, grace_ms),
        missed=sorted(set(incidents["incident_id"].to_list()) - set(detections["incident_id"].to_list())),
        by_group=by_group,
    )


def _hours_per_vehicle(labels: Mapping[str, Any], vehicle_hours: float) -> float | None:
    vehicles = labels.get("vehicles") if isinstance(labels, Mapping) else None
    return vehicle_hours / len(vehicles) if isinstance(vehicles, list) and vehicles else None


def group_score(grouping: str, group: str, vehicle_ids: list[str], hours_per_vehicle: float,
                incidents: pl.DataFrame, alerts: pl.DataFrame, stops: pl.DataFrame, false_alerts: pl.DataFrame,
                false_stops: pl.DataFrame, detections: pl.DataFrame, grace_ms: int) -> GroupScore:
    """The figures restricted to one group's vehicles (their share of the vehicle-hours as the denominator)."""
    mine = pl.col("vehicle_id").is_in(pl.Series(vehicle_ids, dtype=pl.Utf8).implode())
    hours = round(len(vehicle_ids) * hours_per_vehicle, 3)
    loud = false_alerts.filter(mine & pl.col("severity").is_in(LOUD_SEVERITIES))
    own = incidents.filter(mine)
    own_detected = detections.filter(pl.col("incident_id").is_in(own["incident_id"].implode())).height
    return GroupScore(
        grouping=grouping, group=group, vehicles=len(vehicle_ids), vehicle_hours=hours,
        false_loud_alerts=loud.height,
        false_loud_per_1000_vehicle_hours=round(loud.height * 1000.0 / hours, 3) if hours else 0.0,
        false_loud_by_kind=_counts(loud, "kind"), false_stop_requests=false_stops.filter(mine).height,
        incidents=own.height, detected=own_detected,
        recall=round(own_detected / own.height, 4) if own.height else None,
        ramming=ramming_score(own, alerts.filter(mine), stops.filter(mine), grace_ms),
    )


def _in_window(grace_ms: int) -> pl.Expr:
    return (pl.col("ts_ms") >= pl.col("start_ms") - grace_ms) & (pl.col("ts_ms") <= pl.col("end_ms") + grace_ms)


def first_detections(incidents: pl.DataFrame, alerts: pl.DataFrame, grace_ms: int) -> pl.DataFrame:
    """incident_id, type and delay_s of every detected incident (first expected-kind alert in its window)."""
    return (
        incidents.join(alerts, on="vehicle_id", how="inner")
        .filter(_in_window(grace_ms) & pl.col("expected").list.contains(pl.col("kind")))
        .group_by("incident_id", "type", "start_ms")
        .agg(pl.col("ts_ms").min().alias("first_ms"))
        .with_columns(((pl.col("first_ms") - pl.col("start_ms")).clip(lower_bound=0) / 1000.0).alias("delay_s"))
        .sort("incident_id")
    )


def type_scores(incidents: pl.DataFrame, detections: pl.DataFrame) -> list[TypeScore]:
    counts = incidents.group_by("type").agg(pl.len().alias("incidents"))
    delays = detections.group_by("type").agg(
        pl.len().alias("detected"),
        pl.col("delay_s").median().alias("median"),
        pl.col("delay_s").quantile(0.9, interpolation="linear").alias("p90"),
    )
    table = counts.join(delays, on="type", how="left").sort("type")
    return [
        TypeScore(row["type"], row["incidents"], row["detected"] or 0,
                  round((row["detected"] or 0) / row["incidents"], 4), _round(row["median"]), _round(row["p90"]))
        for row in table.iter_rows(named=True)
    ]


def ramming_score(incidents: pl.DataFrame, alerts: pl.DataFrame, stops: pl.DataFrame, grace_ms: int) -> RammingScore:
    ramming = incidents.filter(pl.col("zone_entry_ms").is_not_null())
    total = ramming.height

    def before_entry(outputs: pl.DataFrame) -> pl.DataFrame:
        return (
            ramming.join(outputs, on="vehicle_id", how="inner")
            .filter((pl.col("ts_ms") >= pl.col("start_ms") - grace_ms) & (pl.col("ts_ms") < pl.col("zone_entry_ms")))
            .group_by("incident_id", "zone_entry_ms")
            .agg(pl.col("ts_ms").min().alias("first_ms"))
        )

    early = before_entry(alerts.filter(pl.col("kind").is_in(EARLY_RAMMING_KINDS)))
    stopped = before_entry(stops)
    control_loss = ramming.filter(pl.col("type") != RENTAL_RAMMING)["incident_id"]
    control_loss_stopped = stopped.filter(pl.col("incident_id").is_in(control_loss.implode())).height
    lead = None
    if early.height:
        lead = early.select(((pl.col("zone_entry_ms") - pl.col("first_ms")) / 1000.0).median()).item()
    return RammingScore(
        incidents=total,
        detected_before_entry=early.height,
        share_detected_before_entry=round(early.height / total, 4) if total else None,
        lead_time_median_s=_round(lead),
        stop_request_before_entry=stopped.height,
        share_stop_request_before_entry=round(stopped.height / total, 4) if total else None,
        control_loss_incidents=control_loss.len(),
        control_loss_stop_request_before_entry=control_loss_stopped,
        share_control_loss_stop_request_before_entry=(
            round(control_loss_stopped / control_loss.len(), 4) if control_loss.len() else None
        ),
    )


def outside_incidents(outputs: pl.DataFrame, incidents: pl.DataFrame, grace_ms: int) -> pl.DataFrame:
    """The outputs (alerts or stop requests) that fall inside no incident window of their own vehicle."""
    key = "alert_n" if "alert_n" in outputs.columns else "stop_n"
    covered = (
        outputs.join(incidents.select("vehicle_id", "start_ms", "end_ms"), on="vehicle_id", how="inner")
        .filter(_in_window(grace_ms))
        .select(key)
        .unique()
    )
    return outputs.join(covered, on=key, how="anti").sort(key)


def severity_rates(false_alerts: pl.DataFrame, vehicle_hours: float) -> list[FalseAlertScore]:
    counts = _counts(false_alerts, "severity")
    rows = [FalseAlertScore(s, counts.get(s, 0), round(counts.get(s, 0) * 1000.0 / vehicle_hours, 3))
            for s in SEVERITIES]
    total = false_alerts.height
    return [*rows, FalseAlertScore("total", total, round(total * 1000.0 / vehicle_hours, 3))]


def hard_case_counts(false_alerts: pl.DataFrame, hard_cases: pl.DataFrame, grace_ms: int) -> dict[str, int]:
    """How many false alerts fall on each kind of labelled hard case (an alert may count for several kinds)."""
    if false_alerts.is_empty() or hard_cases.is_empty():
        return {}
    matched = (
        false_alerts.join(hard_cases, on="vehicle_id", how="inner")
        .filter((pl.col("ts_ms") >= pl.col("hc_start_ms") - grace_ms)
                & (pl.col("ts_ms") <= pl.col("hc_end_ms") + grace_ms))
        .select("alert_n", "hc_kind")
        .unique()
    )
    return _counts(matched, "hc_kind")


def kind_coverage(incidents: pl.DataFrame, alerts: pl.DataFrame, grace_ms: int) -> dict[str, dict[str, int]]:
    expected = incidents.explode("expected").rename({"expected": "kind"}).drop_nulls("kind")
    if expected.is_empty():
        return {}
    raised = (
        expected.join(alerts.select("vehicle_id", "kind", "ts_ms"), on=["vehicle_id", "kind"], how="inner")
        .filter(_in_window(grace_ms))
        .select("incident_id", "kind")
        .unique()
    )
    want = _counts(expected, "kind")
    got = _counts(raised, "kind")
    return {kind: {"expected": n, "raised": got.get(kind, 0)} for kind, n in want.items()}


def _counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    if frame.is_empty():
        return {}
    table = frame.group_by(column).agg(pl.len().alias("n")).sort(column)
    return {row[column]: int(row["n"]) for row in table.iter_rows(named=True)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


# ----------------------------------------------------------------------------- report


def _fmt(value: float | None, pattern: str = "{:.1f}") -> str:
    return "-" if value is None else pattern.format(value)


def format_report(report: EvaluationReport) -> str:
    """A plain-text report: per-type recall and delay, ramming lead times, false-alert rates."""
    lines = [
        f"incidents {report.incidents}, detected {report.detected}, recall {_fmt(report.recall, '{:.1%}')}"
        f"   (grace {report.grace_s:g} s, {report.vehicle_hours:g} vehicle-hours)",
        "",
        f"{'incident type':<24}{'n':>5}{'detected':>10}{'recall':>9}{'delay med s':>13}{'delay p90 s':>13}",
    ]
    for row in report.by_type:
        lines.append(f"{row.type:<24}{row.incidents:>5}{row.detected:>10}{row.recall:>9.1%}"
                     f"{_fmt(row.delay_median_s):>13}{_fmt(row.delay_p90_s):>13}")
    r = report.ramming
    lines += [
        "",
        f"ramming incidents {r.incidents}: flagged before zone entry {r.detected_before_entry} "
        f"({_fmt(r.share_detected_before_entry, '{:.1%}')}), median lead time {_fmt(r.lead_time_median_s)} s, "
        f"stop request before entry {r.stop_request_before_entry} "
        f"({_fmt(r.share_stop_request_before_entry, '{:.1%}')}); of the {r.control_loss_incidents} hijack and theft "
        f"rammings {r.control_loss_stop_request_before_entry} "
        f"({_fmt(r.share_control_loss_stop_request_before_entry, '{:.1%}')})",
        "",
        f"{'false alerts':<24}{'count':>7}{'per 1,000 vehicle-hours':>26}",
    ]
    lines += [f"{row.severity:<24}{row.count:>7}{row.per_1000_vehicle_hours:>26.2f}" for row in report.false_alerts]
    lines.append(f"{'false stop requests':<24}{report.false_stop_requests:>7}"
                 f"{report.false_stop_requests_per_1000_vehicle_hours:>26.2f}")
    if report.false_alerts_by_kind:
        lines += ["", "false alerts by kind: " + ", ".join(f"{k} {n}" for k, n in report.false_alerts_by_kind.items())]
    if report.false_alerts_by_hard_case:
        lines.append("false alerts on hard cases: "
                     + ", ".join(f"{k} {n}" for k, n in report.false_alerts_by_hard_case.items()))
    if report.missed:
        lines.append("missed: " + ", ".join(report.missed))
    lines += _group_lines(report.by_group)
    return "\n".join(lines)


_GROUP_TITLES = {"device_profile": "device profile", "driving_profile": "driving profile",
                 "cadence": "moving cadence"}


def _group_lines(groups: list[GroupScore]) -> list[str]:
    """One table per grouping: false warning+critical per 1,000 vehicle-hours, stop requests, recall, rammings."""
    lines: list[str] = []
    for grouping, title in _GROUP_TITLES.items():
        rows = [g for g in groups if g.grouping == grouping]
        if not rows:
            continue
        lines += ["", f"{'by ' + title:<25}{'veh':>4}{'veh-h':>7}{'false w+c':>10}{'/1000 vh':>9}{'stops':>6}"
                      f"{'inc':>5}{'recall':>8}{'ram':>5}{'early':>6}{'lead s':>8}{'stop<entry':>11}{'hij/thf':>8}"]
        for g in rows:
            r = g.ramming
            lines.append(
                f"{g.group:<25}{g.vehicles:>4}{g.vehicle_hours:>7g}{g.false_loud_alerts:>10}"
                f"{g.false_loud_per_1000_vehicle_hours:>9.1f}{g.false_stop_requests:>6}{g.incidents:>5}"
                f"{_fmt(g.recall, '{:.0%}'):>8}{r.incidents:>5}{r.detected_before_entry:>6}"
                f"{_fmt(r.lead_time_median_s):>8}{r.stop_request_before_entry:>11}"
                f"{r.control_loss_stop_request_before_entry:>4}/{r.control_loss_incidents:<3}")
        for g in rows:
            if g.false_loud_by_kind:
                lines.append(f"  {g.group}: " + ", ".join(f"{k} {n}" for k, n in g.false_loud_by_kind.items()))
    if groups:
        lines.append("(veh vehicles, stops false stop requests, inc incidents, ram rammings, early flagged before "
                     "entry, lead median lead time, stop<entry stop request before entry, hij/thf of the hijack "
                     "and theft rammings)")
    return lines
