"""CAN intrusion benchmark: window-level F1 per attack on a held-out capture, clean-traffic false alarms, frames/s,
each with a trained model and with none (the J1939 protocol rules alone); optionally real trucks' captures.

Run: python bench/bench_can.py [--clean-minutes 10] [--repeat 5] [--real DIR] [--replay-vehicles 20] [--live]
Trains on one simulated drive (and a parked capture), evaluates on another truck's drive (other seed, place,
speeds), then times the detector's hot path on one core. ``--real DIR`` also scores the public captures that
``bench/fetch_can_captures.py DIR`` fetched: windows holding an attack's own frames are its labels.
Replay: the same traffic as can.jsonl (one contract section-5 batch per vehicle and second, as gateways send it),
copied to --replay-vehicles trucks, through `truckguard replay` (replay_bundle): frames/s from the file, whole
path (reading, JSON, frame checks, detector), run under `taskset -c 0` for the one-core figure.
Live (--live): the same batches of --replay-vehicles trucks produced to truckguard.can.v1 on an embedded broker,
then one `truckguard detect` with the model scores them; frames/s from its CAN group's committed offsets, first
commit to last, against the 20 trucks x 2,000 frames/s (40,000 frames/s) a fleet of busy J1939 buses sends.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from anomaly.can_intrusion import CanIntrusionDetector, CanModel, score_frames, train_can_model, window_f1
from anomaly.can_intrusion.frames import Triple, as_triples
from anomaly.can_intrusion.model import ADDRESS_CLAIM_PGN, PROTOCOL_ATTACKS, TP_CM_PGN, TP_DT_PGN, split_id
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
        Attack("address_claim", 0, 3, mode="takeover"),
        Attack("transport_protocol", 0, 3),
        Attack("request_overload", 0, 3),
        Attack("request_overload", 0, 3, mode="global", rate_hz=60),
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
    parser.add_argument("--real", type=Path, default=None, help="captures fetched by bench/fetch_can_captures.py")
    parser.add_argument("--replay-vehicles", type=int, default=20, help="trucks in the can.jsonl replay run")
    parser.add_argument("--live", action="store_true", help="also through the broker and `truckguard detect`")
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
    print(f"\nheld-out capture: {len(capture.frames)} frames, {len(capture.windows())} windows of {model.window_s:g} s")
    for title, used in (("with the trained model", model), ("without a model (protocol rules)", CanModel())):
        windows = score_frames(capture.frames, used, vehicle_id="HELD-7")
        table = window_f1({w.index: w.labels for w in windows}, capture.labels, capture.windows())
        print(f"\n{title}")
        print(f"{'attack':<20}{'windows':>8}{'tp':>6}{'fp':>6}{'fn':>6}{'precision':>11}{'recall':>8}{'F1':>8}  target")
        for attack, row in table.items():
            target = TARGETS.get(attack) if used is model else (0.99 if attack in PROTOCOL_ATTACKS else None)
            verdict = "" if target is None else f"{target:.2f} {'ok' if row['f1'] >= target else 'MISSED'}"
            if used is not model and attack not in PROTOCOL_ATTACKS:
                verdict = "needs a model"
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
    print(f"\nclean traffic: {minutes:g} min, {len(clean)} frames (simulated in {time.perf_counter() - t0:.1f} s)")
    for title, used in (("with the model", model), ("without a model", CanModel())):
        false_alarms = [w for w in score_frames(clean, used, vehicle_id="CLEAN-3") if w.labels]
        print(f"  {title}: {len(false_alarms)} windows with a finding")
        for w in false_alarms[:5]:
            print("    ", w.index, json.dumps(w.details)[:200])

    # throughput: the detector's hot path over the clean traffic plus the attacked capture, best of N
    frames = as_triples(clean) + as_triples(capture.frames)
    frames.sort(key=lambda f: f[0])
    print()
    for title, used in (("with the model", model), ("without a model", CanModel())):
        detector = CanIntrusionDetector(used)
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
            f"throughput {title}: {len(frames) / best:,.0f} frames/s on (t, id, bytes) triples "
            f"(best of {args.repeat} over {len(frames)} frames); {frame_rate_objects:,.0f} frames/s from canlog Frames"
        )
    replay_throughput(frames, model, args.replay_vehicles)
    if args.live:
        live_throughput(frames, model, args.replay_vehicles)
    if args.real is not None:
        real_captures(args.real)


def replay_throughput(frames: list[Triple], model: CanModel, vehicles: int) -> None:
    """frames/s of `truckguard replay` over a can.jsonl of these frames sent by `vehicles` trucks."""
    from ingest.replay import replay_bundle
    from tests.bundles import fleet_with, write_bundle

    by_second: dict[int, list[list[object]]] = {}
    for t, can_id, data in frames:
        by_second.setdefault(int(t), []).append([t, can_id, data.hex()])
    with tempfile.TemporaryDirectory(prefix="truckguard-can-replay-") as tmp:
        ids = [f"CAN-{v:03d}" for v in range(vehicles)]
        bundle = write_bundle(Path(tmp) / "bundle", [], fleet=fleet_with(ids))
        with open(bundle / "can.jsonl", "w") as out:
            for _, rows in sorted(by_second.items()):
                for vehicle_id in ids:
                    out.write(json.dumps({"vehicle_id": vehicle_id, "frames": rows}) + "\n")
        total = len(frames) * vehicles
        size_mb = (bundle / "can.jsonl").stat().st_size / 1e6
        for title, used in (("with the model", model), ("without a model", CanModel())):
            summary = replay_bundle(
                bundle, Path(tmp) / "a.jsonl", Path(tmp) / "s.jsonl", can_model=used, progress=False
            )
            print(
                f"replay of can.jsonl {title}: {total / summary.seconds:,.0f} frames/s ({total:,} frames of "
                f"{vehicles} trucks, {size_mb:.0f} MB, {summary.seconds:.1f} s; CPUs allowed "
                f"{len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.2f})"
            )


def _signature(name: str, normal_sas: set[int]) -> tuple[str, object] | None:
    """The expected attack of a real capture and a test for its own frames (labels come from these, not from
    the detector)."""
    if name.startswith("ts_dos"):
        return "dos", lambda i: i == 0
    if name == "ts_fuzz_1ms_Data_Only.log":
        return "fuzzing", lambda i: i == 0x1FFFFFFF
    if name.startswith("ts_fuzz"):
        return "fuzzing", lambda i: i & 0xFF not in normal_sas
    if name.startswith("ts_request_overload"):
        return "request_overload", lambda i: i == 0x1CEA00F9
    if name == "ts_address_claim.log":
        return "address_claim", lambda i: split_id(i)[0] == ADDRESS_CLAIM_PGN
    if name == "ts_tsc1.log":
        return "injection", lambda i: i == 0x0C00000B
    if "exhaustion" in name:
        return "transport_protocol", lambda i: split_id(i)[0] in (TP_CM_PGN, TP_DT_PGN) and i & 0xFF not in (0, 0xF)
    return None


def real_captures(directory: Path) -> None:
    """Every capture fetched into DIR: its expected attack found or not, windows named wrongly, clean windows
    flagged; with no model, and (Truck_Sentry) with a model trained on that truck's clean capture."""
    from telematics.canlog import read_frames

    def load(path: Path) -> list[Triple]:
        return sorted(as_triples(list(read_frames(path))), key=lambda f: f[0])

    captures = {path.name: load(path) for path in sorted(directory.iterdir()) if path.suffix in (".log", ".trc")}
    normal = captures.get("ts_normal.log", [])
    normal_sas = {f[1] & 0xFF for f in normal}
    truck_model = train_can_model([normal]) if normal else None
    print(f"\nreal captures in {directory} (a window is labelled when it holds a frame of the attack itself)")
    print(
        f"{'capture':<36}{'model':<7}{'windows':>8}{'attack':>20}{'labelled':>9}{'found':>7}"
        f"{'false':>7}  other names in attack windows"
    )
    for name, frames in captures.items():
        signature = _signature(name, normal_sas)
        base = int(frames[0][0])
        labelled = set() if signature is None else {int(t) for t, i, _ in frames if signature[1](i)}  # type: ignore[operator]
        models = [("none", CanModel())]
        if truck_model is not None and name.startswith("ts_"):
            models.append(("truck", truck_model))
        for model_name, used in models:
            if name == "ts_normal.log" and model_name == "truck":
                continue  # its own training capture
            windows = score_frames(frames, used, vehicle_id=name)
            attack = signature[0] if signature else "(clean)"
            found = sum(1 for w in windows if w.index in labelled and attack in w.labels)
            false = sum(1 for w in windows if w.labels and w.index not in labelled)
            others = sorted({a for w in windows if w.index in labelled for a in w.labels} - {attack})
            first = min((w.index - base for w in windows if w.index in labelled and attack in w.labels), default=None)
            print(
                f"{name:<36}{model_name:<7}{len(windows):>8}{attack:>20}{len(labelled):>9}{found:>7}{false:>7}  "
                f"{', '.join(others) or '-'}{'' if first is None else f'  (first at {first} s)'}"
            )


def live_throughput(frames: list[Triple], model: CanModel, vehicles: int) -> None:
    """frames/s of the live CAN loop of `truckguard detect` over batches already on truckguard.can.v1."""
    from kafka import KafkaAdminClient, KafkaProducer

    from ingest.broker import EmbeddedBroker, free_port
    from ingest.processes import start_child, stop_child
    from ingest.topics import CAN, ensure_topics
    from tests.bundles import fleet_with, write_bundle

    by_second: dict[int, list[list[object]]] = {}
    for t, can_id, data in frames:
        by_second.setdefault(int(t), []).append([t, can_id, data.hex()])
    ids = [f"CAN-{v:03d}" for v in range(vehicles)]
    with tempfile.TemporaryDirectory(prefix="truckguard-can-live-") as tmp, EmbeddedBroker(free_port()) as broker:
        ensure_topics(broker.bootstrap, 4)
        bundle = write_bundle(Path(tmp) / "bundle", [], fleet=fleet_with(ids))
        model_path = Path(tmp) / "can-model.json"
        model.save(model_path)
        producer = KafkaProducer(
            bootstrap_servers=broker.bootstrap, linger_ms=20, batch_size=1024 * 1024, max_request_size=8 * 1024 * 1024
        )
        messages = 0
        for _, rows in sorted(by_second.items()):
            for vehicle_id in ids:
                value = json.dumps({"vehicle_id": vehicle_id, "frames": rows}).encode()
                producer.send(CAN, key=vehicle_id.encode(), value=value)
                messages += 1
        producer.flush()
        producer.close()
        total = len(frames) * vehicles
        env = {
            **os.environ,
            "TRUCKGUARD_BOOTSTRAP_SERVERS": broker.bootstrap,
            "TRUCKGUARD_GROUP_ID": "bench-can",
            "TRUCKGUARD_DATA_DIR": tmp,
            "TRUCKGUARD_CHECKPOINT_S": "1",
            "TRUCKGUARD_CAN_MODEL": str(model_path),
        }
        log = Path(tmp) / "detect.log"
        detector = start_child([sys.executable, "-m", "truckguard", "detect", "--reference", str(bundle)], env, log)
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        first: tuple[float, int] | None = None
        try:
            while True:
                offsets = admin.list_group_offsets("bench-can-can").get("bench-can-can", {})
                done = sum(o.offset for tp, o in offsets.items() if tp.topic == CAN and o.offset > 0)
                now = time.monotonic()
                if done > 0 and first is None:
                    first = (now, done)
                if done >= messages:
                    break
                if detector.poll() is not None:
                    raise RuntimeError("the detector exited: " + log.read_text()[-2000:])
                time.sleep(0.2)
        finally:
            stop_child(detector)
            admin.close()
        assert first is not None
        measured = (messages - first[1]) * total / messages
        rate = measured / (time.monotonic() - first[0])
        print(
            f"live CAN loop of `truckguard detect` with the model: {rate:,.0f} frames/s ({total:,} frames of "
            f"{vehicles} trucks in {messages:,} batches; {rate / 40_000:.1f}x the 20 x 2,000 frames/s target; "
            f"load average {os.getloadavg()[0]:.2f})"
        )


if __name__ == "__main__":
    main()
