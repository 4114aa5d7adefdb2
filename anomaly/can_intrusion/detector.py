"""The CAN intrusion detector: one vehicle's frames in bus time, in windows, against J1939 and its model; findings out.

Protocol rules (bus load, floods of one id, frames no J1939 node may send, address claims, requests, the
transport protocol) need no model; with the empty model (``CanModel()``) they run alone and the detector learns
the vehicle's own ids and rates online during a baseline. A trained model adds spoofing and injection.

The hot path is one loop over (t, can_id, data) with a pre-computed tuple per known CAN id (shortest gap,
checked payload bits, DLC); protocol frames (address claims, transport protocol, TSC1/XBR), the two speed
signals and unknown ids take slower branches, which normal traffic seldom reaches. Windows are aligned to
multiples of the window length in bus time and close when a later frame arrives (or on ``advance``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from anomaly.can_intrusion.findings import CanDetectorConfig, CanFinding
from anomaly.can_intrusion.frames import as_triples
from anomaly.can_intrusion.model import (
    ADDRESS_CLAIM_PGN,
    CCVS1_PGN,
    CONTROL_PGNS,
    KIND_CLAIM,
    KIND_CONTROL,
    KIND_PERIODIC,
    KIND_TRANSPORT,
    REQUEST_PGN,
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
_PLAIN, _CLAIM, _TRANSPORT, _CONTROL, _WHEEL, _NAV, _TACHO, _POSITION, _REQUEST = range(9)
_BY_KIND = {KIND_CLAIM: _CLAIM, KIND_TRANSPORT: _TRANSPORT, KIND_CONTROL: _CONTROL}
_BY_PGN = {CCVS1_PGN: _WHEEL, VDS_PGN: _NAV, TCO1_PGN: _TACHO, VP_PGN: _POSITION, REQUEST_PGN: _REQUEST}
_PROTOCOL_PGNS = frozenset((TP_CM_PGN, TP_DT_PGN, ADDRESS_CLAIM_PGN, REQUEST_PGN))
"""Judged by their own rules, never by rates or novelty."""
_EDP_BIT = 1 << 25
"""Extended data page: 0 in every J1939 frame (J1939-21); set, the frame is ISO 15765-3 or reserved."""
_FRAME_BITS = 67
"""Bits of an extended data frame around its data, before stuffing: SOF, 29-bit id with SRR/IDE/RTR, control,
CRC, delimiters, ACK, EOF and interframe space (ISO 11898-1)."""
_ESTABLISHED_FRAMES = 20
"""A PGN the model saw this often, periodically, has a settled set of senders: a new one is a spoofer. A PGN seen
less often (on request, on an event) may come from any ECU already on the bus."""
_MAX_BASELINE_IDS = 1024
_MAX_REQUESTED = 64
_LOST_TO_FLOOD = 3
"""Transport packets out of session that a flood explains (the few transfers under way when it began)."""
_ON_CHANGE_PGNS = frozenset((65226,))
"""DM1: once a second and, J1939-73, also when a fault's state changes."""
_NOT_AVAILABLE_16 = 0xFB00
"""Two-byte J1939 values from here up are indicators (not available, error), not measurements."""
_NULL_ADDRESS = 254
_NOT_IN_MODEL = -1
_UNSOLICITED = -2
_CONFLICT_WHY = {_NOT_IN_MODEL: "name_not_in_model", _UNSOLICITED: "unsolicited_repeated_claims"}
_GLOBAL = 255
BYTES_PER_PACKET = 7
MAX_TP_SIZE = 1785
_IDENTITY_BITS = 21


def _signal(message: str, name: str) -> tuple[int, int, float, float]:
    spec = default_database().message(message)
    signal = next(s for s in spec.signals if s.name == name)
    return signal.start, signal.mask, signal.scale, signal.offset


@dataclass(frozen=True, slots=True)
class _WindowFacts:
    """What the attack rules read of one finished window, computed once (CanIntrusionDetector._window_facts)."""

    tally: WindowTally
    floods: dict[int, int]
    """Ids flooding the bus in this window, with their frame counts."""
    load: float
    """Share of the bitrate the window's frames took."""
    sources: set[int]
    new_ids: list[int]
    busy: list[int]
    unknown: dict[int, int]
    bad: dict[int, int]
    bad_frames: int
    fuzz_reasons: dict[str, bool]
    fuzz_like: bool
    active: frozenset[int]
    requests: int
    overloaded: dict[int, int]
    request_overload: bool
    short_gaps: dict[int, int]
    """Frames per id that followed the previous one of that id sooner than its sender ever sends it."""


class CanIntrusionDetector:
    """Pure detector: ``observe_batch(state, frames)`` per vehicle; states are msgspec Structs (see state.py)."""

    def __init__(self, model: CanModel | None = None, config: CanDetectorConfig | None = None) -> None:
        model = model if model is not None else CanModel()
        self.model = model
        self.trained = model.trained
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
        self._model_sas = frozenset(p.sa for p in model.ids.values())
        frames_by_pgn: dict[int, int] = {}
        periodic: set[int] = set()
        for p in model.ids.values():
            frames_by_pgn[p.pgn] = frames_by_pgn.get(p.pgn, 0) + p.frames
            if p.kind == KIND_PERIODIC:
                periodic.add(p.pgn)
        self._established = frozenset(
            pgn for pgn, n in frames_by_pgn.items() if n >= _ESTABLISHED_FRAMES and pgn in periodic
        )
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
        n = nbytes = 0
        last_t = tally.last_t
        for t, can_id, data in triples:
            if t >= window_end:
                tally.frames += n
                tally.payload_bytes += nbytes
                tally.last_t = last_t
                n = nbytes = 0
                findings.extend(self._roll(state, t))
                tally = state.tally
                counts, short, bad = tally.counts, tally.short_gaps, tally.bad_payload
                window_end = state.window_end  # type: ignore[assignment]
                window_start = state.window_start  # type: ignore[assignment]
            n += 1
            nbytes += len(data)
            last_t = t
            counts[can_id] = counts.get(can_id, 0) + 1
            profile = profiles.get(can_id)
            if profile is None:
                self._unknown(state, tally, t, can_id, data)
                continue
            special, min_gap, mask, value, dlc = profile
            previous = last_seen.get(can_id)
            last_seen[can_id] = t
            if previous is not None and t - previous < min_gap and not self._answered(state, can_id, t):
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
        tally.payload_bytes += nbytes
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
        self._learn(state, tally, calm=not flagged)
        if "fuzzing" in flagged or "dos" in flagged:
            state.quiet_since = state.window_end
        state.tally = WindowTally()
        state.window_start = state.window_end = None
        return findings

    def _evaluate(self, state: CanVehicleState, tally: WindowTally) -> dict[str, tuple[float, dict[str, Any]]]:
        """Attack types seen in one finished window, with a score and the evidence."""
        facts = self._window_facts(state, tally)
        flagged: dict[str, tuple[float, dict[str, Any]]] = {}
        for attack, judged in (
            ("dos", self._judge_dos(facts)),
            ("fuzzing", self._judge_fuzzing(facts)),
            ("request_overload", self._judge_request_overload(facts)),
            ("injection", self._judge_injection(facts)),
        ):
            if judged is not None:
                flagged[attack] = judged
        # a flood holds frames back (once it ends they go out back to back) and makes transfers lose frames
        flood = "dos" in flagged
        for attack, judged in (
            ("spoofing", self._judge_spoofing(facts, flood)),
            ("address_claim", self._judge_address_claim(facts)),
            ("transport_protocol", self._judge_transport(facts, flood)),
        ):
            if judged is not None:
                flagged[attack] = judged
        return flagged

    def _window_facts(self, state: CanVehicleState, tally: WindowTally) -> _WindowFacts:
        """What every attack's rule reads of a finished window: floods, novelty, load, requests, fuzzing."""
        cfg, w = self.config, self.window_s
        trained = self.trained
        max_per_window = self._max_per_window
        dos_min = cfg.dos_min_rate_hz * w
        counts = tally.counts
        judged = {k: split_id(k) for k in counts}
        requests_ids = {k for k, (pgn, _) in judged.items() if pgn == REQUEST_PGN}

        floods = {
            can_id: count
            for can_id, count in counts.items()
            if count >= dos_min and can_id not in requests_ids
            and (not trained or count > cfg.dos_factor * max_per_window.get(can_id, 0) + 10)
        }
        load = (tally.frames * _FRAME_BITS + 8 * tally.payload_bytes) / (cfg.bitrate_bps * w)
        # claims and transport frames from many addresses are judged by their own rules (storm, exhaustion)
        sources = {sa for pgn, sa in judged.values() if pgn not in _PROTOCOL_PGNS}
        new_ids, busy = self._novel_ids(state, counts, judged, floods)
        unknown = {k: v for k, v in tally.unknown.items() if k not in floods}
        # ids never seen from ECUs of the vehicle (a fault's DM1, an answer to a request) are tolerated in numbers
        strangers = [k for k in unknown if k & 0xFF not in self._model_sas and k & 0xFF not in state.names]
        # a control id (TSC1/XBR) with an unusual payload is a command, judged as injection below
        bad = {k: v for k, v in tally.bad_payload.items() if k not in floods and k not in self._control_ids}
        bad_frames = sum(bad.values()) + tally.bad_dlc
        fuzz_reasons = {
            "invalid_frames": tally.invalid >= cfg.fuzz_invalid,
            "too_many_sources": len(sources) > cfg.max_nodes,
            "unknown_ids": trained and (len(strangers) >= cfg.fuzz_unknown_ids or len(unknown) >= cfg.fuzz_new_ids),
            "new_ids": len(new_ids) >= cfg.fuzz_new_ids,
            "many_ids_busier": len(busy) >= cfg.fuzz_busy_ids,
            "bad_payloads": bad_frames >= cfg.fuzz_bad_payloads,
        }
        requests = sum(tally.requests.values())
        overloaded = {k: v for k, v in tally.requests.items() if v > cfg.request_pair_max}
        short_gaps = dict(tally.short_gaps)
        for can_id, count in tally.short_across.items():
            short_gaps[can_id] = short_gaps.get(can_id, 0) + count
        return _WindowFacts(
            tally=tally, floods=floods, load=load, sources=sources, new_ids=new_ids, busy=busy, unknown=unknown,
            bad=bad, bad_frames=bad_frames, fuzz_reasons=fuzz_reasons, fuzz_like=any(fuzz_reasons.values()),
            active=frozenset(state.active_sas), requests=requests, overloaded=overloaded,
            request_overload=bool(overloaded) or requests > cfg.request_total_max, short_gaps=short_gaps,
        )

    def _novel_ids(
        self, state: CanVehicleState, counts: dict[int, int], judged: dict[int, tuple[int, int]],
        floods: dict[int, int],
    ) -> tuple[list[int], list[int]]:
        """Without a model, once the baseline is over: the ids it never saw, and those busier than ever in it."""
        cfg = self.config
        new_ids: list[int] = []
        busy: list[int] = []
        baseline_over = (
            not self.trained and state.first_t is not None and state.window_start is not None
            and state.window_start - state.first_t >= cfg.baseline_s
        )
        if baseline_over:
            baseline = state.baseline
            for can_id, count in counts.items():
                if judged[can_id][0] in _PROTOCOL_PGNS or can_id in floods:
                    continue
                most = baseline.get(can_id)
                if most is None:
                    new_ids.append(can_id)
                elif count >= most + cfg.busy_margin:
                    busy.append(can_id)
        return new_ids, busy

    def _repeated_or_calm(self, facts: _WindowFacts, ids: dict[int, int]) -> dict[int, int]:
        """The ids an attack rule may count: not a flood's, and, while a fuzzer runs, only the attacker's own.

        While a fuzzer runs, its random ids land on protocol PGNs by chance and its random payloads hit known
        protocol ids: only an id of the attacker's own that repeats still counts as its own attack.
        """
        floods = facts.floods
        if not facts.fuzz_like:
            return {k: v for k, v in ids.items() if k not in floods}
        if not self.trained:  # the vehicle's own addresses are the fuzzer's targets, not the attacker's
            return {k: v for k, v in ids.items() if k not in floods and v >= 2 and k & 0xFF not in facts.active}
        return {k: v for k, v in ids.items() if k not in floods and v >= 2 and k not in self._profiles}

    def _judge_dos(self, facts: _WindowFacts) -> tuple[float, dict[str, Any]] | None:
        """A flood of one id, a bus loaded past its limit, or (with a model) far more frames than ever."""
        cfg, model, w, trained, tally = self.config, self.model, self.window_s, self.trained, facts.tally
        total_limit = cfg.total_factor * max(model.max_frames_per_window, 1)
        # a request flood is named as such; the rest of the window's traffic is judged for a flood of its own
        others = tally.frames - facts.requests if facts.request_overload else tally.frames
        if not (facts.floods or facts.load >= cfg.bus_load_limit
                or (trained and others > total_limit and not facts.fuzz_like)):
            return None
        top = sorted(facts.floods.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        rate = tally.frames / w
        excess = tally.frames / (2 * total_limit) if trained else facts.load
        score = min(1.0, 0.5 + 0.5 * excess)
        return (
            score,
            {"frames_per_s": round(rate, 1), "bus_load": round(facts.load, 3), "bitrate_bps": cfg.bitrate_bps,
             "normal_max_per_s": round(model.max_frames_per_window / w, 1) if trained else None,
             "flood_ids": [f"0x{k:08x}" for k, _ in top], "flood_frames": [v for _, v in top]},
        )

    def _judge_fuzzing(self, facts: _WindowFacts) -> tuple[float, dict[str, Any]] | None:
        """Random ids or payloads: any of the window's fuzzing reasons."""
        if not facts.fuzz_like:
            return None
        trained, tally, unknown, new_ids = self.trained, facts.tally, facts.unknown, facts.new_ids
        return (
            min(1.0, 0.6 + 0.05 * (len(unknown) + len(new_ids) + facts.bad_frames + tally.invalid)),
            {"reasons": sorted(k for k, v in facts.fuzz_reasons.items() if v),
             "unknown_ids": len(unknown) if trained else len(new_ids),
             "unknown_frames": sum(unknown.values()) if trained else sum(tally.counts[k] for k in new_ids),
             "example_ids": [f"0x{k:08x}" for k in sorted(unknown if trained else new_ids)[:5]],
             "invalid_frames": tally.invalid, "sources": len(facts.sources), "busier_ids": len(facts.busy),
             "bad_payload_frames": facts.bad_frames, "bad_payload_ids": [f"0x{k:08x}" for k in sorted(facts.bad)[:5]]},
        )

    def _judge_request_overload(self, facts: _WindowFacts) -> tuple[float, dict[str, Any]] | None:
        """More requests than one pair of ECUs, or the whole bus, ever needs."""
        if not facts.request_overload:
            return None
        cfg, requests = self.config, facts.requests
        top_pairs = sorted(facts.overloaded.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        return (
            min(1.0, 0.6 + 0.4 * requests / (10 * cfg.request_total_max)),
            {"requests": requests, "requests_per_s": round(requests / self.window_s, 1),
             "pairs": [{"sa": k >> 8, "da": k & 0xFF, "requests": v} for k, v in top_pairs]},
        )

    def _judge_injection(self, facts: _WindowFacts) -> tuple[float, dict[str, Any]] | None:
        """Control commands (TSC1, XBR) from a sender not allowed to give them, or sent faster than any ECU does."""
        control = self._repeated_or_calm(facts, facts.tally.control)
        control_fast = {} if facts.fuzz_like else {
            k: v for k, v in facts.short_gaps.items() if k not in facts.floods and k in self._control_ids and v >= 2
        }
        if not (control or control_fast):
            return None
        ids = sorted(set(control) | set(control_fast))
        return (
            1.0,
            {"ids": [f"0x{k:08x}" for k in ids], "pgns": sorted({split_id(k)[0] for k in ids}),
             "sas": sorted({k & 0xFF for k in ids}),
             "frames": sum(control.values()) + sum(control_fast.values()),
             "allowed_sas": {str(p): sorted(s) for p, s in self._control_senders.items()}},
        )

    def _judge_spoofing(self, facts: _WindowFacts, flood: bool) -> tuple[float, dict[str, Any]] | None:
        """A known message from the wrong address, more often than its sender sends it, or wheel speed that
        disagrees with the navigation speed. During a flood, frames held back come out too fast: not counted."""
        tally, floods, bad, fuzz_like = facts.tally, facts.floods, facts.bad, facts.fuzz_like
        wrong_sa = self._repeated_or_calm(facts, tally.wrong_sa)
        fast: dict[int, int] = {}
        for can_id, count in facts.short_gaps.items():
            if can_id in floods or can_id in bad or self._profiles[can_id][0] in (_CONTROL, _CLAIM, _TRANSPORT):
                continue
            if fuzz_like and can_id not in self._checked:
                continue
            if count >= (2 if self._max_per_window.get(can_id, 0) >= 5 else 1):
                fast[can_id] = count
        if flood:
            fast = {}  # a flood holds frames back; once it ends, they go out back to back
        speed_mismatch = 0 if fuzz_like else tally.speed_mismatch
        if not (wrong_sa or fast or speed_mismatch):
            return None
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
        return min(1.0, 0.7 + 0.05 * (len(wrong_sa) + len(fast) + speed_mismatch)), details

    def _judge_address_claim(self, facts: _WindowFacts) -> tuple[float, dict[str, Any]] | None:
        """A storm of address claims, a claim that takes an ECU's address, or an ECU left without one."""
        cfg, model, tally, fuzz_like = self.config, self.model, facts.tally, facts.fuzz_like
        claim_ids = self._repeated_or_calm(facts, tally.claim_ids)
        storm_limit = max(2 * model.max_claims_per_window, model.max_claims_per_window + cfg.claim_margin,
                          cfg.max_nodes)
        storm = not fuzz_like and tally.claims > storm_limit
        conflicts = [c for c in tally.claim_conflicts if c[3] in claim_ids]
        cannot_claim = 0 if fuzz_like else tally.cannot_claim
        if not (storm or conflicts or cannot_claim):
            return None
        return (
            0.9 if conflicts or cannot_claim else 0.8,
            {"claims": tally.claims, "normal_max": model.max_claims_per_window if self.trained else cfg.max_nodes,
             "storm": storm, "cannot_claim": cannot_claim,
             "conflicts": [{"sa": sa, "held_name": f"0x{held:016x}" if held >= 0 else None,
                            "claimed_name": f"0x{name:016x}", "why": _CONFLICT_WHY.get(held, "name_changed")}
                           for sa, held, name, _ in conflicts[:5]]},
        )

    def _judge_transport(self, facts: _WindowFacts, flood: bool) -> tuple[float, dict[str, Any]] | None:
        """Transport protocol broken (sizes, sequences, packets out of session) or flooded with sessions."""
        cfg, model, trained, tally, fuzz_like = self.config, self.model, self.trained, facts.tally, facts.fuzz_like
        tp_ids = self._repeated_or_calm(facts, tally.tp_ids)
        violations: dict[str, int] = {}
        for what, can_id in tally.tp_violations:
            if can_id in tp_ids:
                violations[what] = violations.get(what, 0) + 1
        rts_limit = model.transport.max_rts_cts_per_window + cfg.rts_cts_margin if trained else cfg.untrained_sessions
        session_limit = (
            model.transport.max_sessions_per_window + cfg.session_margin if trained else cfg.untrained_sessions
        )
        lost = ("packet_without_session", "bad_sequence")
        if flood and sum(violations.get(k, 0) for k in lost) <= _LOST_TO_FLOOD:
            # frames lose arbitration to a flood: the transfers under way lose an announcement or a packet
            for kind in lost:
                violations.pop(kind, None)
        if not fuzz_like and tally.rts_cts > rts_limit:
            violations["rts_cts_flood"] = tally.rts_cts
        if not fuzz_like and tally.sessions > session_limit:
            violations["session_flood"] = tally.sessions
        if not violations:
            return None
        return (
            min(1.0, 0.6 + 0.05 * sum(violations.values())),
            {"violations": violations, "sas": sorted(set(tally.tp_sources))[:10]},
        )

    def _learn(self, state: CanVehicleState, tally: WindowTally, *, calm: bool) -> None:
        """After a window: the SAs on the bus, and (no model) each id's busiest window, from calm windows only."""
        counts = tally.counts
        active = set()
        for can_id in counts:
            pgn, sa = split_id(can_id)
            if pgn != ADDRESS_CLAIM_PGN and sa < _NULL_ADDRESS:
                active.add(sa)
        state.active_sas = sorted(active) if len(active) <= self.config.max_nodes else state.active_sas
        horizon = (tally.last_t or 0.0) - self.config.clear_s
        for sa in [sa for sa, times in state.unsolicited.items() if times[-1] < horizon]:
            del state.unsolicited[sa]
        if not calm:
            return
        if self.trained:
            # ids the vehicle's own ECUs sent in a calm window join its extra ids: seldom seen, not suspect
            names, room = state.names, self.config.max_extra_ids - len(state.extra_ids)
            for can_id in sorted(tally.unknown)[: max(room, 0)]:
                if can_id & 0xFF in self._model_sas or can_id & 0xFF in names:
                    state.extra_ids[can_id] = 1
            return
        baseline = state.baseline
        for can_id, count in counts.items():
            if split_id(can_id)[0] in _PROTOCOL_PGNS:
                continue
            most = baseline.get(can_id)
            if most is None:
                if len(baseline) >= _MAX_BASELINE_IDS:
                    continue
                baseline[can_id] = count
            elif count > most:
                baseline[can_id] = count

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
            return
        if pgn == ADDRESS_CLAIM_PGN:
            self._claim(state, tally, t, can_id, sa, data)
            return
        if pgn == REQUEST_PGN:
            self._request(state, tally, t, can_id, sa, data)
            return
        if can_id & _EDP_BIT or sa == _GLOBAL:
            tally.invalid += 1  # EDP is 0 in J1939 (J1939-21); 255 is the global destination, never a source
        if not self.trained:
            self._untrained(state, tally, t, can_id, data)
            return
        if pgn in CONTROL_PGNS:
            if sa not in self._control_senders[pgn]:
                tally.control[can_id] = tally.control.get(can_id, 0) + 1
            return
        if can_id in state.extra_ids:
            return
        in_warmup = state.first_t is not None and t - state.first_t < self.config.warmup_s
        room = len(state.extra_ids) < self.config.max_extra_ids
        sources = self._pgn_sources.get(pgn)
        if sources is not None:
            if sa in sources:
                return  # another destination of a known PDU1 sender
            # An ECU of the vehicle (in the model, or one that claimed its address on this bus, as J1939-81 has
            # every ECU do before it talks) sending a PGN the model saw seldom (on request, on an event), or any
            # PGN during the warm-up, is learned; a periodic PGN's settled senders never gain a stranger.
            on_bus = sa in self._model_sas or sa in state.names
            if room and on_bus and (in_warmup or pgn not in self._established):
                state.extra_ids[can_id] = 1
            else:
                tally.wrong_sa[can_id] = tally.wrong_sa.get(can_id, 0) + 1
        elif in_warmup and room:
            state.extra_ids[can_id] = 1
        else:
            tally.unknown[can_id] = tally.unknown.get(can_id, 0) + 1

    def _untrained(self, state: CanVehicleState, tally: WindowTally, t: float, can_id: int, data: bytes) -> None:
        """No model: an id keeps the data length it had in the baseline (J1939-21 fixes it per PGN)."""
        known = state.dlc.get(can_id)
        if known is None:
            if (state.first_t is not None and t - state.first_t < self.config.baseline_s
                    and len(state.dlc) < _MAX_BASELINE_IDS):
                state.dlc[can_id] = len(data)
        elif known != len(data):
            tally.bad_dlc += 1

    def _request(self, state: CanVehicleState, tally: WindowTally, t: float, can_id: int, sa: int, data: bytes) -> None:
        """A request (PGN 59904): counted per requester and destination; the PGN asked for is noted."""
        key = (sa << 8) | ((can_id >> 8) & 0xFF)
        tally.requests[key] = tally.requests.get(key, 0) + 1
        if len(data) < 3:
            return
        pgn = data[0] | (data[1] << 8) | (data[2] << 16)
        if pgn == ADDRESS_CLAIM_PGN:
            state.claim_request_t = t
        requested = state.requested
        if pgn not in requested and len(requested) >= _MAX_REQUESTED:
            horizon = t - self.config.answer_s
            for old in [k for k, asked in requested.items() if asked < horizon]:
                del requested[old]
            if len(requested) >= _MAX_REQUESTED:
                return
        requested[pgn] = t

    def _answered(self, state: CanVehicleState, can_id: int, t: float) -> bool:
        """A frame sent out of its period that J1939 allows: an answer to a request for its PGN (J1939-21), or a
        DM1 on a change of fault state (J1939-73)."""
        pgn = split_id(can_id)[0]
        if pgn in _ON_CHANGE_PGNS:
            return True
        asked = state.requested.get(pgn)
        return asked is not None and t - asked <= self.config.answer_s

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
            self._claim(state, tally, t, can_id, can_id & 0xFF, data)
        elif special == _REQUEST:
            self._request(state, tally, t, can_id, can_id & 0xFF, data)
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

    def _claim(
        self, state: CanVehicleState, tally: WindowTally, t: float, can_id: int, sa: int, data: bytes
    ) -> None:
        tally.claims += 1
        tally.claim_ids[can_id] = tally.claim_ids.get(can_id, 0) + 1
        if len(data) != 8:
            return
        if sa == _NULL_ADDRESS:
            tally.cannot_claim += 1  # J1939-81: a CA that lost its address says so from the null address
            return
        name = int.from_bytes(data, "little")
        held = state.names.get(sa)
        if held is None:
            allowed = self._claim_names.get(sa)
            if allowed is not None and name >> _IDENTITY_BITS not in allowed:
                tally.claim_conflicts.append([sa, _NOT_IN_MODEL, name, can_id])
                return
            state.names[sa] = name
        elif held != name:
            tally.claim_conflicts.append([sa, held, name, can_id])
            return
        asked = state.claim_request_t
        if asked is not None and t - asked <= self.config.answer_s:
            return
        # An ECU (re)starting, e.g. after bus-off, claims before it talks (J1939-81): only a claim of an address
        # that is busy sending is a takeover attempt.
        if sa not in state.active_sas and not any(
            k & 0xFF == sa and split_id(k)[0] != ADDRESS_CLAIM_PGN for k in tally.counts
        ):
            return
        times = [x for x in state.unsolicited.get(sa, ()) if t - x < self.config.clear_s]
        times.append(t)
        state.unsolicited[sa] = times
        if len(times) >= self.config.unsolicited_claims:
            tally.claim_conflicts.append([sa, _UNSOLICITED, name, can_id])

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
        # a capture (or a bus tap) that starts in the middle of a transfer sees its last packets alone
        joined_late = state.first_t is not None and t - state.first_t < self.config.capture_start_grace_s
        if da == _GLOBAL:
            session = state.bam.get(sa)
            if session is not None and t - session.last_t > self.config.bam_timeout_s:
                del state.bam[sa]
                session = None
            if session is None:
                if not joined_late:
                    self._violation(tally, can_id, sa, "packet_without_session")
                return
            if sequence != session.received + 1 or sequence > session.packets:
                self._violation(tally, can_id, sa, "bad_sequence")
                del state.bam[sa]
                return
            session.received, session.last_t = sequence, t
            if session.received == session.packets:
                del state.bam[sa]
        elif (sa << 8) | da not in state.rts and not joined_late:
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
            # A sender the model never saw using TP is no violation: ECUs send multi-packet PGNs (DM1, component
            # and vehicle identification) seldom and on request, so a short capture misses them.
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
