"""The toolkit's exception classes, each naming the file or field, the value and what was expected."""

from __future__ import annotations

from typing import Any

from telematics.errors import BadInput


class ToolkitError(BadInput):
    """Base of every error the toolkit raises on bad content or bad input."""


class ContentError(ToolkitError):
    """A content file is unreadable, breaks its schema or refers to something that does not exist."""

    def __init__(self, file: str, message: str, *, item_id: str | None = None, field: str | None = None) -> None:
        self.file = file
        self.item_id = item_id
        self.field = field
        where = file
        if item_id is not None:
            where += f": {item_id!r}"
        if field:
            where += f".{field}" if item_id is not None else f": {field}"
        super().__init__(f"{where}: {message}")


class AnswerError(ToolkitError):
    """An answer, form value or argument given to the toolkit's logic is missing or malformed."""

    def __init__(self, field: str, value: Any, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"{field}: got {value!r}, expected {expected}")


class ExportFormatError(ToolkitError):
    """An export was asked for in a format the toolkit cannot write."""
