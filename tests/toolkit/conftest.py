"""Shared fixtures: the packaged content, and a writable copy of it for tests that break it on purpose."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from toolkit.loader import CONTENT_DIR, default_content
from toolkit.model import Content


@pytest.fixture(scope="session")
def content() -> Content:
    return default_content()


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A copy of the packaged content directory that a test may edit."""
    target = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, target, ignore=shutil.ignore_patterns("schema"))
    return target


@pytest.fixture
def edit_yaml(content_copy: Path) -> Callable[[str, Callable[[Any], None]], Path]:
    """Load one YAML file of the copy, let the test change it, write it back."""

    def edit(rel: str, change: Callable[[Any], None]) -> Path:
        path = content_copy / rel
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(doc)
        path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
        return content_copy

    return edit
