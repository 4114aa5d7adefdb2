"""CAN intrusion benchmark: window-level F1 per attack on a held-out capture, clean-traffic false alarms, frames/s.

Run: python bench/bench_can.py [--clean-minutes 10] [--repeat 5]
Trains on one simulated drive (and a parked capture), evaluates on another truck's drive (other seed, place,
speeds), then times the detector's hot path on one core.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from anomaly.can_intrusion import CanIntrusionDetector, score_frames, train_can_model, window_f1
from anomaly.can_intrusion.frames import as_triples
from can_sim.can_attacks import Attack, adas_ecu, inject_attacks
from can_sim.truck import DrivenTimeline, SimulatedClock, VehicleState, simulate_truck, standard_ecus
from tests.anomaly.test_can_intrusion_captures import CARD, drive  # the same typical drive the tests capture

START = 1795507200.0
TARGETS = {"dos": 0.99, "fuzzing": 0.99, "spoofing": 0.95, "injection": 0.95}


def attacks_every(start_s: int, end_s: int) -> list[Attack]:
    """A cycle of every attack variant, 3 windows each with a clean window between, from start_s to end_s."""
    cycle = [
        Attack("dos", 0, 3),
        Attack("fuzzing", 0, 3, mode="ids"),
        Attack("fuzzing", 0, 3, mode="payload"),
        Attack("spoofing", 0, 3),
        Attack("spoofing", 0, 3, mode="wrong_sa", target="EEC1"),
        Attack("spoofing", 0, 3, mode="masquerade"),
        Attack("spoofing", 0, 3, target="TCO1"),
        Attack("spoofing", 0, 3, target="DC2"),
        Attack("injection", 0, 3),
        Attack("injection", 0, 3, mode="xbr"),
        Attack("injection", 0, 3, mode="xbr", sa=0x2A),
        Attack("address_claim", 0, 3),
        Attack("address_claim", 0, 2, mode="storm"),
        Attack("transport_protocol", 0, 3),
    ]
    out, t, k = [], start_s, 0
    while t + 3 <= end_s:
        a = cycle[k % len(cycle)]
        out.append(Attack(a.attack, t, t + (a.end_s - a.start_s), a.mode, a.rate_hz, a.target, a.sa))
        t += int(a.end_s - a.start_s) + 1
        k += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean-minutes", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ecus = (*standard_ecus(), adas_ecu())

    t0 = time.perf_counter()
    timeline, duration = drive(52.43, [30, 50, 70, 20], 10.0, odometer_km=1000.0 + 500 * 52.43)
    training = simulate_truck(timeline, duration, clock=SimulatedClock(START), vehicle_id="TRAIN-1", ecus=ecus).frames
    parked = simulate_truck(
        [(0.0, VehicleState(lat=52.4, lon=13.5))],
        120.0,
        clock=SimulatedClock(START + 7200),
        vehicle_id="TRAIN-2",
        ecus=ecus,
    ).frames
    model = train_can_model([training, parked])
    print(f"training: {len(training) + len(parked)} frames, {len(model.ids)} ids ({time.perf_counter() - t0:.1f} s)")

    timeline, duration = drive(
        48.14, [40, 85, 55, 10, 60, 45, 80, 65, 30, 70, 50, 75], 15.0, odometer_km=1000.0 + 500 * 48.14
    )
    held_out = simulate_truck(
        timeline, duration, clock=SimulatedClock(START + 86_400), vehicle_id="HELD-7", ecus=ecus
    ).frames
    moving_from, moving_to = 10, 8 + 15 * 12 - 2
    capture = inject_attacks(held_out, attacks_every(moving_from, moving_to), seed=2024)
    windows = score_frames(capture.frames, model, vehicle_id="HELD-7")
    table = window_f1({w.index: w.labels for w in windows}, capture.labels, capture.windows())
    print(f"\nheld-out capture: {len(capture.frames)} frames, {len(capture.windows())} windows of {model.window_s:g} s")
    print(f"{'attack':<20}{'windows':>8}{'tp':>6}{'fp':>6}{'fn':>6}{'precision':>11}{'recall':>8}{'F1':>8}  target")
    for attack, row in table.items():
        target = TARGETS.get(attack)
        verdict = "" if target is None else f"{target:.2f} {'ok' if row['f1'] >= target else 'MISSED'}"
        print(
            f"{attack:<20}{row['support']:>8}{row['tp']:>6}{row['fp']:>6}{row['fn']:>6}"
            f"{row['precision']:>11.3f}{row['recall']:>8.3f}{row['f1']:>8.3f}  {verdict}"
        )

    # ten minutes of clean traffic: a parked, idling and driving truck, none of it seen in training
    minutes = args.clean_minutes
    seconds = minutes * 60
    legs = [35, 60, 80, 45, 0, 25, 70, 55, 90, 40]
    changes = [(4.0, {"ignition": True, "driver_card_id": CARD})]
    for k, speed in enumerate(legs):
        changes.append(
            (
                10.0 + k * (seconds - 60) / len(legs),
                {"speed_kmh": float(speed), "parking_brake": speed == 0, "heading_deg": 36.0 * k},
            )
        )
    changes.append((seconds - 40, {"speed_kmh": 0.0, "parking_brake": True}))
    changes.append((seconds - 20, {"ignition": False}))
    t0 = time.perf_counter()
    clean = simulate_truck(
        DrivenTimeline(VehicleState(lat=50.1, lon=8.6, odometer_km=77_000.0), changes),
        seconds,
        clock=SimulatedClock(START + 3 * 86_400),
        vehicle_id="CLEAN-3",
        ecus=ecus,
    ).frames
    clean_windows = score_frames(clean, model, vehicle_id="CLEAN-3")
    false_alarms = [w for w in clean_windows if w.labels]
    print(
        f"\nclean traffic: {minutes:g} min, {len(clean)} frames (simulated in {time.perf_counter() - t0:.1f} s): "
        f"{len(false_alarms)} windows with a finding"
    )
    for w in false_alarms[:5]:
        print("  ", w.index, json.dumps(w.details)[:200])

    # throughput: the detector's hot path over the clean ten minutes plus the attacked capture, best of N
    frames = as_triples(clean) + as_triples(capture.frames)
    frames.sort(key=lambda f: f[0])
    detector = CanIntrusionDetector(model)
    best = float("inf")
    for _ in range(args.repeat):
        state = detector.new_state("BENCH")
        started = time.perf_counter()
        detector.observe_batch(state, frames)
        detector.flush(state)
        best = min(best, time.perf_counter() - started)
    from_frames = time.perf_counter()
    state = detector.new_state("BENCH")
    detector.observe_batch(state, clean)
    frame_rate_objects = len(clean) / (time.perf_counter() - from_frames)
    print(
        f"\nthroughput: {len(frames) / best:,.0f} frames/s on (t, id, bytes) triples "
        f"(best of {args.repeat} over {len(frames)} frames); {frame_rate_objects:,.0f} frames/s from canlog Frames"
    )


if __name__ == "__main__":
    main()
