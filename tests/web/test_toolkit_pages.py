"""The toolkit's pages: public guidance without an account, private tools behind sign-in, no dead internal links."""

from __future__ import annotations

import re
from collections import deque
from urllib.parse import urldefrag, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from tests.web.people import signed_in
from toolkit.loader import default_content
from toolkit.model import AUDIENCES, PHASES

PUBLIC = ("/toolkit", "/toolkit/search?q=cash", "/toolkit/search", "/toolkit/checklists",
          *(f"/toolkit/audiences/{a}" for a in AUDIENCES), *(f"/toolkit/phases/{p}" for p in PHASES),
          *(f"/toolkit/checklists/{c}" for c in default_content().checklists))
PRIVATE = ("/toolkit/assessment", "/toolkit/screening", "/toolkit/screening-reports", "/toolkit/public-space")
HREF = re.compile(r'href="([^"]+)"')


def test_public_pages_render_without_signing_in(client: FlaskClient) -> None:
    for path in PUBLIC:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "Content-Security-Policy" in response.headers


def test_tools_need_an_account(client: FlaskClient) -> None:
    for path in PRIVATE:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next=" + path)


def test_every_item_has_a_page_with_its_sources(client: FlaskClient) -> None:
    content = default_content()
    for item in content.items.values():
        html = client.get(f"/toolkit/items/{item.id}").get_data(as_text=True)
        assert item.title.replace("'", "&#39;") in html, item.id
        for source in content.sources_of(item):
            assert f'href="{source.url}"' in html.replace("&amp;", "&"), (item.id, source.id)
            assert str(source.year) in html
        for citation in item.citations:
            assert escape(citation.section) in html, (item.id, citation.source)
        assert f"<code>{item.action}</code>" in html
    assert client.get("/toolkit/items/no-such-item").status_code == 404
    assert client.get("/toolkit/audiences/nobody").status_code == 404
    assert client.get("/toolkit/phases/nowhen").status_code == 404


def test_search_finds_items_and_explains_a_bad_filter(client: FlaskClient) -> None:
    html = client.get("/toolkit/search?q=cash+payment").get_data(as_text=True)
    assert "/toolkit/items/rc-book-01" in html
    empty = client.get("/toolkit/search?q=zzzzqqq").get_data(as_text=True)
    assert default_content().strings.text("search.no_results") in empty
    bad = client.get("/toolkit/search?q=x&audience=pilots")
    assert bad.status_code == 400 and "audience: got &#39;pilots&#39;" in bad.get_data(as_text=True)
    filtered = client.get("/toolkit/search?q=&audience=driver&phase=driving").get_data(as_text=True)
    ids = set(re.findall(r"/toolkit/items/([\w-]+)", filtered))
    assert ids and all(default_content().items[i].phase == "driving" for i in ids)


def test_pages_use_the_content_strings_and_are_phone_ready(client: FlaskClient) -> None:
    strings = default_content().strings
    html = client.get("/toolkit").get_data(as_text=True)
    assert strings.text("toolkit.title") in html
    for audience in AUDIENCES:
        assert strings.text(f"audience.{audience}") in html
    assert 'name="viewport"' in html and "toolkit.css" in html
    assert "cdn" not in html.lower() and "https://" not in html


def _crawl(client: FlaskClient, start: str = "/toolkit", *, skip: tuple[str, ...] = ()) -> dict[str, int]:
    """Every page reachable from ``start`` through internal links, with the status each answered.

    Pages under ``skip`` are fetched but their links not followed (the same for everyone, crawled once).
    """
    seen: dict[str, int] = {}
    queue = deque([start])
    while queue:
        path = queue.popleft()
        if path in seen:
            continue
        response = client.get(path)
        seen[path] = response.status_code
        if response.status_code == 302:
            assert "/login" in response.headers["Location"], (path, response.headers["Location"])
            continue
        assert response.status_code == 200, path
        if not path.startswith("/toolkit") or path.startswith(skip) or response.mimetype != "text/html":
            continue
        for href in HREF.findall(response.get_data(as_text=True)):
            href = urldefrag(href.replace("&amp;", "&"))[0]
            if href and href.startswith("/") and not href.startswith("//") and not urlsplit(href).netloc:
                queue.append(href)
    return seen


def test_no_dead_internal_links_for_visitors(client: FlaskClient) -> None:
    seen = _crawl(client)
    items = [p for p in seen if p.startswith("/toolkit/items/")]
    assert len(items) == len(default_content().items)
    assert seen["/toolkit/assessment"] == 302


@pytest.mark.parametrize(("username", "role", "fleets"), [("officer1", "law_enforcement", ()),
                                                          ("desk", "rental", ("fleet-a",))])
def test_no_dead_internal_links_when_signed_in(app: Flask, username: str, role: str, fleets: tuple[str, ...]) -> None:
    seen = _crawl(signed_in(app, username, role, fleets), skip=("/toolkit/items/", "/toolkit/search"))
    assert seen["/toolkit/checklists"] == 200
    mine = "/toolkit/public-space" if role == "law_enforcement" else "/toolkit/screening"
    assert seen[mine] == 200
