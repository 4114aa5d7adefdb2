"""The mypyc-compiled per-record path (setup.py) gives the same bytes as its Python sources, and is never stale.

The install compiles the modules setup.py lists; telematics/compiled.py makes the package fall back to the
sources when one of them changed after the build, or when TRUCKGUARD_PURE_PYTHON is set.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from can_sim.scenarios import INCIDENT_TYPES, generate_bundle
from telematics.compiled import PURE_PYTHON_VARIABLE, is_compiled, outdated, read_fingerprints, sources_finder

BUILT = read_fingerprints()
SHOW_ORIGINS = "import anomaly.engine, telematics.geo; print(anomaly.engine.__file__, telematics.geo.__file__)"


def _python(code: str, *, pure: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k != PURE_PYTHON_VARIABLE}
    if pure:
        env[PURE_PYTHON_VARIABLE] = "1"
    done = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", code], env=env, capture_output=True, text=True,
        check=True, timeout=600,
    )
    return done.stdout


def test_a_changed_source_is_outdated_and_its_compiled_module_is_then_not_used(tmp_path: Path) -> None:
    source = tmp_path / "pkg" / "fast.py"
    source.parent.mkdir()
    source.write_text("VALUE = 1\n")
    fingerprints = {"pkg/fast.py": hashlib.sha256(source.read_bytes()).hexdigest()}
    assert outdated(fingerprints, tmp_path) == []  # nothing compiled next to it: nothing to be outdated
    source.with_suffix(EXTENSION_SUFFIXES[0]).write_bytes(b"")
    assert is_compiled(source)
    assert outdated(fingerprints, tmp_path) == []
    source.write_text("VALUE = 2\n")
    assert outdated(fingerprints, tmp_path) == ["pkg/fast.py"]
    spec = sources_finder(fingerprints, tmp_path).find_spec("pkg.fast", None)
    assert spec is not None and spec.origin == str(source)
    assert sources_finder(fingerprints, tmp_path).find_spec("pkg.other", None) is None


@pytest.mark.skipif(not BUILT, reason="installed with TRUCKGUARD_PURE_PYTHON=1: nothing is compiled")
def test_the_installed_build_runs_compiled_unless_told_to_run_the_sources() -> None:
    assert outdated(BUILT) == [], "the compiled modules are older than their sources: re-run the install"
    compiled_origins = _python(SHOW_ORIGINS, pure=False).split()
    source_origins = _python(SHOW_ORIGINS, pure=True).split()
    assert all(not origin.endswith(".py") for origin in compiled_origins), compiled_origins
    assert all(origin.endswith(".py") for origin in source_origins), source_origins


@pytest.mark.skipif(not BUILT, reason="installed with TRUCKGUARD_PURE_PYTHON=1: nothing is compiled")
def test_compiled_and_source_replays_are_the_same_bytes(tmp_path: Path) -> None:
    bundle = tmp_path / "mixed"
    generate_bundle(
        bundle, seed=21, vehicles=14, days=0.5, start=datetime(2026, 12, 2, 18, tzinfo=UTC),
        incidents=len(INCIDENT_TYPES),
    )
    outputs = {}
    for pure in (False, True):
        out = tmp_path / ("pure" if pure else "compiled")
        out.mkdir()
        code = (
            "from pathlib import Path; from ingest.replay import replay_bundle; "
            f"o = Path({str(out)!r}); "
            f"replay_bundle(Path({str(bundle)!r}), o / 'a.jsonl', o / 's.jsonl', o / 'r.jsonl', progress=False)"
        )
        _python(code, pure=pure)
        outputs[pure] = [(out / name).read_bytes() for name in ("a.jsonl", "s.jsonl", "r.jsonl")]
    alerts, stops, _ = outputs[False]
    kinds = {json.loads(line)["kind"] for line in alerts.splitlines()}
    assert len(kinds) >= 8 and stops.count(b"\n") > 0, (kinds, stops)
    assert outputs[False] == outputs[True]
