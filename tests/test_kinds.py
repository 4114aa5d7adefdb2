"""One table of alert kinds (telematics/kinds.py): every fact about a kind lives there, and no other module spells a
kind out, apart from the detector that raises it and the site's translated labels (issue 14)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from anomaly.detectors import default_detectors
from telematics.kinds import ALERT_KINDS

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("telematics", "anomaly", "ingest", "web", "workers", "truckguard", "toolkit")
"""Where a kind's facts could hide (can_sim writes scenario labels and the tests name kinds: both allowed)."""
ALLOWED_FILES = {
    "telematics/kinds.py": "the table itself",
    "web/display.py": "each kind's label in the translation catalogue (gettext needs the literal message)",
}
TELEMETRY_FIELDS = set(json.loads((ROOT / "telematics/contract/telemetry.schema.json").read_text())["properties"])
"""Kinds that are also telemetry fields (panic, gnss_jamming, cargo_door_open): there the literal names the field."""
RAISERS = ("name", "KIND")
"""A detector's ``name = "..."`` (the CAN detector's module constant ``KIND``): where a kind is raised."""


def _kind_literals(path: Path) -> list[tuple[int, str]]:
    """(line, kind) for each string constant equal to a kind, except where a detector names the kind it raises."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and getattr(node.targets[0], "id", None) in RAISERS
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in ALERT_KINDS and id(node) not in names
    ]


def test_every_detector_raises_a_kind_of_the_table() -> None:
    names = {detector.name for detector in default_detectors()}
    assert names <= set(ALERT_KINDS), sorted(names - set(ALERT_KINDS))


def test_no_module_outside_the_table_spells_a_kind_out() -> None:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in ALLOWED_FILES or "/migrations/" in relative:
                continue
            found += [f"{relative}:{n} {kind}" for n, kind in _kind_literals(path) if kind not in TELEMETRY_FIELDS]
    assert not found, "kind literals outside telematics/kinds.py:\n" + "\n".join(found)
