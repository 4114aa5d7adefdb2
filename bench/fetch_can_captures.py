"""Fetch the public real-truck J1939 captures that `bench/bench_can.py --real DIR` scores, with their provenance.

    python bench/fetch_can_captures.py /tmp/can-captures                # git clone from GitHub
    python bench/fetch_can_captures.py /tmp/can-captures --git-dir Truck_Sentry=/path/to/clone ...

Each capture is written unchanged (candump and PCAN-View trace text, which telematics.canlog reads as they are)
with MANIFEST.json naming its repository, commit, path and licence. CyberTruckResources publishes no licence:
its captures are fetched for local measurement only and must not be committed. SystemsCyber/J1939_Attack_Datasets
is reserved for independent evaluation and is deliberately not fetched.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPOSITORIES = {
    "Truck_Sentry": ("https://github.com/SystemsCyber/Truck_Sentry", "MIT (Copyright (c) 2023 shadyfs)"),
    "CyberTruckResources": ("https://github.com/SystemsCyber/CyberTruckResources", "none published: local use only"),
}
CAPTURES = {
    # name: (repository, path, what it holds); the Truck_Sentry captures are 30 s of one bench truck at 250 kbit/s
    "ts_normal.log": ("Truck_Sentry", "datasets/normal.log", "clean"),
    "ts_tsc1.log": ("Truck_Sentry", "datasets/tsc1.log", "injection: TSC1 from the brake controller's address"),
    "ts_dos_1ms.log": ("Truck_Sentry", "datasets/dos_1ms.log", "dos: id 0 every 1 ms"),
    "ts_dos_full.log": ("Truck_Sentry", "datasets/dos_full.log", "dos: id 0 as fast as the bus allows"),
    "ts_fuzz_1ms_Data_Only.log": ("Truck_Sentry", "datasets/fuzz_1ms_Data_Only.log", "fuzzing: random data"),
    "ts_fuzz_1ms_ID_Only.log": ("Truck_Sentry", "datasets/fuzz_1ms_ID_Only.log", "fuzzing: random ids"),
    "ts_fuzz_1ms_ID_and_Data.log": ("Truck_Sentry", "datasets/fuzz_1ms_ID_and_Data.log", "fuzzing: random both"),
    "ts_address_claim.log": ("Truck_Sentry", "datasets/address_claim.log", "address_claim: SA 0 taken over"),
    "ts_request_overload_engine.log": (
        "Truck_Sentry",
        "datasets/request_overload_engine.log",
        "request_overload: requests to the engine",
    ),
    "ctr_freightliner_2021.log": (
        "CyberTruckResources",
        "02_CAN Logging/candump-2021-10-14_234124.log",
        "clean: another truck, 28 s",
    ),
    "ctr_paccar_mx.trc": (
        "CyberTruckResources",
        "02_CAN Logging/PCAN View on a PACCAR MX.trc",
        "clean: a PACCAR MX engine's bus, 77 s",
    ),
    "ctr_maxxforce_exhaustion.log": (
        "CyberTruckResources",
        "05_J1939/candump-MaxxForceResourceExhaustion.log",
        "transport_protocol: BAM resource exhaustion from every address",
    ),
    "ctr_maxxforce_rts_exhaustion.log": (
        "CyberTruckResources",
        "05_J1939/candump-RTSMaxxForceResourceExhaustion.log",
        "transport_protocol: RTS/CTS resource exhaustion",
    ),
}


def _git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(git_dir), *args], check=True, capture_output=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--git-dir",
        action="append",
        default=[],
        metavar="REPO=PATH",
        help="use an existing clone (or bare mirror) of REPO instead of cloning it",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    git_dirs = {name: Path(path) for name, _, path in (spec.partition("=") for spec in args.git_dir)}
    for name, (url, _) in REPOSITORIES.items():
        if name not in git_dirs:
            target = args.out / "src" / name
            if not target.exists():
                subprocess.run(["git", "clone", "--depth", "1", url, str(target)], check=True)
            git_dirs[name] = target
    manifest = []
    for file_name, (repository, path, what) in CAPTURES.items():
        git_dir = git_dirs[repository]
        (args.out / file_name).write_bytes(_git(git_dir, "show", f"HEAD:{path}"))
        commit = _git(git_dir, "rev-parse", "HEAD").decode().strip()
        url, licence = REPOSITORIES[repository]
        manifest.append(
            {"file": file_name, "repository": url, "commit": commit, "path": path, "licence": licence, "holds": what}
        )
    (args.out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(manifest)} captures in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
