"""The officer's decision as a new user meets it: `truckguard demo` on its defaults, every role signed in while the
fleet streams, the first stop request decided by two officers, the truck stopping, the history in order; then what
the terminal showed, the Teltonika unit's path, and SIGTERM leaving nothing behind (one demo for all of it: each
start costs two minutes of the suite)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyotp
import pytest
import requests

from ingest.broker import free_port, port_open
from ingest.topics import TELEMETRY
from telematics.timeutil import parse_rfc3339_ms
from tests.conftest import wait_for
from tests.ingest.kafka_helpers import read_all

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
ACCOUNT = re.compile(r"^    (\S+) +(\S+) +(fleet_operator|rental|law_enforcement|admin)"
                     r" *(?:second-factor secret (\S+))?", re.MULTILINE)
CLOCK_SLACK_MS = 1500
"""Times are written with millisecond precision by processes on this machine's clock; a second and a half covers
rounding and the moment between reading the clock and writing the time."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`truckguard demo` with no options but its ports; its address, accounts and output file."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    data_dir = tmp_path_factory.mktemp("demo")
    port, broker_port = free_port(), free_port()
    out = data_dir / "demo.out"
    env = {**os.environ, "TRUCKGUARD_DATA_DIR": str(data_dir), "TRUCKGUARD_LOG_LEVEL": "WARNING"}
    with open(out, "wb") as handle:
        process = subprocess.Popen([sys.executable, "-m", "truckguard", "demo", "--port", str(port),
                                    "--broker-port", str(broker_port)], env=env, stdout=handle,
                                   stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "Ctrl-C stops everything" in out.read_text() or process.poll() is not None, 120,
                 "the demo's welcome")
        assert process.poll() is None, out.read_text()
        accounts = {m[0]: {"password": m[1], "role": m[2], "secret": m[3] or None}
                    for m in ACCOUNT.findall(out.read_text())}
        yield {"base": f"http://127.0.0.1:{port}", "accounts": accounts, "out": out, "data_dir": data_dir,
               "process": process, "port": port, "broker_port": broker_port}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(90)


_used_steps: dict[str, int] = {}


def code(account: dict[str, Any], username: str) -> str:
    """A TOTP code not used before (the site refuses a code twice, as it should)."""
    if not account["secret"]:
        return ""
    totp = pyotp.TOTP(account["secret"])
    step = totp.timecode(datetime.now(UTC))
    if _used_steps.get(username, -1) >= step:
        time.sleep(totp.interval - time.time() % totp.interval + 0.2)
        step = totp.timecode(datetime.now(UTC))
    _used_steps[username] = step
    return totp.now()


def api_session(demo: dict[str, Any], username: str) -> requests.Session:
    account = demo["accounts"][username]
    http = requests.Session()
    page = http.get(f"{demo['base']}/login", timeout=30).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    response = http.post(f"{demo['base']}/login", allow_redirects=False, timeout=30, data={
        "username": username, "password": account["password"], "code": code(account, username), "csrf_token": token})
    assert response.status_code == 302, response.text[:500]
    return http


def in_the_past(stamp: str | None, now_ms: int) -> bool:
    return stamp is None or parse_rfc3339_ms(stamp) <= now_ms + CLOCK_SLACK_MS


def shown_after(page: Any, text: str, server_errors: list[str]) -> None:
    """Waits for ``text`` on the page; if it never shows, the failure says what the page showed instead."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector(f"text={text}")
    except PlaywrightTimeout:
        main = page.inner_text("main") if page.query_selector("main") else page.content()[:3000]
        raise AssertionError(f"{text!r} not shown at {page.url}; server errors {server_errors}; the page:\n"
                             f"{main[:3000]}") from None


def test_the_officers_decision_end_to_end_on_the_demos_defaults(demo: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    base, accounts = demo["base"], demo["accounts"]
    assert set(accounts) >= {"operator", "rental", "officer1", "officer2", "admin"}
    server_errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        pages = {}
        # every role signs in and looks around while the fleet streams
        for username, account in accounts.items():
            page = browser.new_context().new_page()
            page.on("response", lambda r: server_errors.append(f"{r.status} {r.url}") if r.status >= 500 else None)
            page.goto(f"{base}/login")
            page.fill("#username", username)
            page.fill("#password", account["password"])
            if account["secret"]:
                page.fill("#code", code(account, username))
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/alerts")
            for path in ("/map", "/stop-requests", "/alerts"):
                page.goto(base + path)
            pages[username] = page

        officer = api_session(demo, "officer1")

        def first_request() -> dict[str, Any] | None:
            found = officer.get(f"{base}/api/stop-requests", timeout=30).json()["stop_requests"]
            return found[-1] if found else None

        request = wait_for(first_request, 420, "the first stop request", interval_s=2)
        request_id, vehicle_id = request["request_id"], request["vehicle_id"]
        facts = officer.get(f"{base}/stop-requests/{request_id}/decision", timeout=30).json()
        # it names its zone and lists every warning or critical alert of the vehicle raised before it
        assert facts["zone"] is not None and facts["zone"]["name"], facts
        before = [a for a in officer.get(f"{base}/api/alerts", params={"vehicle_id": vehicle_id}, timeout=30)
                  .json()["alerts"]
                  if a["severity"] in ("warning", "critical") and a["received_at"] <= request["received_at"]]
        listed = {a["alert_id"] for a in facts["alerts"]}
        assert before and {a["alert_id"] for a in before} <= listed, (before, facts["alerts"])
        assert facts["seconds_left"] > 0

        # two officers decide on the page
        first, second = pages["officer1"], pages["officer2"]
        first.goto(f"{base}/stop-requests/{request_id}")
        assert facts["zone"]["name"] in first.inner_text("#zone")
        assert first.inner_text("#time-left")
        assert first.inner_text("#approve-button") == "Approve (first of two)"
        first.click("#approve-button")
        shown_after(first, "First approval recorded", server_errors)
        second.goto(f"{base}/stop-requests/{request_id}")
        assert second.inner_text("#approve-button") == "Authorise (second approval)"
        second.click("#approve-button")
        shown_after(second, "Request authorised.", server_errors)

        # the truck acknowledges the signed command and slows to a stop
        def finished() -> dict[str, Any] | None:
            value = officer.get(f"{base}/api/stop-requests/{request_id}", timeout=30).json()
            return value if value["status"] == "completed" else None

        done = wait_for(finished, 240, "the truck's completed status", interval_s=2)

        # its position, which reaches the store by the telemetry topic and not the stop requests', shows it standing
        def standing() -> dict[str, Any] | None:
            vehicle = next(v for v in officer.get(f"{base}/api/vehicles", timeout=30).json()["vehicles"]
                           if v["vehicle_id"] == vehicle_id)
            return vehicle if vehicle["position"]["speed_kmh"] < 1.0 else None

        wait_for(standing, 30, "the stopped truck's position", interval_s=1)

        # the history reads in order, with the right words, on the API and on the page
        history = done["history"]
        assert [e["recorded_at"] for e in history] == sorted(e["recorded_at"] for e in history)
        steps = ["approved 1 of 2" if e.get("approval") == 1 else e["status"] for e in history]
        assert steps[0] == "requested" and steps[-1] == "completed", steps
        for earlier, later in (("requested", "approved 1 of 2"), ("approved 1 of 2", "authorized"),
                               ("authorized", "sent"), ("sent", "acknowledged"), ("acknowledged", "completed")):
            assert steps.index(earlier) < steps.index(later), steps
        first.goto(f"{base}/stop-requests/{request_id}")
        shown = first.inner_text("#history")
        assert [shown.index(word) for word in ("requested", "approved 1 of 2", "authorized", "sent", "acknowledged",
                                                "completed")] == sorted(shown.index(word) for word in (
            "requested", "approved 1 of 2", "authorized", "sent", "acknowledged", "completed"))

        # no time shown lies in the future
        now_ms = int(time.time() * 1000)
        alerts = officer.get(f"{base}/api/alerts", params={"limit": 500}, timeout=30).json()["alerts"]
        for alert in alerts:
            assert in_the_past(alert["ts"], now_ms) and in_the_past(alert["onset_ts"], now_ms), alert
        for entry in history:
            assert in_the_past(entry["at"], now_ms) and in_the_past(entry["recorded_at"], now_ms), entry

        # the rental desk has an alert of its own
        rental = api_session(demo, "rental")
        own = wait_for(lambda: rental.get(f"{base}/api/alerts", timeout=30).json()["alerts"], 300,
                       "an alert in the rental fleet", interval_s=3)
        assert all(a["fleet_id"] == own[0]["fleet_id"] for a in own)
        pages["rental"].goto(f"{base}/alerts")
        assert "No alerts yet" not in pages["rental"].inner_text("main")  # what the page shows, not its script data
        browser.close()
    assert server_errors == []


def processes_with_data_dir(data_dir: Path) -> list[int]:
    """PIDs of processes whose environment names this data directory (the demo's children carry it)."""
    found = []
    marker = f"TRUCKGUARD_DATA_DIR={data_dir}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_the_terminal_shows_alerts_one_truck_speaks_teltonika_and_sigterm_stops_everything(
        demo: dict[str, Any]) -> None:
    process, out, data_dir = demo["process"], demo["out"], demo["data_dir"]
    wait_for(lambda: "STOP REQUEST" in out.read_text() or process.poll() is not None, 420, "a stop request line")
    text = out.read_text()
    assert process.poll() is None, text
    assert f"open http://127.0.0.1:{demo['port']}/" in text
    assert "officer1" in text and "officer2" in text and "law_enforcement" in text
    assert "  alert  " in text and "STOP REQUEST" in text, text
    assert requests.get(f"{demo['base']}/healthz", timeout=5).status_code == 200
    assert processes_with_data_dir(data_dir)  # the parts really run as processes of their own
    # one truck's records reach the platform only through its Teltonika unit and `devices serve`
    fitted = re.search(r"  (\S+) carries a simulated Teltonika unit", text)
    assert fitted, text
    sources = {orjson.loads(value).get("source") for value in read_all(f"127.0.0.1:{demo['broker_port']}", TELEMETRY)
               if orjson.loads(value)["vehicle_id"] == fitted.group(1)}
    assert sources == {"teltonika"}, sources

    process.send_signal(signal.SIGTERM)
    assert process.wait(90) == 0, out.read_text()[-3000:]
    assert "nothing left running" in out.read_text()
    assert not port_open("127.0.0.1", demo["port"]) and not port_open("127.0.0.1", demo["broker_port"])
    assert processes_with_data_dir(data_dir) == []
