"""Writes every guidance item, with its cited sources and sections, as JSON or CSV for reuse outside truckguard."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from telematics.spreadsheet import spreadsheet_safe
from toolkit.errors import ExportFormatError
from toolkit.loader import default_content
from toolkit.model import Content
from toolkit.translations import LANGUAGES, SOURCE_LANGUAGE

CSV_COLUMNS = ("id", "audience", "phase", "action", "title", "text", "tags", "source_ids", "source_titles",
               "source_urls", "source_sections", "language")
LIST_SEPARATOR = " | "


def item_records(content: Content) -> list[dict[str, Any]]:
    """Every item as a plain dict, each citation resolved to id, title, publisher, year, url and section, with the
    language its title and text are in (English where the content's language has no current translation). Source
    titles and sections stay as their publishers wrote them."""
    return [
        {
            "id": item.id,
            "audience": item.audience,
            "phase": item.phase,
            "action": item.action,
            "title": item.title,
            "text": item.text,
            "tags": list(item.tags),
            "language": content.item_language(item),
            "sources": [{"id": s.id, "title": s.title, "publisher": s.publisher, "year": s.year, "url": s.url,
                         "section": c.section}
                        for c, s in zip(item.citations, content.sources_of(item), strict=True)],
        }
        for item in content.items.values()
    ]


def write_json(content: Content) -> str:
    document = {"version": content.version, "versions": dict(content.versions), "language": content.language,
                "items": item_records(content)}
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def write_csv(content: Content) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in item_records(content):
        sources = record["sources"]
        writer.writerow([spreadsheet_safe(cell) for cell in (
            record["id"], record["audience"], record["phase"], record["action"], record["title"], record["text"],
            LIST_SEPARATOR.join(record["tags"]),
            LIST_SEPARATOR.join(s["id"] for s in sources),
            LIST_SEPARATOR.join(s["title"] for s in sources),
            LIST_SEPARATOR.join(s["url"] for s in sources),
            LIST_SEPARATOR.join(s["section"] for s in sources),
            record["language"],
        )])
    return buffer.getvalue()


WRITERS: dict[str, Callable[[Content], str]] = {"json": write_json, "csv": write_csv}
"""Export formats by name, as the command line offers them."""


def export_items(format: str = "json", content: Content | None = None, *, language: str = SOURCE_LANGUAGE) -> str:
    """Every guidance item with its cited sources and sections, in the named format (``json`` or ``csv``) and
    language (English, or one of ``toolkit.translations.LANGUAGES``, with English for any item not yet translated)."""
    writer = WRITERS.get(format)
    if writer is None:
        raise ExportFormatError(f"format: got {format!r}, expected one of {', '.join(WRITERS)}")
    if language not in (SOURCE_LANGUAGE, *LANGUAGES):
        known = ", ".join((SOURCE_LANGUAGE, *LANGUAGES))
        raise ExportFormatError(f"language: got {language!r}, expected one of {known}")
    return writer(content or default_content(language))
