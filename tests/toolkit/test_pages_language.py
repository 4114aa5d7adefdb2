"""The site's toolkit pages and downloads in the request's language, English where the language has no translation."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from markupsafe import escape

from telematics.settings import Settings
from toolkit.loader import default_content
from web import create_app
from web.migrate import upgrade_store


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    """One site for the module: these requests read public pages and change nothing."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("toolkit-language") / "data")
    upgrade_store(settings.store_url)
    return create_app(settings, testing=True).test_client()


@pytest.mark.parametrize("language", ("en", "de", "fr", "es", "sv"))
def test_an_item_page_follows_the_browser_language(client: FlaskClient, language: str) -> None:
    item = default_content(language).items["drv-park-01"]
    page = client.get("/toolkit/items/drv-park-01", headers={"Accept-Language": f"{language},en;q=0.5"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert str(escape(item.title)) in html
    assert str(escape(item.text)) in html
    assert str(escape(default_content(language).strings.text(f"phase.{item.phase}"))) in html
    cited = default_content().items["drv-park-01"].citations[0].section
    assert str(escape(cited)) in html  # the cited section stays as its source wrote it


def test_a_language_the_toolkit_lacks_gets_english(client: FlaskClient) -> None:
    html = client.get("/toolkit/items/drv-park-01", headers={"Accept-Language": "it"}).get_data(as_text=True)
    assert str(escape(default_content().items["drv-park-01"].title)) in html


def test_a_plan_downloads_in_the_request_language(client: FlaskClient) -> None:
    plan = default_content("fr").plans["public-space-operational-requirement"]
    markdown = client.get("/toolkit/plans/public-space-operational-requirement.md",
                          headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert markdown.startswith(f"# {plan.title}")
    assert plan.sections[0].prompt in markdown
    pdf = client.get("/toolkit/plans/public-space-operational-requirement.pdf", headers={"Accept-Language": "de"})
    assert pdf.status_code == 200 and b"/Lang (de)" in pdf.data
