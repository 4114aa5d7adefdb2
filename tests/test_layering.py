"""The import graph between our packages points inward (docs/architecture.md): the command line on top, then the
workers, the site, the ingest edges, detection and the domain; the site never talks to Kafka itself."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ALLOWED: dict[str, set[str]] = {
    "truckguard": {"workers", "web", "ingest", "anomaly", "telematics", "can_sim", "toolkit"},
    "workers": {"web", "ingest", "anomaly", "telematics"},
    "web": {"ingest", "anomaly", "telematics", "toolkit"},
    "can_sim": {"ingest", "anomaly", "telematics"},
    "ingest": {"anomaly", "telematics"},
    "toolkit": {"telematics"},
    "anomaly": {"telematics"},
    "telematics": set(),
}
"""Which of our packages each package may import (at module level or inside a function alike)."""

KAFKA_CLIENTS = {"kafka", "confluent_kafka"}
FORBIDDEN_LIBRARIES: dict[str, set[str]] = {
    "web": KAFKA_CLIENTS,
    "anomaly": KAFKA_CLIENTS | {"flask", "sqlalchemy"},
}
"""Libraries a package must not import: the site queues its messages in the outbox and the workers send them;
detection is pure."""


def imported_top_levels(source: str) -> set[str]:
    """The top-level names of every absolute import in ``source``, wherever it stands (functions included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _imports_by_module(package: str) -> dict[str, set[str]]:
    return {
        str(path.relative_to(ROOT)): imported_top_levels(path.read_text(encoding="utf-8"))
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def test_the_allowed_arrows_have_no_circle() -> None:
    try:
        tuple(TopologicalSorter(ALLOWED).static_order())
    except CycleError as exc:
        pytest.fail(f"the allowed imports form a circle: {exc.args[1]}")


def test_the_table_names_every_package() -> None:
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "bench", "build"}
    assert packages == set(ALLOWED), "add the new package to ALLOWED (and docs/architecture.md)"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_inward(package: str) -> None:
    ours = set(ALLOWED)
    wrong = {
        module: sorted(names & ours - ALLOWED[package] - {package})
        for module, names in _imports_by_module(package).items()
    }
    assert {module: names for module, names in wrong.items() if names} == {}


@pytest.mark.parametrize("package", sorted(FORBIDDEN_LIBRARIES))
def test_forbidden_libraries_stay_out(package: str) -> None:
    wrong = {
        module: sorted(names & FORBIDDEN_LIBRARIES[package]) for module, names in _imports_by_module(package).items()
    }
    assert {module: names for module, names in wrong.items() if names} == {}


def test_a_lazy_import_inside_a_function_counts() -> None:
    source = "def serve():\n    from workers.sink import run_sink\n    import kafka.errors\n    from . import db\n"
    assert imported_top_levels(source) == {"workers", "kafka"}
