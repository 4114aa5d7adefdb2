"""The vehicle's own alarms and its telematics unit's health: panic button, external power, GNSS jamming flag."""

from __future__ import annotations

import msgspec

from anomaly.findings import Finding, kmh, track
from anomaly.incidents import Incident
from anomaly.observation import Observation


class PanicState(msgspec.Struct, kw_only=True):
    incident: Incident = msgspec.field(default_factory=Incident)


class Panic:
    """The driver pressed the panic button: always critical, at once."""

    name = "panic"
    state_type = PanicState
    clear_ms = 10 * 60_000

    def observe(self, obs: Observation, state: PanicState) -> list[Finding]:
        finding = track(
            self.name,
            state.incident,
            obs.record.panic is True,
            obs.ts_ms,
            hold_ms=0,
            clear_ms=self.clear_ms,
            severity=lambda: "critical",
            score=lambda: 1.0,
            evidence=lambda: {"speed_kmh": kmh(obs.speed_kmh), "summary": "panic button pressed"},
        )
        return [finding] if finding else []


class PowerState(msgspec.Struct, kw_only=True):
    incident: Incident = msgspec.field(default_factory=Incident)
    last_supplied_v: float | None = None


class PowerCut:
    """External supply drops to near 0 V after the unit was powered: cut, or the unit torn out."""

    name = "power_cut"
    state_type = PowerState
    cut_below_v = 2.0
    supplied_from_v = 6.0
    clear_ms = 2 * 60_000

    def observe(self, obs: Observation, state: PowerState) -> list[Finding]:
        volts = obs.record.ext_power_v
        if volts is None:
            return []
        was_supplied = state.last_supplied_v
        cut = volts < self.cut_below_v and (was_supplied is not None or state.incident.is_open)
        if volts >= self.supplied_from_v:
            state.last_supplied_v = volts
        # Disconnecting the battery in the yard with the engine off is maintenance, not a cut to hide a theft.
        maintenance = obs.record.ignition is False and not obs.moving and obs.site is not None
        finding = track(
            self.name,
            state.incident,
            cut,
            obs.ts_ms,
            hold_ms=0,
            clear_ms=self.clear_ms,
            severity=lambda: "warning" if maintenance else "critical",
            score=lambda: 0.5 if maintenance else 0.85,
            evidence=lambda: {
                "ext_power_v": volts,
                "previous_v": was_supplied,
                "speed_kmh": kmh(obs.speed_kmh),
                "summary": f"external power fell to {volts:g} V, running on the backup battery",
            },
        )
        return [finding] if finding else []


class JammingState(msgspec.Struct, kw_only=True):
    incident: Incident = msgspec.field(default_factory=Incident)


class GnssJamming:
    """The device's own RF jamming detector fired; critical once it lasts a minute while moving."""

    name = "gnss_jamming"
    state_type = JammingState
    clear_ms = 5 * 60_000
    critical_after_ms = 60_000

    def observe(self, obs: Observation, state: JammingState) -> list[Finding]:
        incident = state.incident
        jammed = obs.record.gnss_jamming is True
        lasted = obs.ts_ms - incident.onset_ms if incident.onset_ms is not None else 0
        finding = track(
            self.name,
            incident,
            jammed,
            obs.ts_ms,
            hold_ms=0,
            clear_ms=self.clear_ms,
            severity=lambda: "critical" if obs.moving and lasted >= self.critical_after_ms else "warning",
            score=lambda: 0.9 if obs.moving else 0.6,
            evidence=lambda: {
                "source": "device_flag",
                "gnss_fix": obs.record.gnss_fix,
                "lasted_s": round(lasted / 1000),
                "speed_kmh": kmh(obs.speed_kmh),
                "summary": "the unit reports GNSS jamming",
            },
        )
        return [finding] if finding else []
