"""The JSON Schemas of data contract v1, shipped with the package (a copy of ../shared/contract, checked in tests)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

SCHEMAS = ("telemetry", "alert", "stop_request")


@cache
def schema(name: str) -> dict[str, Any]:
    """One of the contract's schemas by name: telemetry, alert or stop_request."""
    if name not in SCHEMAS:
        raise KeyError(f"no contract schema {name!r}; expected one of {SCHEMAS}")
    loaded: dict[str, Any] = json.loads(resources.files(__name__).joinpath(f"{name}.schema.json").read_text())
    return loaded
