"""The site in five languages: complete catalogues, no unmarked template text, the language chosen, local formats."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jinja2 import Environment
from sqlalchemy.orm import Session

from tests.web.people import csrf_token, signed_in
from tests.web.samples import alert
from toolkit.translations import entries_of, entry_problem, read_english, read_overlay
from web.catalogue import WEB_DIR, extract, message_keys, read_catalogue, untranslated
from web.db import get_engine
from web.display import fact, heading, when
from web.i18n import CATALOGUES, LANGUAGE_COOKIE, LANGUAGES, compile_catalogues, language_of
from web.preferences import UserPreferenceRow
from web.store import upsert_alert

TRANSLATED = sorted(set(LANGUAGES) - {"en"})
TEMPLATES = WEB_DIR / "templates"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|</?\w[^>]*>")

LITERALS = {"truckguard", "fleet.json", "trips.geojson", "zones.geojson", "pedestrian_precinct", "market", "event",
            "transport_hub", "public_square", "mon-fri 07:00-20:00; sat 10:00-16:00", "N1, N2", "06:00-10:00", "m",
            "Slack", "Microsoft Teams", "Mattermost", "Europe/Berlin", "PDF"}
"""Template text that is the same in every language: product names, file and zone-kind identifiers a person types
as they are, and example values."""
TEXT_ATTRIBUTES = ("aria-label", "placeholder", "title", "alt")


@pytest.fixture(scope="module")
def template() -> object:
    return extract()


def test_every_marked_message_is_translated_in_every_language(template: object) -> None:
    for language in TRANSLATED:
        assert untranslated(template, read_catalogue(language)) == [], \
            f"{language}: run `python -m web.catalogue` and translate the empty entries of its messages.po"
    assert message_keys(template) <= message_keys(read_catalogue("en"))


def test_translations_keep_every_placeholder_and_tag(template: object) -> None:
    for language in TRANSLATED:
        catalogue = read_catalogue(language)
        for message in template:
            if not message.id:
                continue
            entry = catalogue.get(message.id, context=message.context)
            if entry is None:
                continue  # missing: the test above names it
            sources = message.id if isinstance(message.id, tuple) else (message.id,)
            targets = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            for target in targets:
                assert sorted(PLACEHOLDER.findall(sources[-1])) == sorted(PLACEHOLDER.findall(target)), \
                    (language, sources[0], target)


class _VisibleText(HTMLParser):
    """Collects the text a person would read or hear from a template's literal (non-Jinja) parts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        self.found += [value for name, value in attrs if name in TEXT_ATTRIBUTES and value]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.found.append(data)


def unmarked_text(source: str) -> list[str]:
    """Words in a template that reach the reader without passing through the catalogue: its literal data, with
    every Jinja expression, tag and comment taken out (translated text lives inside those)."""
    parser = _VisibleText()
    in_trans, previous = False, ""
    for _line, kind, value in Environment(extensions=["jinja2.ext.i18n"]).lex(source):
        if kind == "name" and previous == "block_begin" and value in ("trans", "endtrans"):
            in_trans = value == "trans"  # a {% trans %} block's text is a catalogue message
        elif kind == "data" and not in_trans:
            parser.feed(value)
        previous = kind if kind != "whitespace" else previous
    parser.close()
    words = (text.strip(" \n\t()[]:;,.·—–→…|/") for text in parser.found)
    return [text for text in words if re.search(r"[A-Za-zÀ-ÿ]", text) and text not in LITERALS]


def test_the_scanner_finds_unmarked_words() -> None:
    assert unmarked_text('<p>Stop request <a aria-label="Map">{{ x }}</a></p>') == ["Stop request", "Map"]
    assert unmarked_text('<p>{{ _("Stop request") }} <a aria-label="{{ _(\'Map\') }}">{{ x }}</a></p>') == []


def test_no_template_shows_text_that_is_not_in_the_catalogue() -> None:
    # The toolkit's pages take their words from its strings files by key (t("...")), checked below.
    pages = sorted(TEMPLATES.rglob("*.html"))
    assert len(pages) >= 30
    found = {str(path.relative_to(TEMPLATES)): unmarked_text(path.read_text()) for path in pages}
    assert {page: words for page, words in found.items() if words} == {}


def test_language_of_accepts_region_variants_only_of_the_five() -> None:
    assert [language_of(code) for code in ("de", "de-AT", "fr_FR", "SV", "pt", "", None)] == \
        ["de", "de", "fr", "sv", None, None, None]


def test_the_browser_language_then_the_switch_then_the_account_decide(app: Flask, client: FlaskClient) -> None:
    def shown(c: FlaskClient, **headers: str) -> tuple[str, str]:
        page = c.get("/login", headers=headers).get_data(as_text=True)
        return re.search(r'<html lang="(\w+)">', page)[1], re.search(r"<h1>(.*?)</h1>", page)[1]

    assert shown(client) == ("en", "Sign in")
    assert shown(client, **{"Accept-Language": "sv-SE,sv;q=0.9,en;q=0.5"}) == ("sv", "Logga in")
    assert shown(client, **{"Accept-Language": "pt-BR,es;q=0.8"}) == ("es", "Iniciar sesión")

    response = client.post("/account/language", data={"language": "fr", "next": "/login",
                                                       "csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert LANGUAGE_COOKIE in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]
    assert shown(client, **{"Accept-Language": "de"}) == ("fr", "Se connecter")
    bad = client.post("/account/language", data={"language": "xx", "csrf_token": csrf_token(client, "/login")})
    assert bad.status_code == 400
    offsite = client.post("/account/language", data={"language": "de", "next": "//evil.example/",
                                                      "csrf_token": csrf_token(client, "/login")})
    assert offsite.headers["Location"] == "/alerts"

    # Signed in, the choice is kept with the account: another browser (no cookie, English) follows it.
    officer = signed_in(app, "dispatcher-de", "fleet_operator", ("nordfracht",))
    officer.post("/account/language", data={"language": "de", "next": "/account",
                                            "csrf_token": csrf_token(officer, "/account")})
    other = signed_in(app, "dispatcher-de", "fleet_operator", ("nordfracht",))
    other.delete_cookie(LANGUAGE_COOKIE)
    page = other.get("/account", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="de">' in page and "Ihr Konto" in page and '<option value="de" lang="de" selected>' in page
    with app.app_context(), Session(get_engine()) as session:
        assert [row.language for row in session.query(UserPreferenceRow)] == ["de"]


def test_every_page_has_the_language_switch(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    switch = re.search(r'<form method="post" action="/account/language" class="language-switch">.*?</form>', page,
                       re.S)
    assert switch is not None
    assert re.findall(r'value="(\w\w)" lang="\w\w"', switch[0]) == list(LANGUAGES)
    pressed = re.findall(r'<button[^>]*value="(\w\w)"[^>]*aria-pressed="true"', switch[0])
    assert pressed == ["en"] and 'aria-label="Svenska"' in switch[0]
    german = client.get("/login", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert re.findall(r'<button[^>]*value="(\w\w)"[^>]*aria-pressed="true"', german) == ["de"]


def test_dates_numbers_and_headings_are_written_as_the_reader_writes_them(app: Flask) -> None:
    with app.app_context(), Session(get_engine()) as session, session.begin():
        upsert_alert(session, alert(alert_id="al-de", ts="2026-11-24T09:20:00Z", score=0.93,
                                    evidence={"distance_m": 2420.0, "heading_deg": 68.796875}))
    client = signed_in(app, "officer-de", "law_enforcement")
    client.set_cookie(LANGUAGE_COOKIE, "de")
    page = client.get("/alerts/al-de").get_data(as_text=True)
    assert "24.11.2026, 09:20:00" in page and "0,93" in page and "2,4 km" in page and "69° ONO" in page
    assert "Belege" in page and '<h1>Routenabweichung — <a href="/vehicles/NF-101">NF-101</a></h1>' in page
    with app.test_request_context(headers={"Cookie": f"{LANGUAGE_COOKIE}=de"}):
        assert heading(68.796875) == "69° ONO" and heading(250.0) == "250° WSW"
        assert when("2026-11-24T09:20:00Z", "Europe/Berlin") == "24.11.2026, 10:20:00 UTC+1"
    with app.test_request_context(headers={"Cookie": f"{LANGUAGE_COOKIE}=sv"}):
        assert heading(68.796875) == "69° ONO" and heading(250.0) == "250° VSV"
    with app.test_request_context(headers={"Cookie": f"{LANGUAGE_COOKIE}=fr"}):
        assert heading(292.0) == "292° ONO"
        assert when("2026-07-01T12:00:00Z", "Europe/Paris") == "1 juil. 2026, 14:00:00 UTC+2"
    assert heading(68.796875) == "69° ENE" and heading(359.6) == "0° N" and heading(None) == "—"


def test_catalogues_compile_to_the_same_bytes_every_time(tmp_path: Path) -> None:
    first = compile_catalogues(tmp_path / "a")
    second = compile_catalogues(tmp_path / "b")
    assert [path.relative_to(tmp_path / "a") for path in first] == \
        [path.relative_to(tmp_path / "b") for path in second] == \
        [Path(language, "LC_MESSAGES", "messages.mo") for language in sorted(LANGUAGES)]
    assert [path.read_bytes() for path in first] == [path.read_bytes() for path in second]
    before = first[0].stat().st_mtime_ns
    compile_catalogues(tmp_path / "a")
    assert first[0].stat().st_mtime_ns == before  # unchanged sources leave the compiled file alone
    assert CATALOGUES.is_dir()


def test_the_toolkit_pages_own_strings_are_translated_and_current_in_every_language() -> None:
    strings = TEMPLATES / "toolkit"
    entries = entries_of(read_english(strings, "strings.en.yaml"), "strings.en.yaml")
    assert len(entries) > 150
    for language in TRANSLATED:
        overlay = read_overlay(strings, language, "strings.en.yaml") or {}
        problems = [str(p) for e in entries.values() if (p := entry_problem(language, "strings.en.yaml", e,
                                                                              overlay.get(e.id))) is not None]
        assert problems == [], f"{language}: translate each entry and stamp its source_hash"
        assert set(overlay) == set(entries), f"{language}: entries the English no longer has"


def test_evidence_values_read_as_people_say_them(app: Flask) -> None:
    assert [fact("heading_deg", 68.796875), fact("speed_kmh", 42.4), fact("distance_m", 2420.0),
            fact("lasted_s", 40), fact("gnss_fix", False)] == ["69° ENE", "42 km/h", "2.4 km", "40", "no"]
    with app.test_request_context(headers={"Cookie": f"{LANGUAGE_COOKIE}=es"}):
        assert [fact("heading_deg", 200.0), fact("distance_m", 2420.0), fact("gnss_fix", False)] == \
            ["200° SSO", "2,4 km", "no"]
