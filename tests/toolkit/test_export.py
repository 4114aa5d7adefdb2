"""The export prints every item, with its sources' titles and urls, as JSON or CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest

from toolkit.errors import ExportFormatError
from toolkit.export import CSV_COLUMNS, LIST_SEPARATOR, export_items
from toolkit.model import Content


def test_json_export_has_every_item_with_resolved_sources(content: Content) -> None:
    document = json.loads(export_items("json"))
    assert document["version"] == content.version
    assert [r["id"] for r in document["items"]] == list(content.items)
    for record in document["items"]:
        item = content.items[record["id"]]
        assert (record["audience"], record["phase"], record["title"], record["text"]) == (
            item.audience, item.phase, item.title, item.text)
        assert record["action"] == item.action
        assert [s["id"] for s in record["sources"]] == list(item.sources)
        assert [s["section"] for s in record["sources"]] == [c.section for c in item.citations]
        for source in record["sources"]:
            assert source["title"] == content.sources[source["id"]].title
            assert source["url"] == content.sources[source["id"]].url
            assert source["section"].strip()


def test_json_export_is_the_default_and_stable() -> None:
    assert export_items() == export_items("json")


def test_csv_export_has_one_row_per_item(content: Content) -> None:
    rows = list(csv.DictReader(io.StringIO(export_items("csv"))))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert [r["id"] for r in rows] == list(content.items)
    by_id = {r["id"]: r for r in rows}
    item = content.items["drv-park-01"]
    row = by_id["drv-park-01"]
    assert row["text"] == item.text
    assert row["source_ids"].split(LIST_SEPARATOR) == list(item.sources)
    assert row["source_urls"].split(LIST_SEPARATOR) == [content.sources[s].url for s in item.sources]
    assert row["tags"].split(LIST_SEPARATOR) == list(item.tags)
    assert row["action"] == item.action == "lock-cab-take-keys"
    assert row["source_sections"].split(LIST_SEPARATOR) == [c.section for c in item.citations]
    assert all(r["source_sections"].count(LIST_SEPARATOR) == r["source_ids"].count(LIST_SEPARATOR) for r in rows)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ExportFormatError, match="format: got 'xml', expected one of json, csv"):
        export_items("xml")



def test_no_csv_cell_can_be_a_spreadsheet_formula(content: Content) -> None:
    import dataclasses

    from telematics.spreadsheet import FORMULA_STARTS
    from toolkit.export import write_csv

    first = next(iter(content.items))
    hostile = dataclasses.replace(content.items[first], title='=HYPERLINK("http://example.invalid","x")')
    changed = dataclasses.replace(content, items={**content.items, first: hostile})
    rows = list(csv.reader(io.StringIO(write_csv(changed))))
    assert any(cell == "'" + hostile.title for row in rows for cell in row)
    assert not any(cell.startswith(FORMULA_STARTS) for row in rows for cell in row)
