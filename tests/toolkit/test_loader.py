"""Broken content is refused with an error that names the file, the item id and the field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from toolkit.errors import ContentError
from toolkit.loader import load_content
from toolkit.model import Content

Edit = Callable[[str, Callable[[Any], None]], Path]


def _item(doc: dict, item_id: str) -> dict:
    return next(i for i in doc["items"] if i["id"] == item_id)


def test_an_unchanged_copy_loads_like_the_packaged_content(content_copy: Path, content: Content) -> None:
    copy = load_content(content_copy)
    assert list(copy.items) == list(content.items)
    assert copy.versions == content.versions


def test_unknown_source_names_file_item_and_field(edit_yaml: Edit) -> None:
    directory = edit_yaml("items/driver.yaml", lambda d: _item(d, "drv-park-01")["sources"].append(
        {"source": "no-such-source", "section": "Chapter 1"}))
    with pytest.raises(ContentError) as caught:
        load_content(directory)
    error = caught.value
    assert (error.file, error.item_id, error.field) == ("items/driver.yaml", "drv-park-01", "sources")
    assert "no-such-source" in str(error)


def test_unknown_phase_is_a_schema_error_naming_the_item(edit_yaml: Edit) -> None:
    directory = edit_yaml("items/fleet_manager.yaml", lambda d: _item(d, "fm-prep-01").update(phase="lunch"))
    with pytest.raises(ContentError) as caught:
        load_content(directory)
    assert (caught.value.file, caught.value.item_id, caught.value.field) == (
        "items/fleet_manager.yaml", "fm-prep-01", "phase")
    assert "'lunch'" in str(caught.value)


def test_missing_text_is_named(edit_yaml: Edit) -> None:
    directory = edit_yaml("items/rental_counter.yaml", lambda d: _item(d, "rc-book-01").pop("text"))
    with pytest.raises(ContentError, match=r"items/rental_counter.yaml: 'rc-book-01'.text: missing") as caught:
        load_content(directory)
    assert caught.value.field == "text"


def test_duplicate_id_across_files_names_both_files(edit_yaml: Edit) -> None:
    def duplicate(doc: dict) -> None:
        doc["items"][0]["id"] = "drv-prep-01"

    directory = edit_yaml("items/public_space_authority.yaml", duplicate)
    with pytest.raises(ContentError) as caught:
        load_content(directory)
    assert caught.value.item_id == "drv-prep-01"
    assert "items/driver.yaml" in str(caught.value)
    assert "items/public_space_authority.yaml" in str(caught.value)


def test_malformed_source_url_is_refused(edit_yaml: Edit) -> None:
    directory = edit_yaml("sources.yaml", lambda d: d["sources"][0].update(url="https://nodot/path"))
    with pytest.raises(ContentError) as caught:
        load_content(directory)
    assert (caught.value.file, caught.value.item_id, caught.value.field) == ("sources.yaml", "roadsec-2019", "url")


def test_checklist_with_an_unknown_item_is_refused(edit_yaml: Edit) -> None:
    directory = edit_yaml("checklists.yaml", lambda d: d["checklists"][1]["items"].append("drv-park-99"))
    with pytest.raises(ContentError) as caught:
        load_content(directory)
    assert (caught.value.item_id, caught.value.field) == ("driver-every-stop", "items")
    assert "drv-park-99" in str(caught.value)


def test_checklist_with_another_audience_item_is_refused(edit_yaml: Edit) -> None:
    directory = edit_yaml("checklists.yaml", lambda d: d["checklists"][1]["items"].append("rc-book-01"))
    with pytest.raises(ContentError, match=r"'rc-book-01' is for 'rental_counter', expected 'driver'"):
        load_content(directory)


def test_assessment_question_with_unknown_guidance_is_refused(edit_yaml: Edit) -> None:
    directory = edit_yaml("assessment.yaml", lambda d: d["questions"][0]["guidance"].append("fm-nothing-01"))
    with pytest.raises(ContentError) as caught:
        load_content(directory)
    assert (caught.value.file, caught.value.item_id, caught.value.field) == (
        "assessment.yaml", "q-gov-lead", "guidance")


def test_a_level_without_required_questions_is_refused(edit_yaml: Edit) -> None:
    def relax(doc: dict) -> None:
        for q in doc["questions"]:
            if q["level"] == 1:
                q["required"] = False

    with pytest.raises(ContentError, match="level 1 has no required question"):
        load_content(edit_yaml("assessment.yaml", relax))


def test_screening_answer_firing_an_unknown_indicator_is_refused(edit_yaml: Edit) -> None:
    directory = edit_yaml("screening.yaml", lambda d: d["questions"][1]["indicators"].update(
        {"cash_insisted": ["cash-insistence", "ghost"]}))
    with pytest.raises(ContentError) as caught:
        load_content(directory)
    assert (caught.value.item_id, caught.value.field) == ("payment", "indicators.cash_insisted")


def test_screening_thresholds_must_be_ordered(edit_yaml: Edit) -> None:
    directory = edit_yaml("screening.yaml", lambda d: d["rules"].update(extra_checks_at=9))
    with pytest.raises(ContentError, match="expected extra_checks_at below refuse_at"):
        load_content(directory)


def test_mitigation_citing_an_unknown_source_is_refused(edit_yaml: Edit) -> None:
    directory = edit_yaml("public_space.yaml", lambda d: d["mitigations"][0]["sources"].append("rumour"))
    with pytest.raises(ContentError) as caught:
        load_content(directory)
    assert (caught.value.file, caught.value.item_id, caught.value.field) == (
        "public_space.yaml", "mit-tested-barriers", "sources")


def test_an_unquoted_time_like_yaml_value_is_caught_by_the_schema(edit_yaml: Edit) -> None:
    # YAML 1.1 reads an unquoted "on" as true: the strings schema must notice the boolean.
    directory = edit_yaml("strings.en.yaml", lambda d: d["strings"]["search"]["stopwords"].append(True))
    with pytest.raises(ContentError, match=r"strings\.en\.yaml"):
        load_content(directory)


def test_invalid_yaml_names_the_file(content_copy: Path) -> None:
    (content_copy / "checklists.yaml").write_text("checklists: [unclosed\n", encoding="utf-8")
    with pytest.raises(ContentError, match=r"^checklists.yaml: not valid YAML"):
        load_content(content_copy)


def test_a_missing_file_is_named(content_copy: Path) -> None:
    (content_copy / "screening.yaml").unlink()
    with pytest.raises(ContentError, match=r"^screening.yaml: file not found"):
        load_content(content_copy)


def test_a_missing_string_key_is_reported_with_the_file(content: Content) -> None:
    with pytest.raises(KeyError, match=r"strings\.en\.yaml"):
        content.strings.text("site.reason.no_such_reason")


def test_a_mirror_url_is_refused_naming_the_mirror(edit_yaml: Edit) -> None:
    directory = edit_yaml("sources.yaml", lambda d: d["sources"][0].update(
        url="https://vdocuments.mx/iru-road-goods-transport-security-guidelines.html"))
    with pytest.raises(ContentError, match=r"document-mirror site vdocuments\.mx") as caught:
        load_content(directory)
    assert (caught.value.file, caught.value.item_id, caught.value.field) == ("sources.yaml", "roadsec-2019", "url")


def test_a_citation_without_section_is_a_schema_error(edit_yaml: Edit) -> None:
    directory = edit_yaml("items/driver.yaml", lambda d: _item(d, "drv-park-01")["sources"][0].pop("section"))
    with pytest.raises(ContentError, match="missing") as caught:
        load_content(directory)
    assert (caught.value.item_id, caught.value.field) == ("drv-park-01", "sources[0].section")


def test_an_item_without_action_is_a_schema_error(edit_yaml: Edit) -> None:
    directory = edit_yaml("items/driver.yaml", lambda d: _item(d, "drv-park-01").pop("action"))
    with pytest.raises(ContentError) as caught:
        load_content(directory)
    assert (caught.value.item_id, caught.value.field) == ("drv-park-01", "action")


def test_a_repeated_action_in_a_checklist_names_both_items(edit_yaml: Edit) -> None:
    directory = edit_yaml("items/driver.yaml", lambda d: _item(d, "drv-park-04").update(action="lock-cab-take-keys"))
    with pytest.raises(ContentError, match="action 'lock-cab-take-keys' of item 'drv-park-04' repeats item "
                                           "'drv-park-01'") as caught:
        load_content(directory)
    assert caught.value.file == "checklists.yaml" and caught.value.field == "items"


def test_a_source_cited_twice_by_one_item_is_refused(edit_yaml: Edit) -> None:
    directory = edit_yaml("items/driver.yaml", lambda d: _item(d, "drv-park-01")["sources"].append(
        {"source": "dft-vaw-2019", "section": "again"}))
    with pytest.raises(ContentError, match="cites a source twice") as caught:
        load_content(directory)
    assert (caught.value.item_id, caught.value.field) == ("drv-park-01", "sources")


def test_a_plan_section_with_another_audience_item_is_refused(edit_yaml: Edit) -> None:
    directory = edit_yaml("plans.yaml", lambda d: d["plans"][0]["sections"][0]["items"].append("rc-book-01"))
    with pytest.raises(ContentError, match="'rc-book-01' is for 'rental_counter', expected 'fleet_manager'") as caught:
        load_content(directory)
    assert (caught.value.file, caught.value.item_id) == ("plans.yaml", "fleet-security-plan")


def test_a_plan_asking_an_unknown_question_is_refused(edit_yaml: Edit) -> None:
    directory = edit_yaml("plans.yaml", lambda d: d["plans"][0]["sections"][0]["questions"].append("q-nothing"))
    with pytest.raises(ContentError, match="unknown assessment question 'q-nothing'"):
        load_content(directory)
