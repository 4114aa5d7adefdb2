"""Overlays translated toolkit prose onto the English content, entry by entry, and reports missing or stale entries."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from toolkit.errors import ContentError

SOURCE_LANGUAGE = "en"
LANGUAGES = ("de", "fr", "es", "sv")
"""The languages the toolkit is translated into (issue 19), besides English."""
TRANSLATIONS_DIR = "translations"
DOCUMENT_ENTRY = "_document"
"""Entry id of a file's own top-level prose (its title and intro)."""
HASH_DIGITS = 12
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it: the same documents, several times faster than the pure-Python one."""
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")

Walker = Callable[[Any], Iterator["Entry"]]


@dataclass(frozen=True)
class Entry:
    """One translatable entry of an English file: its id, and where each translatable field lives in the document."""

    id: str
    target: MutableMapping[str, Any] = field(repr=False)
    slots: Mapping[str, str]
    """Field name in the overlay -> key in ``target`` (the same name except for strings, whose field is ``text``)."""

    def english(self, name: str) -> Any:
        return normalised(self.target[self.slots[name]])


def load_yaml(text: str) -> Any:
    """A YAML document read safely (no arbitrary objects), as ``yaml.safe_load`` reads it."""
    return yaml.load(text, Loader=_YAML_LOADER)


def normalised(value: Any) -> Any:
    """A prose value with runs of whitespace made one space, as the loader reads it (each element of a list)."""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, list):
        return [normalised(v) for v in value]
    return value


def source_hash(english: Mapping[str, Any]) -> str:
    """The first 12 hex digits of SHA-256 over the English values of the translated fields."""
    text = json.dumps({k: normalised(v) for k, v in english.items()}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_DIGITS]


def _entry(entry_id: str, node: MutableMapping[str, Any], fields: Sequence[str]) -> Entry:
    return Entry(entry_id, node, {f: f for f in fields if isinstance(node.get(f), str)})


def _document(doc: MutableMapping[str, Any]) -> Iterator[Entry]:
    entry = _entry(DOCUMENT_ENTRY, doc, ("title", "intro"))
    if entry.slots:
        yield entry


def _items(doc: Any) -> Iterator[Entry]:
    for item in doc["items"]:
        yield _entry(item["id"], item, ("title", "text"))


def _checklists(doc: Any) -> Iterator[Entry]:
    for checklist in doc["checklists"]:
        yield _entry(checklist["id"], checklist, ("title", "intro"))


def _assessment(doc: Any) -> Iterator[Entry]:
    yield from _document(doc)
    for section in doc["sections"]:
        yield _entry(section["id"], section, ("title",))
    for question in doc["questions"]:
        yield _entry(question["id"], question, ("text", "action"))


def _screening(doc: Any) -> Iterator[Entry]:
    yield from _document(doc)
    for indicator in doc["indicators"]:
        yield _entry(indicator["id"], indicator, ("title", "description"))
    for question in doc["questions"]:
        yield _entry(question["id"], question, ("prompt",))
        for option in question.get("options", ()):
            yield _entry(f"{question['id']}.{option['value']}", option, ("label",))


def _form_fields(prefix: str, fields: Any) -> Iterator[Entry]:
    for form_field in fields:
        entry_id = f"{prefix}.{form_field['id']}"
        yield _entry(entry_id, form_field, ("prompt", "help", "unit"))
        yield from _form_fields(entry_id, form_field.get("fields", ()))


def _public_space(doc: Any) -> Iterator[Entry]:
    yield from _document(doc)
    for mitigation in doc["mitigations"]:
        yield _entry(mitigation["id"], mitigation, ("title", "text"))
    for section in doc["form"]:
        yield _entry(section["id"], section, ("title",))
        yield from _form_fields(section["id"], section["fields"])


def _plans(doc: Any) -> Iterator[Entry]:
    for plan in doc["plans"]:
        yield _entry(plan["id"], plan, ("title", "intro"))
        for section in plan["sections"]:
            yield _entry(f"{plan['id']}.{section['id']}", section, ("title", "prompt"))


def _string_leaves(prefix: str, node: MutableMapping[str, Any]) -> Iterator[Entry]:
    for key, value in node.items():
        key_path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            yield from _string_leaves(key_path, value)  # type: ignore[arg-type]
        else:
            yield Entry(key_path, node, {"text": key})


def _strings(doc: Any) -> Iterator[Entry]:
    yield from _string_leaves("", doc["strings"])


STRINGS_FILE = "strings.en.yaml"
WALKERS: dict[str, Walker] = {
    "checklists.yaml": _checklists,
    "assessment.yaml": _assessment,
    "screening.yaml": _screening,
    "public_space.yaml": _public_space,
    "plans.yaml": _plans,
    STRINGS_FILE: _strings,
}
"""English file (relative path) -> how to find its translatable entries; every ``items/*.yaml`` uses the item walker."""


def walker(rel: str) -> Walker | None:
    if rel.startswith("items/") and rel.endswith(".yaml"):
        return _items
    return WALKERS.get(rel)


def overlay_rel(rel: str) -> str:
    """The overlay's path under ``translations/<lang>/`` for an English file's relative path."""
    return "strings.yaml" if rel == STRINGS_FILE else rel


def english_files(directory: Path) -> list[str]:
    """The relative paths of every English file that has translatable entries."""
    items = sorted(f"items/{p.name}" for p in (directory / "items").glob("*.yaml"))
    return [*items, *WALKERS]


def entries_of(doc: Any, rel: str) -> dict[str, Entry]:
    """The translatable entries of an English document, by id, in document order."""
    walk = walker(rel)
    if walk is None:
        raise ContentError(rel, "has no translatable entries (expected items/*.yaml or one of "
                           f"{', '.join(WALKERS)})")
    entries: dict[str, Entry] = {}
    for entry in walk(doc):
        if entry.id in entries:
            raise ContentError(rel, "two entries share this id, so a translation could not tell them apart",
                               item_id=entry.id)
        if entry.slots:
            entries[entry.id] = entry
    return entries


def placeholders(value: Any) -> set[str]:
    texts = value if isinstance(value, list) else [value]
    return {p for t in texts if isinstance(t, str) for p in _PLACEHOLDER.findall(t)}


# --- overlay files ---------------------------------------------------------------------------------------------

def overlay_path(directory: Path, language: str, rel: str) -> Path:
    return directory / TRANSLATIONS_DIR / language / overlay_rel(rel)


def read_overlay(directory: Path, language: str, rel: str) -> dict[str, dict[str, Any]] | None:
    """The entries of one overlay file, or None when there is none; a malformed overlay raises ContentError."""
    path = overlay_path(directory, language, rel)
    where = f"{TRANSLATIONS_DIR}/{language}/{overlay_rel(rel)}"
    try:
        doc = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except yaml.YAMLError as exc:
        raise ContentError(where, f"not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise ContentError(where, f"got {type(doc).__name__}, expected a mapping with language, translates, entries")
    if doc.get("language") != language:
        raise ContentError(where, f"got language {doc.get('language')!r}, expected {language!r}", field="language")
    if doc.get("translates") != rel:
        raise ContentError(where, f"got translates {doc.get('translates')!r}, expected {rel!r}", field="translates")
    entries = doc.get("entries") or {}
    if not isinstance(entries, dict):
        raise ContentError(where, f"got {type(entries).__name__}, expected a mapping of entry id to fields",
                           field="entries")
    for entry_id, fields in entries.items():
        if not isinstance(fields, dict) or not all(isinstance(v, str | list) for v in fields.values()):
            raise ContentError(where, "expected a mapping of field name to translated text", item_id=str(entry_id))
    return {str(k): v for k, v in entries.items()}


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one entry of one language is not served translated."""

    language: str
    file: str
    entry: str
    kind: str
    """``missing-file``, ``missing``, ``incomplete``, ``unstamped``, ``stale``, ``placeholders``, ``unknown-entry``,
    ``unknown-field`` or ``unknown-file``."""
    detail: str = ""

    def __str__(self) -> str:
        where = f"{TRANSLATIONS_DIR}/{self.language}/{overlay_rel(self.file)}"
        return f"{where}: {self.entry}: {self.kind}" + (f" ({self.detail})" if self.detail else "")


def entry_problem(language: str, rel: str, entry: Entry, translated: Mapping[str, Any] | None) -> Problem | None:
    """Why a translated entry cannot be served in place of the English one, or None when it can."""
    if translated is None:
        return Problem(language, rel, entry.id, "missing")
    unknown = sorted(set(translated) - set(entry.slots) - {"source_hash"})
    if unknown:
        return Problem(language, rel, entry.id, "unknown-field", f"{unknown}; translatable: {sorted(entry.slots)}")
    absent = sorted(set(entry.slots) - set(translated))
    if absent:
        return Problem(language, rel, entry.id, "incomplete", f"no {', '.join(absent)}")
    stamped = translated.get("source_hash")
    if not stamped:
        return Problem(language, rel, entry.id, "unstamped", "no source_hash: review it, then run stamp")
    current = source_hash({name: entry.english(name) for name in entry.slots})
    if stamped != current:
        return Problem(language, rel, entry.id, "stale",
                       f"the English text changed since it was translated (hash {stamped}, now {current})")
    for name in entry.slots:
        want, got = placeholders(entry.english(name)), placeholders(translated[name])
        if want != got:
            return Problem(language, rel, entry.id, "placeholders", f"{name} has {sorted(got)}, English {sorted(want)}")
    return None


def apply_overlay(doc: Any, rel: str, language: str, directory: Path) -> frozenset[str]:
    """Writes the language's fresh, complete translations into an English document in place; returns the ids of the
    entries left in English (missing, incomplete, unstamped or stale translations)."""
    if language == SOURCE_LANGUAGE:
        return frozenset()
    overlay = read_overlay(directory, language, rel) or {}
    in_english = set()
    for entry in entries_of(doc, rel).values():
        translated = overlay.get(entry.id)
        if translated is None or entry_problem(language, rel, entry, translated) is not None:
            in_english.add(entry.id)
            continue
        for name, key in entry.slots.items():
            entry.target[key] = normalised(translated[name])
    return frozenset(in_english)


@dataclass
class Translator:
    """Overlays one language onto each English document the loader reads, and remembers what stayed in English."""

    directory: Path
    language: str
    in_english: dict[str, frozenset[str]] = field(default_factory=dict)
    """English file (relative path) -> ids of its entries served in English."""

    def apply(self, doc: Any, rel: str) -> None:
        self.in_english[rel] = apply_overlay(doc, rel, self.language, self.directory)


def read_english(directory: Path, rel: str) -> Any:
    try:
        return load_yaml((directory / rel).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContentError(rel, "file not found") from None


def check(directory: Path, languages: Sequence[str] = LANGUAGES) -> list[Problem]:
    """Every missing, incomplete, unstamped, stale or unknown entry of the languages' overlays."""
    problems: list[Problem] = []
    for rel in english_files(directory):
        entries = entries_of(read_english(directory, rel), rel)
        for language in languages:
            overlay = read_overlay(directory, language, rel)
            if overlay is None:
                problems.append(Problem(language, rel, "*", "missing-file", f"{len(entries)} entries to translate"))
                continue
            for entry in entries.values():
                problem = entry_problem(language, rel, entry, overlay.get(entry.id))
                if problem is not None:
                    problems.append(problem)
            for entry_id in overlay:
                if entry_id not in entries:
                    problems.append(Problem(language, rel, entry_id, "unknown-entry", "no English entry has this id"))
    expected = {overlay_rel(rel) for rel in english_files(directory)}
    for language in languages:
        root = directory / TRANSLATIONS_DIR / language
        for path in sorted(root.rglob("*.yaml")):
            rel = path.relative_to(root).as_posix()
            if rel not in expected:
                problems.append(Problem(language, rel, "*", "unknown-file", "translates no English content file"))
    return problems


# --- writing overlays ------------------------------------------------------------------------------------------

class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = ">" if len(value) > 90 else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump_overlay(language: str, rel: str, entries: Mapping[str, Mapping[str, Any]], header: str = "") -> str:
    body = yaml.dump({"language": language, "translates": rel, "entries": {k: dict(v) for k, v in entries.items()}},
                     Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110, default_flow_style=False)
    return header + body


def _header(path: Path) -> str:
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)


def stamp(directory: Path, language: str, restamp: Sequence[str] = ()) -> list[str]:
    """Writes ``source_hash`` on every entry that has none, and on the entries named ``file:entry-id`` in
    ``restamp`` (re-translated after their English changed); rewrites each touched overlay in English entry order.
    Returns the stamped ``file:entry-id`` names."""
    stamped: list[str] = []
    wanted = set(restamp)
    for rel in english_files(directory):
        overlay = read_overlay(directory, language, rel)
        if overlay is None:
            continue
        entries = entries_of(read_english(directory, rel), rel)
        changed = False
        ordered: dict[str, dict[str, Any]] = {}
        for entry_id in [*entries, *(e for e in overlay if e not in entries)]:
            if entry_id not in overlay:
                continue
            translated = dict(overlay[entry_id])
            entry = entries.get(entry_id)
            name = f"{rel}:{entry_id}"
            if entry is not None and (not translated.get("source_hash") or name in wanted):
                fields = [f for f in entry.slots if f in translated]
                if fields:
                    translated["source_hash"] = source_hash({f: entry.english(f) for f in fields})
                    stamped.append(name)
                    changed = True
            order = [*(entry.slots if entry else ()), *sorted(translated)]
            ordered[entry_id] = {k: translated[k] for k in dict.fromkeys(order) if k in translated}
        if changed:
            path = overlay_path(directory, language, rel)
            path.write_text(dump_overlay(language, rel, ordered, _header(path)), encoding="utf-8")
    unknown = wanted - set(stamped)
    if unknown:
        raise ContentError(f"{TRANSLATIONS_DIR}/{language}", f"nothing to re-stamp for {sorted(unknown)} (expected "
                           "file:entry-id of an entry present in the overlay)")
    return stamped


def skeleton(directory: Path, language: str, rel: str) -> str:
    """An overlay of the file with every entry's English text, for a translator to replace (no hashes yet)."""
    entries = entries_of(read_english(directory, rel), rel)
    header = (f"# {language} translation of {rel}: translate the values, keep ids, field names and placeholders;\n"
              f"# then run: python -m toolkit.translations stamp --lang {language}\n")
    return dump_overlay(language, rel, {e.id: {n: e.english(n) for n in e.slots} for e in entries.values()}, header)


def main(argv: Sequence[str] | None = None) -> int:
    from toolkit.loader import CONTENT_DIR

    parser = argparse.ArgumentParser(prog="python -m toolkit.translations", description=__doc__)
    parser.add_argument("--content", type=Path, default=CONTENT_DIR, help="content directory (the packaged one)")
    sub = parser.add_subparsers(dest="command", required=True)
    check_p = sub.add_parser("check", help="report missing, stale and unknown entries; exit 1 when there are any")
    check_p.add_argument("--lang", action="append", choices=LANGUAGES, help="a language (repeatable; default all)")
    stamp_p = sub.add_parser("stamp", help="write source_hash on reviewed entries")
    stamp_p.add_argument("--lang", required=True, choices=LANGUAGES)
    stamp_p.add_argument("--entry", action="append", default=[], metavar="FILE:ID",
                         help="re-stamp this re-translated entry even though it has a hash (repeatable)")
    skel_p = sub.add_parser("skeleton", help="print an overlay holding the English text of every entry of a file")
    skel_p.add_argument("--lang", required=True, choices=LANGUAGES)
    skel_p.add_argument("--file", required=True, help="English file, e.g. items/driver.yaml or strings.en.yaml")
    args = parser.parse_args(argv)
    if args.command == "check":
        problems = check(args.content, args.lang or LANGUAGES)
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s) in {', '.join(args.lang or LANGUAGES)}", file=sys.stderr)
        return 1 if problems else 0
    if args.command == "stamp":
        for name in stamp(args.content, args.lang, args.entry):
            print(f"stamped {name}")
        return 0
    sys.stdout.write(skeleton(args.content, args.lang, args.file))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
