"""The site's language: which of its five a request is served in, and the catalogues that carry them."""

from __future__ import annotations

import io
import os
import tempfile
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, g, request
from flask_babel import Babel, get_locale
from sqlalchemy.exc import SQLAlchemyError

from web.db import get_session
from web.preferences import account_language

LANGUAGES: dict[str, str] = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español", "sv": "Svenska"}
"""The languages of the site, each named in itself (as a language switch must, so a reader finds their own)."""
DEFAULT_LANGUAGE = "en"
CATALOGUES = Path(__file__).with_name("translations")
"""The gettext sources, ``<lang>/LC_MESSAGES/messages.po``; the site compiles them when it starts."""
DOMAIN = "messages"
LANGUAGE_COOKIE = "truckguard_language"
LANGUAGE_COOKIE_AGE_S = 365 * 24 * 3600
"""A visitor's choice outlives the 12-hour session: a desk or a phone keeps one language for months."""


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue where it is defined, untranslated (an API answers in English); the
    page that shows it translates it with ``gettext(message)``."""
    return message


def language_of(code: str | None) -> str | None:
    """``code`` when it is one of the site's languages (``de``, ``de-AT`` and ``de_AT`` all give ``de``), else None."""
    if not code:
        return None
    base = code.replace("_", "-").split("-", 1)[0].strip().lower()
    return base if base in LANGUAGES else None


def select_language() -> str:
    """The account's language, else the one this browser chose with the switch, else its Accept-Language, else
    English."""
    user = g.get("user")
    try:
        account = account_language(get_session(), user) if user is not None else None
    except SQLAlchemyError:
        account = None  # the "store busy" page must still render, in the browser's language
    for choice in (account, request.cookies.get(LANGUAGE_COOKIE)):
        language = language_of(choice)
        if language:
            return language
    return request.accept_languages.best_match(list(LANGUAGES), default=DEFAULT_LANGUAGE)


def compile_catalogues(out_dir: Path, source_dir: Path = CATALOGUES) -> list[Path]:
    """Compiles every ``<lang>/LC_MESSAGES/messages.po`` under ``source_dir`` into the same layout under ``out_dir``;
    returns the .mo files. A file whose bytes would not change is left alone, and each is replaced atomically, so
    several workers starting together agree. The output depends on the .po alone: the same sources give the same
    bytes on every machine."""
    written: list[Path] = []
    for po_path in sorted(source_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        stat = po_path.stat()
        data = _compiled(po_path, stat.st_mtime_ns, stat.st_size)
        mo_path = out_dir / po_path.relative_to(source_dir).with_suffix(".mo")
        written.append(mo_path)
        try:
            if mo_path.read_bytes() == data:
                continue
        except FileNotFoundError:
            pass
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=mo_path.parent, prefix=".messages-", suffix=".mo")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, mo_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return written


@cache
def _compiled(po_path: Path, _mtime_ns: int, _size: int) -> bytes:
    """The .mo bytes of a .po file, once per process and version of the file (every app a test suite creates
    would otherwise parse all five catalogues again)."""
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=po_path.parts[-3], domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def init_app(app: Flask, compiled_dir: Path) -> None:
    """Compiles the catalogues into ``compiled_dir`` and serves every request in its selected language:
    ``_()``, ``gettext`` and ``ngettext`` in templates, ``flask_babel.gettext``/``lazy_gettext`` in Python."""
    compile_catalogues(compiled_dir)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled_dir)
    app.config["LANGUAGES"] = LANGUAGES
    Babel(app, locale_selector=select_language)
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["current_language"] = current_language


def current_language() -> str:
    """The language code this request is served in (``<html lang>``, the switch's pressed button)."""
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE
