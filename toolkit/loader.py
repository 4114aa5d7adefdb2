"""Loads the toolkit's YAML content, validates it against its JSON Schemas and cross-checks every reference."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from toolkit.errors import ContentError
from toolkit.model import (
    AUDIENCES,
    LEVELS,
    PHASES,
    Assessment,
    AssessmentQuestion,
    AssessmentSection,
    Band,
    Checklist,
    Citation,
    Content,
    FormField,
    FormSection,
    GuidanceItem,
    Indicator,
    Mitigation,
    Plan,
    PlanSection,
    PublicSpaceRules,
    Screening,
    ScreeningOption,
    ScreeningQuestion,
    SiteScoring,
    Source,
    Strings,
)
from toolkit.translations import LANGUAGES, SOURCE_LANGUAGE, STRINGS_FILE, Translator, load_yaml

CONTENT_DIR = Path(__file__).parent / "content"
SCHEMA_DIR = CONTENT_DIR / "schema"
SOURCES_FILE = "sources.yaml"
ITEMS_DIR = "items"
CHECKLISTS_FILE = "checklists.yaml"
ASSESSMENT_FILE = "assessment.yaml"
SCREENING_FILE = "screening.yaml"
PUBLIC_SPACE_FILE = "public_space.yaml"
PLANS_FILE = "plans.yaml"
YES_NO = ("yes", "no")
MIRROR_HOSTS = frozenset({
    "vdocuments.mx", "vdocuments.us", "vdocuments.net", "vdocuments.site", "vdocument.in", "fdocuments.in",
    "fdocuments.net", "documents.pub", "dokumen.pub", "dokumen.tips", "pdfslide.net", "doczz.net",
    "studylib.net", "scribd.com", "123docz.net", "idoc.tips", "docplayer.net", "1library.net", "pdf4pro.com",
    "readkong.com", "autodocbox.com", "abcdocz.com", "yumpu.com", "issuu.com", "docslib.org", "kupdf.net",
    "epdf.pub", "silo.tips", "manualzz.com",
})
"""Sites that re-host other bodies' documents: the toolkit cites the issuing body instead (issue 23)."""


@cache
def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one kind of content file (``items``, ``sources``, ...)."""
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))


def read_document(path: Path, rel: str, schema_name: str, translator: Translator | None = None) -> dict[str, Any]:
    """One YAML content file, checked against its schema; errors name the file, the item id and the field. With a
    translator, the English file is checked and then its translated entries are laid over it."""
    try:
        doc = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContentError(rel, "file not found") from None
    except yaml.YAMLError as exc:
        raise ContentError(rel, f"not valid YAML ({exc})") from None
    error = best_match(Draft202012Validator(schema(schema_name)).iter_errors(doc))
    if error is not None:
        raise _schema_error(rel, doc, error)
    if translator is not None:
        translator.apply(doc, rel)
    return doc


def _schema_error(rel: str, doc: Any, error: ValidationError) -> ContentError:
    path = list(error.absolute_path)
    item_id = None
    if len(path) >= 2 and isinstance(path[1], int):
        entry = doc[path[0]][path[1]]
        item_id = entry.get("id") if isinstance(entry, dict) and isinstance(entry.get("id"), str) else None
        if item_id is None:
            item_id = f"{path[0]}[{path[1]}]"
        path = path[2:]
    field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")
    if error.validator == "required":
        missing = re.search(r"'([^']+)' is a required property", error.message)
        if missing:
            field = f"{field}.{missing.group(1)}" if field else missing.group(1)
            return ContentError(rel, "missing (required by the schema)", item_id=item_id, field=field)
    message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
    return ContentError(rel, f"{message} (schema rule: {error.validator})", item_id=item_id, field=field or None)


def well_formed_url(url: str) -> bool:
    """An absolute http(s) URL with a dotted host and no spaces: checked without touching the network."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return parts.scheme in ("http", "https") and "." in host and not any(c.isspace() for c in url)


def mirror_host(url: str) -> str | None:
    """The document-mirror site a URL points to (``MIRROR_HOSTS`` or a subdomain of one), or None."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return next((m for m in MIRROR_HOSTS if host == m or host.endswith("." + m)), None)


def _unique(entries: Iterable[Mapping[str, Any]], rel: str, what: str = "id") -> None:
    seen: set[str] = set()
    for entry in entries:
        if entry[what] in seen:
            raise ContentError(rel, f"duplicate {what} {entry[what]!r}", item_id=entry[what], field=what)
        seen.add(entry[what])


def _check_refs(refs: Iterable[str], known: Mapping[str, Any], rel: str, item_id: str, field: str, what: str) -> None:
    for ref in refs:
        if ref not in known:
            raise ContentError(rel, f"unknown {what} {ref!r} (expected an id defined in the toolkit content)",
                               item_id=item_id, field=field)


def load_sources(directory: Path) -> tuple[dict[str, Source], str]:
    doc = read_document(directory / SOURCES_FILE, SOURCES_FILE, "sources")
    _unique(doc["sources"], SOURCES_FILE)
    sources = {}
    for raw in doc["sources"]:
        if not well_formed_url(raw["url"]):
            raise ContentError(SOURCES_FILE, f"got {raw['url']!r}, expected an absolute http(s) URL",
                               item_id=raw["id"], field="url")
        mirror = mirror_host(raw["url"])
        if mirror is not None:
            raise ContentError(SOURCES_FILE, f"got {raw['url']!r} on the document-mirror site {mirror}, expected "
                               "the issuing body's own publication", item_id=raw["id"], field="url")
        sources[raw["id"]] = Source(raw["id"], raw["title"], raw["publisher"], raw["year"], raw["url"], raw.get("note"))
    return sources, doc["version"]


def load_items(directory: Path, sources: Mapping[str, Source],
               translator: Translator | None = None) -> tuple[dict[str, GuidanceItem], dict[str, str]]:
    """Every guidance item of every file under items/, in canonical order (audience, phase, file order)."""
    files = sorted((directory / ITEMS_DIR).glob("*.yaml"))
    if not files:
        raise ContentError(ITEMS_DIR, "no guidance files found (expected items/*.yaml)")
    items: list[GuidanceItem] = []
    where: dict[str, str] = {}
    versions = {}
    for path in files:
        rel = f"{ITEMS_DIR}/{path.name}"
        doc = read_document(path, rel, "items", translator)
        versions[rel] = doc["version"]
        for raw in doc["items"]:
            if raw["id"] in where:
                raise ContentError(rel, f"duplicate id, already used in {where[raw['id']]}", item_id=raw["id"],
                                   field="id")
            where[raw["id"]] = rel
            citations = tuple(Citation(c["source"], " ".join(c["section"].split())) for c in raw["sources"])
            cited = [c.source for c in citations]
            _check_refs(cited, sources, rel, raw["id"], "sources", "source")
            if len(set(cited)) != len(cited):
                raise ContentError(rel, f"cites a source twice in {cited} (expected one citation per source, "
                                   "its sections joined)", item_id=raw["id"], field="sources")
            items.append(GuidanceItem(raw["id"], raw["audience"], raw["phase"], raw["title"].strip(),
                                      " ".join(raw["text"].split()), tuple(cited), tuple(raw.get("tags", ())), rel,
                                      raw["action"], citations))
    order = {item.id: n for n, item in enumerate(items)}
    items.sort(key=lambda i: (AUDIENCES.index(i.audience), PHASES.index(i.phase), order[i.id]))
    return {item.id: item for item in items}, versions


def _unique_actions(checklist_id: str, items: Iterable[GuidanceItem]) -> None:
    """One voice: no two items of a checklist ask for the same action."""
    seen: dict[str, str] = {}
    for item in items:
        if item.action in seen:
            raise ContentError(CHECKLISTS_FILE, f"action {item.action!r} of item {item.id!r} repeats item "
                               f"{seen[item.action]!r} (expected one item per action in a checklist)",
                               item_id=checklist_id, field="items")
        seen[item.action] = item.id


def load_checklists(directory: Path, items: Mapping[str, GuidanceItem],
                    translator: Translator | None = None) -> tuple[dict[str, Checklist], str]:
    doc = read_document(directory / CHECKLISTS_FILE, CHECKLISTS_FILE, "checklists", translator)
    _unique(doc["checklists"], CHECKLISTS_FILE)
    checklists = {}
    for raw in doc["checklists"]:
        cid, audience = raw["id"], raw["audience"]
        if "items" in raw:
            _check_refs(raw["items"], items, CHECKLISTS_FILE, cid, "items", "guidance item")
            for item_id in raw["items"]:
                if items[item_id].audience != audience:
                    raise ContentError(CHECKLISTS_FILE,
                                       f"item {item_id!r} is for {items[item_id].audience!r}, expected {audience!r}",
                                       item_id=cid, field="items")
            item_ids = tuple(raw["items"])
        else:
            phases = set(raw.get("phases", PHASES))
            item_ids = tuple(i.id for i in items.values() if i.audience == audience and i.phase in phases)
            if not item_ids:
                raise ContentError(CHECKLISTS_FILE, "no guidance items match its audience and phases",
                                   item_id=cid, field="phases")
        _unique_actions(cid, [items[i] for i in item_ids])
        checklists[cid] = Checklist(cid, audience, raw["title"], item_ids, raw.get("intro", ""))
    return checklists, doc["version"]


def load_assessment(directory: Path, items: Mapping[str, GuidanceItem], sources: Mapping[str, Source],
                    translator: Translator | None = None) -> Assessment:
    rel = ASSESSMENT_FILE
    doc = read_document(directory / rel, rel, "assessment", translator)
    _unique(doc["sections"], rel)
    _unique(doc["questions"], rel)
    _check_refs(doc.get("sources", ()), sources, rel, "assessment", "sources", "source")
    sections = {s["id"]: AssessmentSection(s["id"], s["title"]) for s in doc["sections"]}
    questions = []
    for raw in doc["questions"]:
        _check_refs([raw["section"]], sections, rel, raw["id"], "section", "section")
        _check_refs(raw["guidance"], items, rel, raw["id"], "guidance", "guidance item")
        questions.append(AssessmentQuestion(raw["id"], raw["section"], raw["level"], raw["required"],
                                            raw["text"].strip(), raw["action"].strip(), tuple(raw["guidance"])))
    for level in LEVELS:
        if not any(q.level == level and q.required for q in questions):
            raise ContentError(rel, f"level {level} has no required question (expected at least one per level)",
                               field="questions")
    return Assessment(doc["version"], doc["title"], " ".join(doc.get("intro", "").split()),
                      tuple(sections.values()), tuple(questions), tuple(doc.get("sources", ())))


def load_screening(directory: Path, sources: Mapping[str, Source], translator: Translator | None = None) -> Screening:
    rel = SCREENING_FILE
    doc = read_document(directory / rel, rel, "screening", translator)
    _unique(doc["indicators"], rel)
    _unique(doc["questions"], rel)
    rules = doc["rules"]
    if rules["extra_checks_at"] >= rules["refuse_at"]:
        raise ContentError(rel, f"got extra_checks_at {rules['extra_checks_at']} and refuse_at {rules['refuse_at']}, "
                           "expected extra_checks_at below refuse_at", field="rules")
    indicators = {}
    for raw in doc["indicators"]:
        _check_refs(raw["sources"], sources, rel, raw["id"], "sources", "source")
        indicators[raw["id"]] = Indicator(raw["id"], raw["title"], raw["description"], raw["weight"],
                                          raw.get("hard_stop", False), tuple(raw["sources"]))
    questions = []
    used: set[str] = set()
    for raw in doc["questions"]:
        qid = raw["id"]
        if raw["kind"] == "choice":
            options = tuple(ScreeningOption(o["value"], o["label"]) for o in raw["options"])
            _unique(raw["options"], rel, "value")
        else:
            options = tuple(ScreeningOption(v, v) for v in YES_NO)
        values = {o.value for o in options}
        for value, fired in raw["indicators"].items():
            if value not in values:
                raise ContentError(rel, f"answer {value!r} is not an option (expected one of {sorted(values)})",
                                   item_id=qid, field=f"indicators.{value}")
            _check_refs(fired, indicators, rel, qid, f"indicators.{value}", "indicator")
            used.update(fired)
        questions.append(ScreeningQuestion(qid, raw["prompt"], raw["kind"], raw.get("required", False), options,
                                           {k: tuple(v) for k, v in raw["indicators"].items()}))
    unused = [i for i in indicators if i not in used]
    if unused:
        raise ContentError(rel, "no question can fire this indicator", item_id=unused[0], field="id")
    return Screening(doc["version"], doc.get("title", ""), " ".join(doc.get("intro", "").split()),
                     rules["extra_checks_at"], rules["refuse_at"], tuple(indicators.values()), tuple(questions))


def _bands(raw: list[dict[str, Any]], key: str, rel: str, field: str) -> tuple[Band, ...]:
    bands = tuple(Band(float(b[key]), b["points"]) for b in raw)
    thresholds = [b.threshold for b in bands]
    if thresholds != sorted(set(thresholds)):
        raise ContentError(rel, f"got thresholds {thresholds}, expected strictly ascending values", field=field)
    return bands


def _form_field(raw: dict[str, Any]) -> FormField:
    return FormField(raw["id"], raw["kind"], raw["required"], raw["prompt"], raw.get("help", ""),
                     raw.get("unit", ""), tuple(raw.get("options", ())),
                     tuple(_form_field(f) for f in raw.get("fields", ())))


def load_public_space(directory: Path, items: Mapping[str, GuidanceItem], sources: Mapping[str, Source],
                      translator: Translator | None = None) -> PublicSpaceRules:
    rel = PUBLIC_SPACE_FILE
    doc = read_document(directory / rel, rel, "public_space", translator)
    _unique(doc["site_kinds"], rel)
    _unique(doc["mitigations"], rel)
    _unique(doc["form"], rel)
    _check_refs(doc.get("sources", ()), sources, rel, "public_space", "sources", "source")
    raw = doc["scoring"]
    ratings = tuple((r["min_score"], r["rating"]) for r in raw["ratings"])
    if [m for m, _ in ratings] != sorted({m for m, _ in ratings}) or ratings[0][0] != 0:
        raise ContentError(rel, f"got {list(ratings)}, expected ratings ascending from min_score 0",
                           field="scoring.ratings")
    scoring = SiteScoring(
        speed_bands=_bands(raw["speed_bands"], "above_kmh", rel, "scoring.speed_bands"),
        high_speed_kmh=float(raw["high_speed_kmh"]),
        direct_approach_deg=float(raw["direct_approach_deg"]),
        direct_approach_points=raw["direct_approach_points"],
        extra_unprotected_route_points=raw["extra_unprotected_route_points"],
        extra_unprotected_route_cap=raw["extra_unprotected_route_cap"],
        penetration_points=raw["penetration_points"],
        crowd_bands=_bands(raw["crowd_bands"], "min_people", rel, "scoring.crowd_bands"),
        large_crowd_people=raw["large_crowd_people"],
        delivery_overlap_points=raw["delivery_overlap_points"],
        default_vehicle_mass_kg=float(raw["default_vehicle_mass_kg"]),
        ratings=ratings,
    )
    mitigations = []
    for m in doc["mitigations"]:
        _check_refs(m["guidance"], items, rel, m["id"], "guidance", "guidance item")
        _check_refs(m["sources"], sources, rel, m["id"], "sources", "source")
        mitigations.append(Mitigation(m["id"], m["title"], " ".join(m["text"].split()), tuple(m["guidance"]),
                                      tuple(m["sources"]), tuple(m.get("when", ())), m.get("min_rating"),
                                      m.get("always", False)))
    site_kinds = {k["id"]: k["weight"] for k in doc["site_kinds"]}
    form = tuple(FormSection(s["id"], s["title"], s.get("repeat", False), tuple(_form_field(f) for f in s["fields"]))
                 for s in doc["form"])
    for section in form:
        _unique([{"id": f.id} for f in section.fields], rel)
        for f in section.fields:
            if f.id == "kind" and set(f.options) != set(site_kinds):
                raise ContentError(rel, f"got options {list(f.options)}, expected the site kinds {list(site_kinds)}",
                                   item_id=section.id, field="fields.kind.options")
    return PublicSpaceRules(doc["version"], doc.get("title", ""), " ".join(doc.get("intro", "").split()), site_kinds,
                            scoring, float(doc["zone_defaults"]["max_speed_kmh"]), tuple(mitigations), form,
                            tuple(doc.get("sources", ())))


def load_plans(directory: Path, items: Mapping[str, GuidanceItem], checklists: Mapping[str, Checklist],
               assessment: Assessment, sources: Mapping[str, Source],
               translator: Translator | None = None) -> tuple[dict[str, Plan], str]:
    """The plan templates; every section points at items of the plan's audience and known questions."""
    rel = PLANS_FILE
    doc = read_document(directory / rel, rel, "plans", translator)
    _unique(doc["plans"], rel)
    questions = {q.id: q for q in assessment.questions}
    plans = {}
    for raw in doc["plans"]:
        pid, audience = raw["id"], raw["audience"]
        _check_refs([raw["checklist"]], checklists, rel, pid, "checklist", "checklist")
        if checklists[raw["checklist"]].audience != audience:
            raise ContentError(rel, f"checklist {raw['checklist']!r} is for {checklists[raw['checklist']].audience!r}, "
                               f"expected {audience!r}", item_id=pid, field="checklist")
        _check_refs(raw["sources"], sources, rel, pid, "sources", "source")
        _unique(raw["sections"], rel)
        sections = []
        for sec in raw["sections"]:
            where = f"sections.{sec['id']}"
            _check_refs(sec["items"], items, rel, pid, f"{where}.items", "guidance item")
            for item_id in sec["items"]:
                if items[item_id].audience != audience:
                    raise ContentError(rel, f"item {item_id!r} is for {items[item_id].audience!r}, expected "
                                       f"{audience!r}", item_id=pid, field=f"{where}.items")
            _check_refs(sec.get("questions", ()), questions, rel, pid, f"{where}.questions", "assessment question")
            sections.append(PlanSection(sec["id"], sec["title"], " ".join(sec["prompt"].split()), tuple(sec["items"]),
                                        tuple(sec.get("questions", ()))))
        plans[pid] = Plan(pid, audience, raw["title"], " ".join(raw["intro"].split()), raw["checklist"],
                          tuple(sections), tuple(raw["sources"]))
    return plans, doc["version"]


def load_strings(directory: Path, language: str, translator: Translator | None = None) -> Strings:
    """The strings of a language: ``strings.en.yaml`` with the language's overlay (English for each key it lacks),
    or a complete ``strings.<language>.yaml`` where a directory keeps one."""
    whole = f"strings.{language}.yaml"
    if language != SOURCE_LANGUAGE and (directory / whole).is_file():
        doc = read_document(directory / whole, whole, "strings")
        if doc["language"] != language:
            raise ContentError(whole, f"got language {doc['language']!r}, expected {language!r}", field="language")
        return Strings(language, doc["version"], doc["strings"])
    if translator is None and language != SOURCE_LANGUAGE:
        translator = Translator(directory, language)
    doc = read_document(directory / STRINGS_FILE, STRINGS_FILE, "strings", translator)
    if doc["language"] != SOURCE_LANGUAGE:
        raise ContentError(STRINGS_FILE, f"got language {doc['language']!r}, expected {SOURCE_LANGUAGE!r}",
                           field="language")
    return Strings(language, doc["version"], doc["strings"])


def load_content(directory: Path | str | None = None, *, language: str = SOURCE_LANGUAGE) -> Content:
    """All toolkit content of a directory (the packaged content by default), validated and cross-checked; in another
    language, each entry whose translation is complete and up to date replaces the English one."""
    if language not in (SOURCE_LANGUAGE, *LANGUAGES):
        raise ContentError("translations", f"got language {language!r}, expected one of "
                           f"{', '.join((SOURCE_LANGUAGE, *LANGUAGES))}")
    directory = Path(directory) if directory is not None else CONTENT_DIR
    translator = Translator(directory, language) if language != SOURCE_LANGUAGE else None
    sources, sources_version = load_sources(directory)
    items, item_versions = load_items(directory, sources, translator)
    checklists, checklists_version = load_checklists(directory, items, translator)
    assessment = load_assessment(directory, items, sources, translator)
    screening = load_screening(directory, sources, translator)
    public_space = load_public_space(directory, items, sources, translator)
    plans, plans_version = load_plans(directory, items, checklists, assessment, sources, translator)
    strings = load_strings(directory, language, translator)
    versions = {
        SOURCES_FILE: sources_version,
        **item_versions,
        CHECKLISTS_FILE: checklists_version,
        ASSESSMENT_FILE: assessment.version,
        SCREENING_FILE: screening.version,
        PUBLIC_SPACE_FILE: public_space.version,
        PLANS_FILE: plans_version,
        STRINGS_FILE: strings.version,
    }
    return Content(sources, items, checklists, assessment, screening, public_space, strings, versions, plans,
                   language=language, in_english=dict(translator.in_english) if translator else {})


@cache
def default_content(language: str = SOURCE_LANGUAGE) -> Content:
    """The packaged content in a language (English by default), loaded once per process and language."""
    return load_content(CONTENT_DIR, language=language)
