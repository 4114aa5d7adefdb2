"""Benchmark of `truckguard zones import-osm`: seconds, throughput and peak memory per OpenStreetMap extract.

    python bench/bench_osm_import.py EXTRACT [EXTRACT ...] [--timezone Europe/Berlin]

Each extract (.osm.pbf or .osm) is imported in a child process of its own, by the same function as the command
(telematics.osm_zones.import_osm_zones), so its peak resident memory is the import's alone. Prints one JSON
object per extract: size, seconds, MB/s, zones found and areas skipped, peak RSS. The target (issue 16) is a city
extract of 50 MB in under 60 s with bounded memory. No extract ships with truckguard: download one of your area
(for example from Geofabrik or BBBike); the figures in the README say which extract they were measured on.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telematics.osm_zones import import_osm_zones


def _import_one(path: str, timezone: str, results: multiprocessing.Queue) -> None:
    started = time.perf_counter()
    collection, summary = import_osm_zones(Path(path), timezone)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    results.put({"seconds": round(seconds, 2), "zones": len(collection["features"]),
                 "skipped": len(summary.skipped), "peak_rss_mb": round(peak_kib / 1024, 1)})


def measure(path: Path, timezone: str) -> dict[str, object]:
    """Imports one extract in a fresh process and returns its figures."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of this one in its peak memory
    results: multiprocessing.Queue = context.Queue()
    child = context.Process(target=_import_one, args=(str(path), timezone, results))
    child.start()
    figures = results.get()
    child.join()
    size_mb = path.stat().st_size / 1e6
    return {"extract": path.name, "size_mb": round(size_mb, 2), **figures,
            "mb_per_s": round(size_mb / max(float(figures["seconds"]), 1e-6), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("extracts", nargs="+", type=Path)
    parser.add_argument("--timezone", default="Europe/Berlin")
    args = parser.parse_args()
    machine = {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()}
    print(json.dumps({"machine": machine}))
    for path in args.extracts:
        print(json.dumps(measure(path, args.timezone)), flush=True)


if __name__ == "__main__":
    main()
