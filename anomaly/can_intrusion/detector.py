"""The CAN intrusion detector: one vehicle's frames in bus time, in windows, against its model; findings out.

The hot path is one loop over (t, can_id, data) with a pre-computed tuple per known CAN id (shortest gap,
checked payload bits, DLC); protocol frames (address claims, transport protocol, TSC1/XBR), the two speed
signals and unknown ids take slower branches, which normal traffic seldom reaches. Windows are aligned to
multiples of the window length in bus time and close when a later frame arrives (or on ``advance``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from anomaly.can_intrusion.findings import CanDetectorConfig, CanFinding
from anomaly.can_intrusion.frames import as_triples
from anomaly.can_intrusion.model import (
    ADDRESS_CLAIM_PGN,
    CCVS1_PGN,
    CONTROL_PGNS,
    KIND_CLAIM,
    KIND_CONTROL,
    KIND_TRANSPORT,
    TCO1_PGN,
    TP_CM_PGN,
    TP_DT_PGN,
    VDS_PGN,
    VP_PGN,
    CanModel,
    split_id,
)
from anomaly.can_intrusion.state import (
    BamSession,
    CanIncident,
    CanVehicleState,
    WindowTally,
    decode_state,
    encode_state,
)
from anomaly.incidents import SEVERITY_RANK
from telematics.j1939 import default_database

# special handling codes in the per-id tuple
_PLAIN, _CLAIM, _TRANSPORT, _CONTROL, _WHEEL, _NAV, _TACHO, _POSITION = range(8)
_BY_KIND = {KIND_CLAIM: _CLAIM, KIND_TRANSPORT: _TRANSPORT, KIND_CONTROL: _CONTROL}
_BY_PGN = {CCVS1_PGN: _WHEEL, VDS_PGN: _NAV, TCO1_PGN: _TACHO, VP_PGN: _POSITION}
_NOT_AVAILABLE_16 = 0xFB00
"""Two-byte J1939 values from here up are indicators (not available, error), not measurements."""
_NULL_ADDRESS = 254
_GLOBAL = 255
BYTES_PER_PACKET = 7
MAX_TP_SIZE = 1785
_IDENTITY_BITS = 21


def _signal(message: str, name: str) -> tuple[int, int, float, float]:
    spec = default_database().message(message)
    signal = next(s for s in spec.signals if s.name == name)
    return signal.start, signal.mask, signal.scale, signal.offset


class CanIntrusionDetector:
    """Pure detector: ``observe_batch(state, frames)`` per vehicle; states are msgspec Structs (see state.py)."""

    def __init__(self, model: CanModel, config: CanDetectorConfig | None = None) -> None:
        self.model = model
        self.config = config or CanDetectorConfig()
        self.window_s = model.window_s
        gap_factor = self.config.gap_factor
        self._profiles: dict[int, tuple[int, float, int, int, int]] = {}
        for can_id, profile in model.ids.items():
            special = _BY_KIND.get(profile.kind, _PLAIN)
            if special == _PLAIN:
                special = _BY_PGN.get(profile.pgn, _PLAIN)
            min_gap = 0.0
            if profile.min_gap_s and special not in (_CLAIM, _TRANSPORT):
                min_gap = profile.min_gap_s * gap_factor
            dlc = profile.dlc[0] if len(profile.dlc) == 1 else -1
            self._profiles[can_id] = (special, min_gap, profile.check_mask, profile.check_value, dlc)
        self._max_per_window = {can_id: p.max_per_window for can_id, p in model.ids.items()}
        self._control_ids = frozenset(can_id for can_id, p in model.ids.items() if p.kind == KIND_CONTROL)
        self._checked = {can_id for can_id, p in model.ids.items() if p.check_mask}
        self._pgn_sources = {pgn: frozenset(sas) for pgn, sas in model.pgn_sources.items()}
        self._control_senders = {pgn: frozenset(model.control_senders.get(pgn, ())) for pgn in CONTROL_PGNS}
        self._claim_names = {sa: frozenset(names) for sa, names in model.claim_names.items()}
        self._tp_senders = {sa: frozenset(pgns) for sa, pgns in model.transport.senders.items()}
        self._wheel = _signal("CCVS1", "WheelBasedVehicleSpeed")
        self._nav = _signal("VDS", "NavigationBasedVehicleSpeed")
        self._tacho = _signal("TCO1", "TachographVehicleSpeed")
        self._lat = _signal("VP", "Latitude")
        self._lon = _signal("VP", "Longitude")

    # -- state ----------------------------------------------------------------------------------------------
    @staticmethod
    def new_state(vehicle_id: str) -> CanVehicleState:
        return CanVehicleState(vehicle_id=vehicle_id)

    @staticmethod
    def snapshot(state: CanVehicleState) -> bytes:
        return encode_state(state)

    @staticmethod
    def restore(snapshot: bytes | str) -> CanVehicleState:
        return decode_state(snapshot)

    # -- frames in ------------------------------------------------------------------------------------------
    def observe_batch(self, state: CanVehicleState, frames: Iterable[Any]) -> list[CanFinding]:
        """Consume one vehicle's frames in bus order; returns findings of the windows that closed."""
        triples = as_triples(frames)
        findings: list[CanFinding] = []
        if not triples:
            return findings
        if state.first_t is None:
            state.first_t = triples[0][0]
        profiles = self._profiles
        last_seen = state.last_seen
        from_bytes = int.from_bytes
        tally = state.tally
        counts, short, bad = tally.counts, tally.short_gaps, tally.bad_payload
        window_end = state.window_end if state.window_end is not None else -math.inf
        window_start = state.window_start if state.window_start is not None else -math.inf
        n = 0
        last_t = tally.last_t
        for t, can_id, data in triples:
            if t >= window_end:
                tally.frames += n
                tally.last_t = last_t
                n = 0
                findings.extend(self._roll(state, t))
                tally = state.tally
                counts, short, bad = tally.counts, tally.short_gaps, tally.bad_payload
                window_end = state.window_end  # type: ignore[assignment]
                window_start = state.window_start  # type: ignore[assignment]
            n += 1
            last_t = t
            counts[can_id] = counts.get(can_id, 0) + 1
            profile = profiles.get(can_id)
            if profile is None:
                self._unknown(state, tally, t, can_id, data)
                continue
            special, min_gap, mask, value, dlc = profile
            previous = last_seen.get(can_id)
            last_seen[can_id] = t
            if previous is not None and t - previous < min_gap:
                if previous >= window_start:
                    short[can_id] = short.get(can_id, 0) + 1
                elif previous >= state.quiet_since:
                    # the earlier frame may be a flood's or a fuzzer's, not a second sender's
                    tally.short_across[can_id] = tally.short_across.get(can_id, 0) + 1
            if (dlc >= 0 and len(data) != dlc) or (mask and from_bytes(data, "little") & mask != value):
                bad[can_id] = bad.get(can_id, 0) + 1
            if special:
                self._special(state, tally, special, t, can_id, data)
        tally.frames += n
        tally.last_t = last_t
        state.frames += len(triples)
        return findings

    def advance(self, state: CanVehicleState, until_t: float) -> list[CanFinding]:
        """Bus time has reached ``until_t`` for this vehicle (a watermark): close the window if it has ended."""
        if state.window_end is None or until_t < state.window_end:
            return []
        return self._close(state)

    def flush(self, state: CanVehicleState) -> list[CanFinding]:
        """Input has ended: close the current window."""
        return self._close(state) if state.window_end is not None else []

    # -- windows --------------------------------------------------------------------------------------------
    def _roll(self, state: CanVehicleState, t: float) -> list[CanFinding]:
        findings = self._close(state) if state.window_end is not None else []
        start = math.floor(t / self.window_s) * self.window_s
        state.window_start, state.window_end = start, start + self.window_s
        state.tally = WindowTally(first_t=t)
        return findings

    def _close(self, state: CanVehicleState) -> list[CanFinding]:
        tally = state.tally
        assert state.window_start is not None and state.window_end is not None
        flagged = self._evaluate(state, tally)
        last_t = tally.last_t if tally.last_t is not None else state.window_start
        findings = self._incidents(state, flagged, state.window_start, state.window_end, last_t)
        if "fuzzing" in flagged or "dos" in flagged:
            state.quiet_since = state.window_end
        state.tally = WindowTally()
        state.window_start = state.window_end = None
        return findings

    def _evaluate(self, state: CanVehicleState, tally: WindowTally) -> dict[str, tuple[float, dict[str, Any]]]:
        """Attack types seen in one finished window, with a score and the evidence."""
        cfg, model, w = self.config, self.model, self.window_s
        flagged: dict[str, tuple[float, dict[str, Any]]] = {}
        max_per_window = self._max_per_window
        dos_min = cfg.dos_min_rate_hz * w

        floods = {
            can_id: count
            for can_id, count in tally.counts.items()
            if count >= dos_min and count > cfg.dos_factor * max_per_window.get(can_id, 0) + 10
        }
        unknown = {k: v for k, v in tally.unknown.items() if k not in floods}
        # a control id (TSC1/XBR) with an unusual payload is a command, judged as injection below
        bad = {k: v for k, v in tally.bad_payload.items() if k not in floods and k not in self._control_ids}
        bad_frames = sum(bad.values())
        fuzz_like = len(unknown) >= cfg.fuzz_unknown_ids or bad_frames >= cfg.fuzz_bad_payloads
        total_limit = cfg.total_factor * max(model.max_frames_per_window, 1)
        if floods or (tally.frames > total_limit and not fuzz_like):
            top = sorted(floods.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
            rate = tally.frames / w
            flagged["dos"] = (
                min(1.0, 0.5 + 0.5 * tally.frames / (2 * total_limit)),
                {"frames_per_s": round(rate, 1), "normal_max_per_s": round(model.max_frames_per_window / w, 1),
                 "flood_ids": [f"0x{k:08x}" for k, _ in top], "flood_frames": [v for _, v in top]},
            )

        def repeated_or_calm(ids: dict[int, int]) -> dict[int, int]:
            # While a fuzzer runs, its random ids land on protocol PGNs by chance and its random payloads hit
            # known protocol ids: only an id of the attacker's own that repeats still counts as its own attack.
            if not fuzz_like:
                return {k: v for k, v in ids.items() if k not in floods}
            return {k: v for k, v in ids.items() if k not in floods and v >= 2 and k not in self._profiles}

        if fuzz_like:
            flagged["fuzzing"] = (
                min(1.0, 0.6 + 0.05 * (len(unknown) + bad_frames)),
                {"unknown_ids": len(unknown), "unknown_frames": sum(unknown.values()),
                 "example_ids": [f"0x{k:08x}" for k in sorted(unknown)[:5]],
                 "bad_payload_frames": bad_frames, "bad_payload_ids": [f"0x{k:08x}" for k in sorted(bad)[:5]]},
            )

        control = repeated_or_calm(tally.control)
        short_gaps = dict(tally.short_gaps)
        for can_id, count in tally.short_across.items():
            short_gaps[can_id] = short_gaps.get(can_id, 0) + count
        control_fast = {} if fuzz_like else {
            k: v for k, v in short_gaps.items() if k not in floods and k in self._control_ids and v >= 2
        }
        if control or control_fast:
            ids = sorted(set(control) | set(control_fast))
            flagged["injection"] = (
                1.0,
                {"ids": [f"0x{k:08x}" for k in ids], "pgns": sorted({split_id(k)[0] for k in ids}),
                 "sas": sorted({k & 0xFF for k in ids}),
                 "frames": sum(control.values()) + sum(control_fast.values()),
                 "allowed_sas": {str(p): sorted(s) for p, s in self._control_senders.items()}},
            )

        wrong_sa = repeated_or_calm(tally.wrong_sa)
        fast: dict[int, int] = {}
        for can_id, count in short_gaps.items():
            if can_id in floods or can_id in bad or self._profiles[can_id][0] in (_CONTROL, _CLAIM, _TRANSPORT):
                continue
            if fuzz_like and can_id not in self._checked:
                continue
            if count >= (2 if max_per_window.get(can_id, 0) >= 5 else 1):
                fast[can_id] = count
        speed_mismatch = 0 if fuzz_like else tally.speed_mismatch
        if wrong_sa or fast or speed_mismatch:
            details: dict[str, Any] = {}
            if wrong_sa:
                details["wrong_sa_ids"] = [f"0x{k:08x}" for k in sorted(wrong_sa)]
                details["wrong_sa_frames"] = sum(wrong_sa.values())
            if fast:
                details["too_fast_ids"] = [f"0x{k:08x}" for k in sorted(fast)]
                details["extra_frames"] = sum(fast.values())
            if speed_mismatch:
                details["speed_mismatch"] = speed_mismatch
                details["wheel_vs_gnss_kmh"] = tally.speed_detail
            flagged["spoofing"] = (min(1.0, 0.7 + 0.05 * (len(wrong_sa) + len(fast) + speed_mismatch)), details)

        claim_ids = repeated_or_calm(tally.claim_ids)
        storm_limit = max(2 * model.max_claims_per_window, model.max_claims_per_window + cfg.claim_margin)
        storm = not fuzz_like and tally.claims > storm_limit
        conflicts = [c for c in tally.claim_conflicts if c[3] in claim_ids]
        if storm or conflicts:
            flagged["address_claim"] = (
                0.9 if conflicts else 0.8,
                {"claims": tally.claims, "normal_max": model.max_claims_per_window, "storm": storm,
                 "conflicts": [{"sa": sa, "held_name": f"0x{held:016x}" if held >= 0 else None,
                                "claimed_name": f"0x{name:016x}"} for sa, held, name, _ in conflicts[:5]]},
            )

        tp_ids = repeated_or_calm(tally.tp_ids)
        violations: dict[str, int] = {}
        for what, can_id in tally.tp_violations:
            if can_id in tp_ids:
                violations[what] = violations.get(what, 0) + 1
        if tally.rts_cts > model.transport.max_rts_cts_per_window + cfg.rts_cts_margin:
            violations["rts_cts_flood"] = tally.rts_cts
        if tally.sessions > model.transport.max_sessions_per_window + cfg.session_margin:
            violations["session_flood"] = tally.sessions
        if violations:
            flagged["transport_protocol"] = (
                min(1.0, 0.6 + 0.05 * sum(violations.values())),
                {"violations": violations, "sas": sorted(set(tally.tp_sources))[:10]},
            )
        return flagged

    def _incidents(
        self, state: CanVehicleState, flagged: dict[str, tuple[float, dict[str, Any]]],
        start: float, end: float, last_t: float,
    ) -> list[CanFinding]:
        cfg = self.config
        findings: list[CanFinding] = []
        for attack in sorted(flagged):
            score, details = flagged[attack]
            incident = state.incidents.get(attack)
            report = False
            if incident is None or start - incident.last_t >= cfg.clear_s:
                incident = state.incidents[attack] = CanIncident(onset_t=start, last_t=end)
                incident.severity = _severity(attack, details, 1, cfg)
                report = True
            else:
                incident.windows += 1
                incident.last_t = end
                severity = _severity(attack, details, incident.windows, cfg)
                if SEVERITY_RANK[severity] > SEVERITY_RANK[incident.severity]:
                    incident.severity = severity
                    incident.revision += 1
                    report = True
            findings.append(
                CanFinding(
                    vehicle_id=state.vehicle_id, attack=attack, window_start=start, window_end=end, ts=last_t,
                    onset=incident.onset_t, severity=incident.severity, score=round(score, 3),
                    revision=incident.revision, report=report, details=details, lat=state.lat, lon=state.lon,
                )
            )
        for attack in [a for a, i in state.incidents.items() if a not in flagged and end - i.last_t >= cfg.clear_s]:
            del state.incidents[attack]
        return findings

    # -- slow branches --------------------------------------------------------------------------------------
    def _unknown(self, state: CanVehicleState, tally: WindowTally, t: float, can_id: int, data: bytes) -> None:
        pgn, sa = split_id(can_id)
        if pgn in (TP_CM_PGN, TP_DT_PGN):
            self._transport(state, tally, t, can_id, pgn, sa, data)
        elif pgn == ADDRESS_CLAIM_PGN:
            self._claim(state, tally, can_id, sa, data)
        elif pgn in CONTROL_PGNS:
            if sa not in self._control_senders[pgn]:
                tally.control[can_id] = tally.control.get(can_id, 0) + 1
        elif can_id in state.extra_ids:
            return
        elif pgn in self._pgn_sources:
            if sa not in self._pgn_sources[pgn]:
                tally.wrong_sa[can_id] = tally.wrong_sa.get(can_id, 0) + 1
        elif (
            state.first_t is not None
            and t - state.first_t < self.config.warmup_s
            and len(state.extra_ids) < self.config.max_extra_ids
        ):
            state.extra_ids[can_id] = 1
        else:
            tally.unknown[can_id] = tally.unknown.get(can_id, 0) + 1

    def _special(
        self, state: CanVehicleState, tally: WindowTally, special: int, t: float, can_id: int, data: bytes
    ) -> None:
        if special == _WHEEL:
            self._wheel_speed(state, tally, t, data)
        elif special == _NAV:
            self._reference_speed(state, t, self._speed(self._nav, data))
        elif special == _TACHO:
            self._reference_speed(state, t, self._speed(self._tacho, data))
        elif special == _POSITION:
            self._position(state, data)
        elif special == _CONTROL:
            pgn, sa = split_id(can_id)
            if sa not in self._control_senders[pgn]:
                tally.control[can_id] = tally.control.get(can_id, 0) + 1
        elif special == _CLAIM:
            self._claim(state, tally, can_id, can_id & 0xFF, data)
        elif special == _TRANSPORT:
            pgn, sa = split_id(can_id)
            self._transport(state, tally, t, can_id, pgn, sa, data)

    def _speed(self, signal: tuple[int, int, float, float], data: bytes) -> float | None:
        start, mask, scale, offset = signal
        if len(data) < 8:
            return None
        raw = (int.from_bytes(data, "little") >> start) & mask
        return None if raw >= _NOT_AVAILABLE_16 else raw * scale + offset

    def _mismatch(self, wheel: float, nav: float) -> bool:
        cfg = self.config
        return abs(wheel - nav) > cfg.speed_tolerance_kmh + cfg.speed_tolerance_frac * max(wheel, nav)

    def _wheel_speed(self, state: CanVehicleState, tally: WindowTally, t: float, data: bytes) -> None:
        """CCVS1 wheel speed, checked against a reference (GNSS or tachograph) that disagreed just before."""
        wheel = self._speed(self._wheel, data)
        reference, reference_t = state.pending_kmh, state.pending_t
        previous = state.wheel_kmh
        window_start = state.window_start if state.window_start is not None else -math.inf
        # a reference from the previous window may be an injected frame whose attack has ended since
        if (reference is not None and reference_t is not None and wheel is not None and reference_t >= window_start
                and self._mismatch(wheel, reference) and previous is not None and not self._mismatch(wheel, previous)):
            # the reference disagreed with the last wheel frame and this one, steady, still does: not a speed
            # change falling between two frames, which the next wheel frame would have followed
            tally.speed_mismatch += 1
            if not tally.speed_detail:
                tally.speed_detail = [round(wheel, 1), round(reference, 1)]
        state.pending_kmh = state.pending_t = None
        state.wheel_kmh, state.wheel_t = wheel, t

    def _reference_speed(self, state: CanVehicleState, t: float, speed: float | None) -> None:
        """A speed that must agree with the wheels: VDS (GNSS) or TCO1 (tachograph)."""
        wheel, wheel_t = state.wheel_kmh, state.wheel_t
        recent = wheel is not None and wheel_t is not None and t - wheel_t <= 1.0
        if speed is not None and recent and self._mismatch(wheel, speed):  # type: ignore[arg-type]
            state.pending_kmh, state.pending_t = speed, t
            return
        state.pending_kmh = state.pending_t = None

    def _position(self, state: CanVehicleState, data: bytes) -> None:
        if len(data) < 8:
            return
        word = int.from_bytes(data, "little")
        values = []
        for start, mask, scale, offset in (self._lat, self._lon):
            raw = (word >> start) & mask
            values.append(None if raw >> 24 >= 0xFB else round(raw * scale + offset, 7))
        lat, lon = values
        if lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180:
            state.lat, state.lon = lat, lon

    def _claim(self, state: CanVehicleState, tally: WindowTally, can_id: int, sa: int, data: bytes) -> None:
        tally.claims += 1
        tally.claim_ids[can_id] = tally.claim_ids.get(can_id, 0) + 1
        if len(data) != 8 or sa == _NULL_ADDRESS:
            return
        name = int.from_bytes(data, "little")
        held = state.names.get(sa)
        if held is None:
            allowed = self._claim_names.get(sa)
            if allowed is not None and name >> _IDENTITY_BITS not in allowed:
                tally.claim_conflicts.append([sa, -1, name, can_id])
                return
            state.names[sa] = name
        elif held != name:
            tally.claim_conflicts.append([sa, held, name, can_id])

    def _violation(self, tally: WindowTally, can_id: int, sa: int, what: str) -> None:
        tally.tp_violations.append((what, can_id))
        tally.tp_ids[can_id] = tally.tp_ids.get(can_id, 0) + 1
        if sa not in tally.tp_sources:
            tally.tp_sources.append(sa)

    def _transport(
        self, state: CanVehicleState, tally: WindowTally, t: float, can_id: int, pgn: int, sa: int, data: bytes
    ) -> None:
        if len(data) != 8:
            self._violation(tally, can_id, sa, "bad_length")
            return
        da = (can_id >> 8) & 0xFF
        if pgn == TP_CM_PGN:
            self._connection(state, tally, t, can_id, sa, da, data)
            return
        sequence = data[0]
        if da == _GLOBAL:
            session = state.bam.get(sa)
            if session is not None and t - session.last_t > self.config.bam_timeout_s:
                del state.bam[sa]
                session = None
            if session is None:
                self._violation(tally, can_id, sa, "packet_without_session")
                return
            if sequence != session.received + 1 or sequence > session.packets:
                self._violation(tally, can_id, sa, "bad_sequence")
                del state.bam[sa]
                return
            session.received, session.last_t = sequence, t
            if session.received == session.packets:
                del state.bam[sa]
        elif (sa << 8) | da not in state.rts:
            self._violation(tally, can_id, sa, "packet_without_session")

    def _connection(
        self, state: CanVehicleState, tally: WindowTally, t: float, can_id: int, sa: int, da: int, data: bytes
    ) -> None:
        control = data[0]
        if control in (16, 32):
            tally.sessions += 1
            size, packets = data[1] | (data[2] << 8), data[3]
            packeted = data[5] | (data[6] << 8) | (data[7] << 16)
            if packets == 0 or packets != -(-size // BYTES_PER_PACKET) or not 9 <= size <= MAX_TP_SIZE:
                self._violation(tally, can_id, sa, "bad_size")
                return
            if packeted not in self._tp_senders.get(sa, ()):
                self._violation(tally, can_id, sa, "unexpected_sender")
            if control == 32:
                if da != _GLOBAL:
                    self._violation(tally, can_id, sa, "bam_to_destination")
                    return
                previous = state.bam.get(sa)
                if previous is not None and t - previous.last_t <= self.config.bam_timeout_s:
                    self._violation(tally, can_id, sa, "bam_overlap")
                state.bam[sa] = BamSession(pgn=packeted, packets=packets, received=0, last_t=t)
                return
            tally.rts_cts += 1
            timeout = self.config.connection_timeout_s
            for key in [k for k, opened in state.rts.items() if t - opened > timeout]:
                del state.rts[key]
            state.rts[(sa << 8) | da] = t
            if len(state.rts) > self.config.max_open_connections:
                self._violation(tally, can_id, sa, "connection_exhaustion")
        elif control == 17:
            tally.rts_cts += 1
        elif control == 19:
            state.rts.pop((da << 8) | sa, None)
        elif control == 255:
            state.rts.pop((da << 8) | sa, None)
            state.rts.pop((sa << 8) | da, None)
            state.bam.pop(sa, None)
        else:
            self._violation(tally, can_id, sa, "bad_control_byte")


def _severity(attack: str, details: dict[str, Any], windows: int, cfg: CanDetectorConfig) -> str:
    if attack == "injection":
        return "critical"
    if attack == "address_claim" and any(c.get("held_name") for c in details.get("conflicts", [])):
        return "critical"  # an address another ECU holds is being taken over
    return "critical" if windows >= cfg.escalate_windows else "warning"
