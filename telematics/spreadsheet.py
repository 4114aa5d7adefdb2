"""CSV cells a spreadsheet cannot run: text that would start a formula is written as the text it is."""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV Injection")."""


def spreadsheet_safe(value: Any) -> Any:
    """Text a spreadsheet would run as a formula, prefixed with an apostrophe so it shows as the text it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
