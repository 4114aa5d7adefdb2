"""Chooses between the compiled modules (setup.py's mypyc build) and their Python sources, once, at import.

The compiled modules are used only while they match their sources. An editable install leaves them next to
the sources, and Python imports a compiled module in preference to its source, so after a source is edited the
old compiled module would silently run instead. The build records a fingerprint of every source it compiled
(compiled.json); when any of those sources has changed since, every one of them is imported from its source
(they call each other directly, so they are used all together or not at all) and a warning says how to rebuild.
``TRUCKGUARD_PURE_PYTHON=1`` imports the sources too, without a warning: for debugging and for comparing the two.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
FINGERPRINTS = Path(__file__).with_name("compiled.json")
PURE_PYTHON_VARIABLE = "TRUCKGUARD_PURE_PYTHON"


class SourceFirst(importlib.abc.MetaPathFinder):
    """Finds the listed modules' Python sources, ahead of the compiled modules beside them."""

    def __init__(self, sources: dict[str, Path]) -> None:
        self.sources = sources

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        source = self.sources.get(fullname)
        return None if source is None else importlib.util.spec_from_file_location(fullname, source)


def read_fingerprints(path: Path = FINGERPRINTS) -> dict[str, str]:
    """The build's source fingerprints (relative path to SHA-256), or none when nothing was compiled."""
    try:
        fingerprints = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return fingerprints if isinstance(fingerprints, dict) else {}


def is_compiled(source: Path) -> bool:
    """Whether a compiled module sits next to this source (and so would be imported instead of it)."""
    return any(source.with_suffix(suffix).exists() for suffix in importlib.machinery.EXTENSION_SUFFIXES)


def outdated(fingerprints: dict[str, str], root: Path = ROOT) -> list[str]:
    """The compiled modules whose source is not what was compiled."""
    stale = []
    for relative, digest in fingerprints.items():
        source = root / relative
        if not is_compiled(source):
            continue
        try:
            current = hashlib.sha256(source.read_bytes()).hexdigest()
        except OSError:
            current = ""
        if current != digest:
            stale.append(relative)
    return stale


def sources_finder(fingerprints: dict[str, str], root: Path = ROOT) -> SourceFirst:
    return SourceFirst({relative.removesuffix(".py").replace("/", "."): root / relative for relative in fingerprints})


def choose() -> None:
    """Called once, before any compiled module is imported (telematics/__init__.py)."""
    if any(isinstance(finder, SourceFirst) for finder in sys.meta_path):
        return
    fingerprints = read_fingerprints()
    if not fingerprints:
        return
    if os.environ.get(PURE_PYTHON_VARIABLE, "") not in ("", "0"):
        sys.meta_path.insert(0, sources_finder(fingerprints))
        return
    stale = outdated(fingerprints)
    if stale:
        sys.meta_path.insert(0, sources_finder(fingerprints))
        warnings.warn(
            f"truckguard: the compiled {', '.join(stale)} differ from their sources; running the Python sources "
            "(slower). Rebuild with: python3 -m pip install -e .",
            RuntimeWarning,
            stacklevel=2,
        )
