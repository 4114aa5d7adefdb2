"""The toolkit in German, French, Spanish and Swedish: complete, current overlays, English fallback per entry."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.toolkit.pdf_text import pdf_text
from toolkit.assessment import score_assessment
from toolkit.assessment_pdf import render_assessment_pdf, unprintable
from toolkit.errors import ContentError
from toolkit.export import export_items
from toolkit.loader import CONTENT_DIR, default_content, load_content
from toolkit.model import Content
from toolkit.plan_pdf import render_plan_pdf
from toolkit.plans import fill_plan
from toolkit.search import search
from toolkit.translations import (
    LANGUAGES,
    check,
    english_files,
    entries_of,
    overlay_path,
    read_english,
    read_overlay,
    source_hash,
    stamp,
)

Edit = Callable[[str, Callable[[Any], None]], Path]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_entry_is_translated_and_current(language: str) -> None:
    """Fails on a missing file or entry, a field left out, an unstamped or stale translation (the English changed
    since), a placeholder lost, or an entry or file that translates nothing: run
    ``python -m toolkit.translations check --lang <language>`` for the list."""
    problems = check(CONTENT_DIR, (language,))
    assert not problems, "\n".join(str(p) for p in problems[:40]) + f"\n({len(problems)} in all)"


@pytest.mark.parametrize("language", ("de", "fr"))
def test_a_translation_keeps_ids_actions_and_every_citation(language: str) -> None:
    english, translated = default_content(), default_content(language)
    assert list(translated.items) == list(english.items)
    for item_id, item in translated.items.items():
        original = english.items[item_id]
        assert (item.audience, item.phase, item.action, item.citations, item.tags) == (
            original.audience, original.phase, original.action, original.citations, original.tags)
        assert item.title != original.title and item.text != original.text
    assert translated.sources == english.sources
    for question, original_question in zip(translated.screening.questions, english.screening.questions, strict=True):
        assert [o.value for o in question.options] == [o.value for o in original_question.options]
        assert question.indicators == original_question.indicators and question.prompt != original_question.prompt
    assert [(i.id, i.weight, i.hard_stop, i.sources) for i in translated.screening.indicators] == \
        [(i.id, i.weight, i.hard_stop, i.sources) for i in english.screening.indicators]
    assert translated.strings.text("checklist.progress", done=3, total=9) != \
        english.strings.text("checklist.progress", done=3, total=9)


def test_german_and_french_read_as_those_languages() -> None:
    de, fr = default_content("de"), default_content("fr")
    assert de.items["drv-park-01"].title.startswith("Motor aus, Schlüssel abziehen")
    assert "Führerhaus" in de.items["drv-park-01"].text
    assert fr.items["drv-park-01"].title.startswith("Moteur coupé, clés retirées")
    assert de.strings.text("screening.outcome.refuse_and_report") == "Anmietung ablehnen und melden"
    assert fr.assessment.sections[0].title == "Gouvernance et planification"
    assert "section 170 of the Road Traffic Act 1988" in default_content().items["drv-stop-02"].text
    assert "section 170 des Road Traffic Act 1988" in de.items["drv-stop-02"].text  # the law is not localised


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_translated_character_prints_in_the_pdf_reports(language: str) -> None:
    missing: dict[str, set[str]] = {}
    for rel in english_files(CONTENT_DIR):
        for entry_id, fields in (read_overlay(CONTENT_DIR, language, rel) or {}).items():
            for name, value in fields.items():
                for text in value if isinstance(value, list) else [value]:
                    bad = unprintable(text)
                    if bad:
                        missing[f"{rel}:{entry_id}.{name}"] = bad
    assert not missing


def test_search_finds_guidance_in_the_language_of_the_query() -> None:
    assert search("Schlüssel Führerhaus", content=default_content("de"))[0].item.id == "drv-park-01"
    assert search("stationner la nuit", content=default_content("fr"))[0].item.id == "drv-prep-04"


def test_a_changed_english_text_makes_the_translation_stale_and_serves_english(edit_yaml: Edit) -> None:
    def reword(doc: Any) -> None:
        doc["items"][0]["text"] = doc["items"][0]["text"].replace("Before your first trip", "Before any trip")

    directory = edit_yaml("items/driver.yaml", reword)
    problems = check(directory, ("de",))
    assert [(p.file, p.entry, p.kind) for p in problems] == [("items/driver.yaml", "drv-prep-01", "stale")]
    german = load_content(directory, language="de")
    assert german.items["drv-prep-01"].text.startswith("Before any trip")
    assert german.item_language(german.items["drv-prep-01"]) == "en"
    assert german.items["drv-prep-02"].title == default_content("de").items["drv-prep-02"].title
    assert german.in_english["items/driver.yaml"] == frozenset({"drv-prep-01"})

    # The translator re-translates, then re-stamps that one entry: current again.
    assert stamp(directory, "de", ["items/driver.yaml:drv-prep-01"]) == ["items/driver.yaml:drv-prep-01"]
    assert check(directory, ("de",)) == []


def test_missing_entry_and_lost_placeholder_are_reported_and_fall_back(content_copy: Path) -> None:
    path = overlay_path(content_copy, "fr", "strings.en.yaml")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    del doc["entries"]["checklist.mark_done"]
    doc["entries"]["checklist.progress"]["text"] = "{done} effectués"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    kinds = {(p.entry, p.kind) for p in check(content_copy, ("fr",))}
    assert kinds == {("checklist.mark_done", "missing"), ("checklist.progress", "placeholders")}
    strings = load_content(content_copy, language="fr").strings
    assert strings.text("checklist.mark_done") == "Mark as done"
    assert strings.text("checklist.progress", done=1, total=2) == "1 of 2 done"
    assert strings.text("checklist.mark_open") == "Marquer comme non effectué"


def test_stamp_hashes_the_english_fields_translated(content_copy: Path) -> None:
    path = overlay_path(content_copy, "de", "checklists.yaml")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    del doc["entries"]["driver-every-stop"]["source_hash"]
    doc["entries"]["unknown-checklist"] = {"title": "Gibt es nicht"}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert {(p.entry, p.kind) for p in check(content_copy, ("de",))} == {
        ("driver-every-stop", "unstamped"), ("unknown-checklist", "unknown-entry")}
    assert stamp(content_copy, "de") == ["checklists.yaml:driver-every-stop"]
    english = entries_of(read_english(content_copy, "checklists.yaml"), "checklists.yaml")["driver-every-stop"]
    expected = json.dumps({"intro": english.english("intro"), "title": english.english("title")}, sort_keys=True,
                          ensure_ascii=False)
    assert read_overlay(content_copy, "de", "checklists.yaml")["driver-every-stop"]["source_hash"] == \
        source_hash({"title": english.english("title"), "intro": english.english("intro")})
    assert len(source_hash({"text": expected})) == 12


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ContentError, match="expected one of en, de, fr, es, sv"):
        load_content(language="it")


def test_export_in_german_keeps_sources_and_sections() -> None:
    english = json.loads(export_items("json"))
    german = json.loads(export_items("json", language="de"))
    assert german["language"] == "de"
    assert [i["sources"] for i in german["items"]] == [i["sources"] for i in english["items"]]
    assert {i["language"] for i in german["items"]} == {"de"}
    assert german["items"][0]["title"] != english["items"][0]["title"]
    header = export_items("csv", language="fr").splitlines()[0]
    assert header.endswith(",language")


def test_pdf_reports_in_the_chosen_language() -> None:
    when = datetime(2026, 5, 4, 8, 30, tzinfo=UTC)
    german: Content = default_content("de")
    result = score_assessment({}, german)
    text = pdf_text(render_assessment_pdf(result, generated_at=when, content=german))
    assert "Bericht zur Selbstbewertung der Flottensicherheit" in text
    assert "Noch keine Stufe erreicht" in text
    french = default_content("fr")
    plan = render_plan_pdf(fill_plan("public-space-operational-requirement", content=french), generated_at=when,
                           content=french)
    text = pdf_text(plan)
    assert "Cahier des exigences op\xe9rationnelles d'un espace public" in text
    assert b"/Lang (fr)" in plan
