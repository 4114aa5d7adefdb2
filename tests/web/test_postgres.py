from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tests.web.samples import alert, stop_request
from web.db import make_engine
from web.migrate import upgrade_store
from web.models import Base
from web.store import list_alerts, list_stop_requests, upsert_alert, upsert_stop_request

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    upgrade_store(postgres_url)
    upgrade_store(postgres_url)  # a second start-up finds head and changes nothing
    engine = make_engine(postgres_url)
    yield engine
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE alerts, stop_requests"))
    engine.dispose()


def test_migration_matches_the_models_on_postgres(pg_engine: Engine) -> None:
    with pg_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upserts_and_lists_on_postgres(pg_engine: Engine) -> None:
    authorized = {"status": "authorized", "at": "2026-11-24T09:18:00Z", "by": "police-berlin"}
    with Session(pg_engine) as session, session.begin():
        assert upsert_alert(session, alert()) is True
        assert upsert_alert(session, alert()) is False
        assert upsert_alert(session, alert(revision=1, severity="critical")) is True
        upsert_alert(session, alert(alert_id="al-0002", ts="2026-11-24T11:15:00.5+01:00"))
        upsert_stop_request(session, stop_request())
        upsert_stop_request(session, stop_request(status="authorized", history=[authorized]))
        upsert_stop_request(session, stop_request())
    with Session(pg_engine) as session:
        alerts = list_alerts(session)
        assert [(a["alert_id"], a["severity"], a["ts"]) for a in alerts] == [
            ("al-0002", "warning", "2026-11-24T10:15:00.500Z"), ("al-0001", "critical", "2026-11-24T09:15:00Z"),
        ]
        assert alerts[1]["evidence"] == alert()["evidence"]
        [request] = list_stop_requests(session)
        assert request["status"] == "authorized"
        assert [h["status"] for h in request["history"]] == ["requested", "authorized"]
