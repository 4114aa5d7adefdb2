"""Keeps the site's gettext catalogues in step with its source: extracts every marked message from the templates
and the Python code, and merges new ones into each language's .po file (``python -m web.catalogue``)."""

from __future__ import annotations

import argparse
import copy
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from web.i18n import CATALOGUES, DOMAIN, LANGUAGES

WEB_DIR = Path(__file__).resolve().parent
KEYWORDS = {
    "_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3),
    "lazy_gettext": None, "lazy_ngettext": (1, 2), "lazy_pgettext": ((1, "c"), 2), "N_": None,
}
"""The functions that mark a message: Flask-Babel's (plain, plural, with context, lazy) and ``web.i18n.N_``."""
HEADER_COMMENT = """\
# truckguard's web site in {language}.
# Messages are extracted from web/ and merged by `python -m web.catalogue`; translate the empty msgstr entries.
#"""
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
SKIP = ("translations", "static", "migrations", "__pycache__")


def _wanted(path: str) -> bool:
    return not any(part in SKIP for part in Path(path).parts)


def extract(root: Path = WEB_DIR) -> Catalog:
    """Every message marked under ``root`` (templates and Python), with the places it is used."""
    catalog = Catalog(domain=DOMAIN, project="truckguard", msgid_bugs_address="", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
            str(root), METHODS, keywords=KEYWORDS, comment_tags=("Translators:",), strip_comment_tags=True,
            directory_filter=lambda path: _wanted(path)):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def message_keys(catalog: Catalog) -> set[tuple[str, str | None]]:
    """``(msgid, msgctxt)`` of every message; a plural is known by its singular."""
    return {(m.id[0] if isinstance(m.id, tuple) else m.id, m.context) for m in catalog if m.id}


def po_path(language: str, source_dir: Path = CATALOGUES) -> Path:
    return source_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(language: str, source_dir: Path = CATALOGUES) -> Catalog:
    with po_path(language, source_dir).open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def untranslated(template: Catalog, catalogue: Catalog) -> list[str]:
    """The messages of ``template`` that ``catalogue`` lacks or leaves untranslated (or fuzzy), sorted."""
    missing = []
    for message in template:
        if not message.id:
            continue
        entry = catalogue.get(message.id, context=message.context)
        strings = entry.string if entry is not None else None
        filled = all(strings) if isinstance(strings, tuple) else bool(strings)
        if entry is None or entry.fuzzy or not filled:
            key = message.id[0] if isinstance(message.id, tuple) else message.id
            missing.append(f"{message.context}|{key}" if message.context else key)
    return sorted(missing)


def update(languages: Iterable[str] = tuple(LANGUAGES), source_dir: Path = CATALOGUES) -> dict[str, list[str]]:
    """Merges the extracted messages into each language's catalogue (new ones empty, gone ones dropped, the
    translations kept; English translates each message as itself); returns what each language still lacks."""
    template = extract()
    left: dict[str, list[str]] = {}
    for language in languages:
        path = po_path(language, source_dir)
        catalogue = read_catalogue(language, source_dir) if path.exists() else Catalog(
            locale=language, domain=DOMAIN, project="truckguard", version="", charset="utf-8",
            copyright_holder="the truckguard authors", language_team=f"truckguard {LANGUAGES[language]}",
            last_translator="truckguard")
        catalogue.update(copy.deepcopy(template), no_fuzzy_matching=True, update_creation_date=False)
        catalogue.obsolete.clear()
        catalogue.fuzzy = False  # the header carries Plural-Forms: a fuzzy header would be left out of the .mo
        catalogue.header_comment = HEADER_COMMENT.format(language=LANGUAGES[language])
        if language == "en":
            for message in catalogue:
                if message.id:
                    message.string = message.id
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, catalogue, width=120, omit_header=False, sort_output=True, include_lineno=False)
        left[language] = untranslated(template, catalogue)
    return left


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    for language, missing in update().items():
        print(f"{language}: {len(missing)} untranslated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
