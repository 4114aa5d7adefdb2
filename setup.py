"""Build step: compiles the detection engine's per-record path to C with mypyc; everything else stays Python.

Replay and the live detector spend their time in a few modules that every record passes through (ordering,
motion, the detectors, the replay loop). mypyc turns those type-annotated modules into C extension modules that behave
like the Python ones, byte for byte in their outputs (tests/anomaly/test_compiled.py), about three times as fast.
The sources stay the single definition: ``TRUCKGUARD_PURE_PYTHON=1 pip install -e .`` installs them uncompiled, and
the same variable at run time makes an installed build run its sources (telematics/compiled.py).

An editable install puts the compiled modules next to their sources; after editing one of the modules below,
re-run the install; until then the package runs the Python sources and warns (telematics/compiled.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent

COMPILED_MODULES = [
    "anomaly/config.py",
    "anomaly/engine.py",
    "anomaly/observation.py",
    "anomaly/ordering.py",
    "anomaly/kinematics.py",
    "anomaly/spatial.py",
    "anomaly/geometry.py",
    "anomaly/findings.py",
    "anomaly/incidents.py",
    "anomaly/vehicle_state.py",
    "anomaly/detectors/access.py",
    "anomaly/detectors/behaviour.py",
    "anomaly/detectors/equipment.py",
    "anomaly/detectors/fusion.py",
    "anomaly/detectors/motion.py",
    "anomaly/detectors/ramming.py",
    "anomaly/detectors/safety_systems.py",
    "anomaly/detectors/states.py",
    "anomaly/detectors/trip.py",
    "anomaly/detectors/zones.py",
    "telematics/geo.py",
    "telematics/parse.py",
    "telematics/records.py",
    "ingest/pipeline.py",
    "ingest/replay.py",
]
"""The per-record path. Keep msgspec types out of these modules (mypyc cannot compile them): see telematics/wire.py."""


def _fingerprints() -> dict[str, str]:
    return {name: hashlib.sha256((HERE / name).read_bytes()).hexdigest() for name in COMPILED_MODULES}


def _ext_modules() -> list:
    if os.environ.get("TRUCKGUARD_PURE_PYTHON", "") not in ("", "0"):
        (HERE / "telematics" / "compiled.json").unlink(missing_ok=True)
        return []
    from mypyc.build import mypycify

    # telematics/compiled.py compares these with the sources at import time, so an outdated build is never used.
    (HERE / "telematics" / "compiled.json").write_text(json.dumps(_fingerprints(), indent=1, sort_keys=True) + "\n")
    return mypycify(COMPILED_MODULES, opt_level="3")


setup(ext_modules=_ext_modules())
