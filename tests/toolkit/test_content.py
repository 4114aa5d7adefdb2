"""The packaged content: valid against its schemas, every reference resolves, and it is substantial."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
import yaml
from jsonschema import Draft202012Validator

from toolkit.loader import CONTENT_DIR, SCHEMA_DIR, well_formed_url
from toolkit.model import AUDIENCES, JOURNEY_PHASES, PHASES, RENTAL_PHASES, Content
from toolkit.translations import TRANSLATIONS_DIR

FILES = [
    ("sources.yaml", "sources"),
    ("checklists.yaml", "checklists"),
    ("assessment.yaml", "assessment"),
    ("screening.yaml", "screening"),
    ("public_space.yaml", "public_space"),
    ("plans.yaml", "plans"),
    ("strings.en.yaml", "strings"),
    *[(f"items/{p.name}", "items") for p in sorted((CONTENT_DIR / "items").glob("*.yaml"))],
]


def _schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("rel", "schema_name"), FILES)
def test_every_content_file_is_valid_against_its_schema(rel: str, schema_name: str) -> None:
    schema = _schema(schema_name)
    Draft202012Validator.check_schema(schema)
    doc = yaml.safe_load((CONTENT_DIR / rel).read_text(encoding="utf-8"))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in Draft202012Validator(schema).iter_errors(doc)]
    assert errors == []
    assert re.fullmatch(r"\d+\.\d+\.\d+", doc["version"])


def test_the_schema_enums_are_the_code_constants() -> None:
    item = _schema("items")["$defs"]["item"]["properties"]
    assert tuple(item["audience"]["enum"]) == AUDIENCES
    assert tuple(item["phase"]["enum"]) == PHASES
    assert PHASES == JOURNEY_PHASES + RENTAL_PHASES


def test_every_yaml_file_in_the_content_is_loaded(content: Content) -> None:
    on_disk = {str(p.relative_to(CONTENT_DIR)) for p in CONTENT_DIR.rglob("*.yaml")
               if p.relative_to(CONTENT_DIR).parts[0] != TRANSLATIONS_DIR}
    assert on_disk == set(content.versions)


def test_item_ids_are_unique_across_files() -> None:
    ids = [item["id"] for path in (CONTENT_DIR / "items").glob("*.yaml")
           for item in yaml.safe_load(path.read_text(encoding="utf-8"))["items"]]
    assert len(ids) == len(set(ids))


def test_content_is_substantial_and_covers_every_audience_and_phase(content: Content) -> None:
    items = list(content.items.values())
    assert len(items) >= 60
    per_audience = Counter(i.audience for i in items)
    assert set(per_audience) == set(AUDIENCES)
    assert min(per_audience.values()) >= 12
    assert {i.phase for i in items} == set(PHASES)
    for audience in ("driver", "fleet_manager"):
        assert {i.phase for i in items if i.audience == audience} == set(JOURNEY_PHASES)
    assert {i.phase for i in items if i.audience == "rental_counter"} >= set(RENTAL_PHASES)


def test_item_texts_are_two_to_five_sentences(content: Content) -> None:
    for item in content.items.values():
        sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", item.text) if s]
        assert 2 <= len(sentences) <= 5, (item.id, len(sentences))
        assert item.text.endswith("."), item.id


def test_every_cited_source_exists_and_every_source_is_cited(content: Content) -> None:
    cited: set[str] = set()
    for item in content.items.values():
        cited.update(item.sources)
    for indicator in content.screening.indicators:
        cited.update(indicator.sources)
    for mitigation in content.public_space.mitigations:
        cited.update(mitigation.sources)
    cited.update(content.assessment.sources)
    cited.update(content.public_space.sources)
    for plan in content.plans.values():
        cited.update(plan.sources)
    assert cited <= set(content.sources)
    assert set(content.sources) - cited == set()


def test_every_source_url_is_well_formed(content: Content) -> None:
    for source in content.sources.values():
        assert well_formed_url(source.url), source.id
        assert 1980 <= source.year <= 2100


@pytest.mark.parametrize("url", ["ftp://example.org/x", "https://localhost/x", "https://exa mple.org", "example.org"])
def test_malformed_urls_are_rejected(url: str) -> None:
    assert not well_formed_url(url)


def test_every_internal_reference_resolves(content: Content) -> None:
    items = content.items
    for checklist in content.checklists.values():
        assert checklist.item_ids
        assert all(items[i].audience == checklist.audience for i in checklist.item_ids)
    for question in content.assessment.questions:
        assert all(g in items for g in question.guidance)
    indicator_ids = {i.id for i in content.screening.indicators}
    for question in content.screening.questions:
        for fired in question.indicators.values():
            assert set(fired) <= indicator_ids
    for mitigation in content.public_space.mitigations:
        assert all(g in items for g in mitigation.guidance)


def test_every_audience_has_a_checklist(content: Content) -> None:
    assert {c.audience for c in content.checklists.values()} == set(AUDIENCES)


def test_every_string_key_used_in_the_code_exists(content: Content) -> None:
    code = "\n".join(p.read_text(encoding="utf-8") for p in (CONTENT_DIR.parent).glob("*.py"))
    keys = set(re.findall(r"""strings\.text\(\s*f?["']([a-z_.{}0-9]+)["']""", code))
    assert keys, "expected the code to look strings up"
    for key in keys:
        if "{" in key:
            prefix = key.split("{")[0].rsplit(".", 1)[0]
            assert isinstance(content.strings.lookup(prefix), dict), key
        else:
            assert content.strings.has(key), key
    for code_name in ("unprotected_route", "underrated_barrier", "deliveries_during_crowds"):
        assert content.strings.has(f"site.reason.{code_name}")
    for level in (1, 2, 3):
        assert content.strings.has(f"level.level_{level}")
    for kind in content.public_space.site_kinds:
        assert content.strings.has(f"site.kind.{kind}")
    for name in AUDIENCES + PHASES:
        assert content.strings.has(f"audience.{name}") or content.strings.has(f"phase.{name}")


def test_every_mitigation_reason_code_has_a_text(content: Content) -> None:
    schema_codes = _schema("public_space")["$defs"]["reason_code"]["enum"]
    for code_name in schema_codes:
        assert content.strings.has(f"site.reason.{code_name}"), code_name

