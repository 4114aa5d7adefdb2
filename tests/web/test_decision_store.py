"""A store that serves people while the workers write: no "database is locked" on sign-in, a styled error page
that says what to do, and store commands that find the store the site uses."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from telematics.settings import Settings
from tests.web.people import PASSWORD, csrf_token, ensure_user
from tests.web.samples import stop_request
from web.auth import public
from web.db import DEMO_STORE_MARK, StoreNotFound, find_store, make_engine, writer
from web.migrate import upgrade_store
from web.models import StopRequestRow
from web.store import upsert_stop_request


def test_a_reader_that_starts_writing_after_another_commit_waits_instead_of_failing(settings: Settings) -> None:
    # In WAL mode a transaction that read and then writes after another connection committed gets SQLITE_BUSY at
    # once, busy timeout or not: the sign-in's audit write failed so while the sink stored positions.
    upgrade_store(settings.store_url)
    site, sink = make_engine(settings.store_url), make_engine(settings.store_url)
    try:
        with Session(site) as session:
            assert session.execute(select(StopRequestRow)).first() is None  # the read snapshot starts here
            with Session(writer(sink)) as other, other.begin():
                upsert_stop_request(other, stop_request())
            upsert_stop_request(session, stop_request(request_id="sr-0002"))  # the write after that commit
            session.commit()
        with Session(site) as session:
            assert sorted(session.scalars(select(StopRequestRow.request_id))) == ["sr-0001", "sr-0002"]
    finally:
        site.dispose()
        sink.dispose()


def test_select_for_update_reads_what_was_committed_since_the_transaction_began(settings: Settings) -> None:
    upgrade_store(settings.store_url)
    site, sink = make_engine(settings.store_url), make_engine(settings.store_url)
    try:
        with Session(writer(sink)) as other, other.begin():
            upsert_stop_request(other, stop_request())
        with Session(site) as session:
            assert session.get(StopRequestRow, "sr-0001").first_approval_by is None
            with Session(writer(sink)) as other, other.begin():
                other.get(StopRequestRow, "sr-0001").first_approval_by = "officer1"
            row = session.execute(select(StopRequestRow).with_for_update()
                                  .execution_options(populate_existing=True)).scalar_one()
            assert row.first_approval_by == "officer1"  # a second officer's approval sees the first one
            session.commit()
    finally:
        site.dispose()
        sink.dispose()


def test_sign_in_waits_for_a_writer_holding_the_lock(app: Flask, settings: Settings) -> None:
    ensure_user(app, "dispatcher", "fleet_operator", ("nordfracht",))
    client = app.test_client()
    token = csrf_token(client, "/login")
    client.get("/login")  # the session's read snapshot is older than the writer's commit below
    sink = make_engine(settings.store_url)
    held = threading.Event()

    def hold_the_write_lock() -> None:
        with writer(sink).begin() as connection:
            connection.execute(text("UPDATE users SET active = active"))
            held.set()
            time.sleep(0.6)

    worker = threading.Thread(target=hold_the_write_lock)
    worker.start()
    try:
        held.wait(5)
        started = time.monotonic()
        response = client.post("/login", data={"username": "dispatcher", "password": PASSWORD, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        assert time.monotonic() - started >= 0.2  # it waited for the lock rather than failing
    finally:
        worker.join()
        sink.dispose()


@pytest.fixture
def failing_app(app: Flask) -> Flask:
    @public
    def busy() -> str:
        raise OperationalError("UPDATE users", {}, Exception("database is locked"))

    @public
    def broken() -> str:
        raise RuntimeError("a bug")

    app.add_url_rule("/test-busy", view_func=busy)
    app.add_url_rule("/api/test-busy", "api_busy", view_func=busy)
    app.add_url_rule("/test-broken", view_func=broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


def test_a_busy_store_answers_a_styled_page_that_says_what_to_do(failing_app: Flask) -> None:
    client = failing_app.test_client()
    response = client.get("/test-busy")
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert "/static/style.css" in page and "Store busy" in page and "wait a few seconds and reload" in page
    assert "database is locked" not in page and "Traceback" not in page
    api = client.get("/api/test-busy")
    assert api.status_code == 503 and api.get_json()["error"] == "Store busy"


def test_not_found_and_bugs_get_the_styled_page_too(failing_app: Flask) -> None:
    client = failing_app.test_client()
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and "/static/style.css" in missing.get_data(as_text=True)
    assert "Check the address" in missing.get_data(as_text=True)
    broken = client.get("/test-broken")
    assert broken.status_code == 500 and "has been logged" in broken.get_data(as_text=True)
    assert "a bug" not in broken.get_data(as_text=True)


def test_store_commands_find_the_running_demos_store_and_never_create_an_empty_one(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFound, match="truckguard demo"):
        find_store("", tmp_path)
    assert not (tmp_path / "truckguard.sqlite").exists()
    assert find_store("postgresql+psycopg://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"
    assert find_store("", tmp_path, create=True) == f"sqlite:///{tmp_path / 'truckguard.sqlite'}"
    (tmp_path / "demo").mkdir()
    demo_url = f"sqlite:///{tmp_path / 'demo' / 'truckguard.sqlite'}"
    (tmp_path / "demo" / DEMO_STORE_MARK).write_text(f"{os.getpid()}\n{demo_url}\n")
    assert find_store("", tmp_path) == demo_url
    (tmp_path / "demo" / DEMO_STORE_MARK).write_text(f"{2**22 + 12345}\n{demo_url}\n")  # no such process
    with pytest.raises(StoreNotFound):
        find_store("", tmp_path)


@pytest.mark.postgres
def test_the_decision_and_the_batched_positions_behave_the_same_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    import uuid
    from datetime import UTC, datetime, timedelta

    from tests.web.people import signed_in
    from web import create_app
    from web.models import TrackPointRow, VehiclePositionRow
    from web.positions import Fix, PositionBuffer

    upgrade_store(postgres_url)
    app = create_app(Settings(data_dir=tmp_path, database_url=postgres_url), testing=True)
    engine = make_engine(postgres_url)
    run = uuid.uuid4().hex[:8]  # the server is shared by the session's tests, and its audit log is append-only
    request_id, vehicles = f"sr-{run}", (f"NF-{run}-1", f"NF-{run}-2")
    try:
        with Session(engine) as session, session.begin():
            upsert_stop_request(session, stop_request(request_id=request_id))
        now = datetime.now(UTC)
        buffer = PositionBuffer()
        for n in range(3):
            for vehicle in vehicles:
                buffer.add(Fix(vehicle, now + timedelta(seconds=5 * n), 52.5, 13.4 + n / 1000, 40.0))
        with Session(writer(engine)) as session, session.begin():
            assert buffer.flush(session) == 2
        first = signed_in(app, "officer1", "law_enforcement")
        second = signed_in(app, "officer2", "law_enforcement")
        for officer in (first, second):
            assert officer.post(f"/stop-requests/{request_id}/approve",
                                data={"csrf_token": csrf_token(officer)}).status_code == 303
        value = first.get(f"/api/stop-requests/{request_id}").get_json()
        assert value["status"] == "authorized"
        assert [(e["status"], e.get("approval")) for e in value["history"]] == [
            ("requested", None), ("requested", 1), ("authorized", 2)]
        with Session(engine) as session:
            assert session.scalar(select(VehiclePositionRow.lon).where(VehiclePositionRow.vehicle_id == vehicles[0])) \
                == pytest.approx(13.402)
            assert len(session.scalars(select(TrackPointRow).where(TrackPointRow.vehicle_id.in_(vehicles))).all()) == 6
    finally:
        engine.dispose()
