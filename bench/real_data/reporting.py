"""Describes how real devices report (cadence by motion state, GNSS jitter and spikes), for thresholds to rest on.

    python bench/real_data/reporting.py                       # every bundle under /tmp/real-bundles
    python bench/real_data/reporting.py /tmp/real-bundles/otr-trucks

For each bundle: the gap between consecutive records of a vehicle while it moves and while it stands (quantiles),
how often a moving vehicle is silent longer than 2, 5 and 15 minutes before it reports again, how far the fixes of
a standing vehicle scatter, how often two fixes imply an impossible speed (a GNSS spike), and how the reported speed
compares with the distance between fixes. "Moving" is a reported speed of at least 5 km/h, or, where the source
reports none, at least 50 m between fixes; "standing" is a reported 0-2 km/h (or under 20 m between fixes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import DEFAULT_BUNDLES, Fixes, metres, read_fixes

SPIKE_KMH = 200.0
"""A fix-to-fix speed above this, over at least 5 s, is not a road vehicle: a GNSS jump (or a clock error)."""
QUANTILES = (50, 90, 95, 99)


def gaps_by_state(tracks: dict[str, Fixes]) -> tuple[list[float], list[float]]:
    """Seconds from a record to the vehicle's next one, by the motion state at the first record."""
    moving: list[float] = []
    standing: list[float] = []
    for f in tracks.values():
        for i in range(len(f.ts_ms) - 1):
            gap = (f.ts_ms[i + 1] - f.ts_ms[i]) / 1000
            if gap <= 0:
                continue
            speed = f.speed[i]
            if speed is None:
                step = metres(f.lat[i - 1], f.lon[i - 1], f.lat[i], f.lon[i]) if i > 0 else float("nan")
                state = "moving" if step >= 50 else "standing" if step < 20 else ""
            else:
                state = "moving" if speed >= 5 else "standing" if speed <= 2 else ""
            if state == "moving":
                moving.append(gap)
            elif state == "standing":
                standing.append(gap)
    return moving, standing


def standing_scatter(tracks: dict[str, Fixes]) -> list[float]:
    """Metres between consecutive fixes of a vehicle reporting 0 km/h both times (receiver noise while parked)."""
    steps = []
    for f in tracks.values():
        for i in range(1, len(f.ts_ms)):
            if f.speed[i] == 0 and f.speed[i - 1] == 0 and f.ts_ms[i] - f.ts_ms[i - 1] <= 3_600_000:
                step = metres(f.lat[i - 1], f.lon[i - 1], f.lat[i], f.lon[i])
                if step == step:
                    steps.append(step)
    return steps


def chord_kmh(tracks: dict[str, Fixes]) -> tuple[int, int, list[float]]:
    """Pairs of fixes; those implying more than SPIKE_KMH; reported/chord speed ratio over 20-90 s chords."""
    pairs = spikes = 0
    ratios: list[float] = []
    for f in tracks.values():
        for i in range(1, len(f.ts_ms)):
            dt = (f.ts_ms[i] - f.ts_ms[i - 1]) / 1000
            step = metres(f.lat[i - 1], f.lon[i - 1], f.lat[i], f.lon[i])
            if dt < 5 or step != step:
                continue
            pairs += 1
            kmh = step / dt * 3.6
            if kmh > SPIKE_KMH:
                spikes += 1
            reported = f.speed[i]
            if reported is not None and reported >= 10 and kmh >= 10 and 20 <= dt <= 90:
                ratios.append(reported / kmh)
    return pairs, spikes, ratios


def quantiles(values: list[float]) -> str:
    if not values:
        return "-"
    q = np.percentile(values, QUANTILES)
    return " ".join(f"p{p} {v:,.0f}" for p, v in zip(QUANTILES, q, strict=True))


def profile(bundle: Path) -> str:
    tracks = read_fixes(bundle)
    moving, standing = gaps_by_state(tracks)
    scatter = standing_scatter(tracks)
    pairs, spikes, ratios = chord_kmh(tracks)
    lines = [f"== {bundle.name}: {sum(len(f.ts_ms) for f in tracks.values()):,} records, {len(tracks)} vehicles"]
    lines.append(f"   gap after a moving record (s):   {quantiles(moving)}   (n {len(moving):,})")
    if moving:
        m = np.array(moving)
        lines.append(
            "   moving, silent before the next record: "
            + ", ".join(f"> {t // 60} min {100 * (m > t).mean():.1f} %" for t in (120, 300, 900))
        )
    lines.append(f"   gap after a standing record (s): {quantiles(standing)}   (n {len(standing):,})")
    if scatter:
        lines.append(f"   standing at 0 km/h, fix-to-fix scatter (m): {quantiles(scatter)}")
    lines.append(f"   fix pairs >= 5 s apart implying > {SPIKE_KMH:.0f} km/h: {spikes} of {pairs:,}")
    if ratios:
        lines.append(
            f"   reported speed / fix-to-fix speed (20-90 s chords, both >= 10 km/h): median {np.median(ratios):.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="*", type=Path, help=f"bundle directories (default: all in {DEFAULT_BUNDLES})")
    args = parser.parse_args(argv)
    bundles = args.bundles or sorted(p for p in DEFAULT_BUNDLES.iterdir() if (p / "telemetry.jsonl").is_file())
    for bundle in bundles:
        print(profile(bundle), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
