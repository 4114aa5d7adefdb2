"""A checklist journey in Chromium: sign in, tick items, reload, the progress is still there."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from telematics.settings import Settings
from tests.web.people import PASSWORD
from toolkit.loader import default_content
from web.accounts import add_user
from web.server import make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHECKLIST = "driver-every-stop"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium "
                                                     "(apt-get install chromium); browsers are never downloaded"),
]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    """The web site served by waitress on a free loopback port, with one driver's account."""
    settings = Settings(data_dir=tmp_path / "data")
    add_user(settings.store_url, "driver", PASSWORD, "fleet_operator", ["fleet-a"])
    server = make_server(settings, "127.0.0.1", 0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        thread.join(10)


def test_checklist_ticks_survive_a_reload(site: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    checklist = default_content().checklists[CHECKLIST]
    first, third = checklist.item_ids[0], checklist.item_ids[2]
    total = len(checklist.item_ids)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(f"{site}/toolkit/checklists/{CHECKLIST}")
            page.get_by_role("link", name="Sign in to tick items").first.click()
            page.fill("input[name=username]", "driver")
            page.fill("input[name=password]", PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(f"{site}/toolkit/checklists/{CHECKLIST}")
            expect(page.locator("#checklist-progress-text")).to_have_text(f"0 of {total} done")

            page.get_by_label(checklist_title(first)).check()
            page.get_by_label(checklist_title(third)).check()
            page.get_by_role("button", name="Save progress").click()
            expect(page.locator("#checklist-progress-text")).to_have_text(f"2 of {total} done")

            page.reload()
            expect(page.locator("#checklist-progress-text")).to_have_text(f"2 of {total} done")
            expect(page.get_by_label(checklist_title(first))).to_be_checked()
            expect(page.get_by_label(checklist_title(third))).to_be_checked()
            expect(page.get_by_label(checklist_title(checklist.item_ids[1]))).not_to_be_checked()
            page.screenshot(path=str(ARTIFACTS / "toolkit-checklist-phone.png"), full_page=True)
        finally:
            browser.close()


def checklist_title(item_id: str) -> str:
    return default_content().items[item_id].title
