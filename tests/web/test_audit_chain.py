"""The tamper-evident audit log: stop-request events chained by hash, every kind of tampering found, and a
request's record exported signed (web and command line) so that a changed byte fails its check."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import orjson
import pytest
from flask import Flask
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session

from telematics.commands import generate_keypair
from telematics.settings import Settings
from tests.web.people import signed_in
from tests.web.samples import alert, stop_request
from truckguard import cli
from truckguard.commands import audit as audit_commands
from web.audit import record
from web.audit_chain import GENESIS, entry_digest, verify_chain
from web.db import make_engine, writer
from web.migrate import upgrade_store
from web.models import AuditChainRow, AuditRow
from web.record_export import RecordSignatureError, check_record, platform_public_keys
from web.scope import Scope
from web.stop_flow import approve
from web.store import upsert_alert, upsert_stop_request


def _decided_request(engine: Engine) -> None:
    """A request raised by the detector, approved by two officers, sent and acknowledged: each step audited."""
    with Session(writer(engine)) as session, session.begin():
        upsert_alert(session, alert())
        upsert_stop_request(session, stop_request())
    for officer in ("officer1", "officer2"):
        with Session(writer(engine)) as session, session.begin():
            approve(session, "sr-0001", officer, ip="192.0.2.7")
    sent = stop_request(status="sent", history=[
        {"status": "requested", "at": "2026-11-24T09:16:00Z", "by": "detector"},
        {"status": "sent", "at": "2026-11-24T09:17:00Z", "by": "command-dispatch", "note": "command cmd-1"},
        {"status": "acknowledged", "at": "2026-11-24T09:17:02Z", "by": "NF-101"}])
    with Session(writer(engine)) as session, session.begin():
        upsert_stop_request(session, sent)


def _lift_append_only_guards(engine: Engine) -> None:
    """Tampering needs the database owner's rights: someone with them can drop the append-only triggers."""
    with engine.begin() as connection:
        for verb in ("update", "delete"):
            connection.execute(text(f"DROP TRIGGER IF EXISTS audit_log_no_{verb}"))


def _report(engine: Engine):
    with Session(engine) as session:
        return verify_chain(session)


def test_every_stop_request_step_is_chained_to_the_one_before(engine: Engine) -> None:
    _decided_request(engine)
    with Session(engine) as session:
        rows = session.execute(select(AuditRow).where(AuditRow.target_type == "stop_request")
                               .order_by(AuditRow.chain_seq)).scalars().all()
        head = session.get(AuditChainRow, 1)
    actions = [row.action for row in rows]
    assert actions[0] == "stop_request.requested" and "stop_request.approve" in actions
    assert {"stop_request.authorized", "stop_request.sent", "stop_request.acknowledged"} <= set(actions)
    assert rows[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(rows):
        assert after.chain_seq == before.chain_seq + 1 and after.prev_hash == before.entry_hash
    assert head is not None and (head.seq, head.head_hash) == (rows[-1].chain_seq, rows[-1].entry_hash)
    report = _report(engine)
    assert report.intact and report.entries == len(rows)


@pytest.mark.parametrize("tamper, finding", [
    ("UPDATE audit_log SET actor = 'officer9' WHERE chain_seq = 3", "do not match its hash"),
    ("DELETE FROM audit_log WHERE chain_seq = 2", "missing"),
    ("DELETE FROM audit_log WHERE chain_seq = (SELECT MAX(chain_seq) FROM audit_log)", "cut from the end"),
    ("INSERT INTO audit_log (at, actor, action, target_type, target_id) "
     "VALUES ('2026-11-24 09:20:00', 'officer1', 'stop_request.refused', 'stop_request', 'sr-0001')",
     "around the chain"),
    ("UPDATE audit_log SET chain_seq = -chain_seq WHERE chain_seq IN (2, 3); "
     "UPDATE audit_log SET chain_seq = 3 WHERE chain_seq = -2; UPDATE audit_log SET chain_seq = 2 WHERE chain_seq = -3",
     "previous hash"),
])
def test_a_changed_removed_cut_inserted_or_reordered_entry_breaks_the_chain(engine: Engine, tamper: str,
                                                                             finding: str) -> None:
    _decided_request(engine)
    assert _report(engine).intact
    _lift_append_only_guards(engine)
    with engine.begin() as connection:
        for statement in tamper.split("; "):
            connection.execute(text(statement))
    report = _report(engine)
    assert not report.intact
    assert any(finding in problem for problem in report.problems), report.problems


def test_recomputing_one_entry_hash_after_an_edit_still_breaks_the_next_link(engine: Engine) -> None:
    _decided_request(engine)
    _lift_append_only_guards(engine)
    with Session(engine) as session, session.begin():
        row = session.execute(select(AuditRow).where(AuditRow.chain_seq == 2)).scalar_one()
        row.actor = "officer9"
        row.entry_hash = entry_digest(2, row.prev_hash or "", row.at, row.actor, row.action, row.target_type,
                                      row.target_id, row.fleet_id, row.before, row.after, row.ip)
    report = _report(engine)
    assert [p for p in report.problems if "entry" in p and "previous hash" in p]


def _writers_at_once(url: str) -> None:
    errors: list[BaseException] = []

    def write(name: str) -> None:
        local = make_engine(url)
        try:
            for n in range(10):
                with Session(writer(local)) as session, session.begin():
                    record(session, name, "stop_request.note", "stop_request", f"sr-{name}-{n}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            local.dispose()

    threads = [threading.Thread(target=write, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors


def test_writers_at_once_chain_one_after_another(engine: Engine) -> None:
    _writers_at_once(str(engine.url))
    report = _report(engine)
    assert report.intact and report.entries == 40 and report.head_seq == 40


def test_writers_at_once_chain_one_after_another_on_postgresql(postgres_url: str) -> None:
    from sqlalchemy import create_engine

    database = "audit_chain_" + str(threading.get_ident())
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {database}"))
    url = postgres_url.rsplit("/", 1)[0] + "/" + database
    try:
        upgrade_store(url)
        _writers_at_once(url)
        engine = make_engine(url)
        try:
            report = _report(engine)
        finally:
            engine.dispose()
        assert report.intact and report.entries == 40 and report.head_seq == 40
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        admin.dispose()


def test_a_rolled_back_entry_leaves_no_trace_in_the_chain(engine: Engine) -> None:
    with Session(writer(engine)) as session:
        record(session, "officer1", "stop_request.note", "stop_request", "sr-x")
        session.flush()
        session.rollback()
    with Session(writer(engine)) as session, session.begin():
        record(session, "officer1", "stop_request.note", "stop_request", "sr-y")
    report = _report(engine)
    assert report.intact and report.entries == 1


def test_the_migration_chains_the_entries_written_before_it(settings: Settings) -> None:
    from alembic import command

    from web.migrate import alembic_config

    settings.data_dir.mkdir(parents=True)
    url = settings.store_url
    engine = make_engine(url)
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0004_security")
        with engine.begin() as connection:
            for n in range(3):
                connection.execute(text(
                    "INSERT INTO audit_log (at, actor, action, target_type, target_id, after) VALUES "
                    f"('2026-11-24 09:1{n}:00.000000', 'officer{n}', 'stop_request.approve', 'stop_request', "
                    "'sr-0001', '{\"status\": \"requested\"}')"))
        upgrade_store(url)
        report = _report(engine)
        assert report.intact and report.entries == 3
    finally:
        engine.dispose()


def test_an_officer_exports_a_signed_record_that_a_changed_byte_invalidates(app: Flask, settings: Settings,
                                                                            engine: Engine) -> None:
    generate_keypair(settings.keys_dir)
    _decided_request(engine)
    response = signed_in(app, "officer3", "law_enforcement").get("/stop-requests/sr-0001/record.json")
    assert response.status_code == 200
    assert "truckguard-record-sr-0001.json" in response.headers["Content-Disposition"]
    raw = response.get_data()
    trusted = platform_public_keys(settings.keys_dir)
    exported = check_record(raw, trusted)
    assert exported["stop_request"]["request_id"] == "sr-0001" and exported["exported_by"] == "officer3"
    assert [a["alert_id"] for a in exported["alerts"]] == ["al-0001"]
    assert exported["alerts"][0]["evidence"]["distance_m"] == 850
    assert [d.get("approval") for d in exported["decisions"] if d.get("approval")] == [1, 2]
    assert exported["command"][0]["note"] == "command cmd-1"
    assert exported["acknowledgement"][0]["by"] == "NF-101"
    assert exported["audit_chain"]["intact"] and exported["audit"][0]["entry_hash"]
    forged = raw.replace(b'"officer2"', b'"officer7"', 1)
    assert forged != raw
    with pytest.raises(RecordSignatureError, match="changed"):
        check_record(forged, trusted)
    with Session(engine) as session:  # the export is itself on the chained record
        assert session.execute(select(AuditRow.actor).where(
            AuditRow.action == "stop_request.record_exported")).scalar_one() == "officer3"


def test_a_fleet_operator_cannot_export_and_another_fleet_is_not_found(app: Flask, settings: Settings,
                                                                       engine: Engine) -> None:
    generate_keypair(settings.keys_dir)
    _decided_request(engine)
    operator = signed_in(app, "dispatcher1", "fleet_operator", ("nordfracht",))
    assert operator.get("/stop-requests/sr-0001/record.json").status_code == 403
    assert signed_in(app, "officer3", "law_enforcement").get("/stop-requests/sr-0404/record.json").status_code == 404
    from web.record_export import RecordNotFound, stop_request_record

    with Session(engine) as session, pytest.raises(RecordNotFound):
        stop_request_record(session, "sr-0001", Scope(frozenset({"other-fleet"})), exported_by="x")


def test_the_command_line_verifies_the_chain_exports_and_checks_a_record(
        settings: Settings, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    generate_keypair(settings.keys_dir)
    _decided_request(engine)
    monkeypatch.setenv("TRUCKGUARD_DATA_DIR", str(settings.data_dir))
    if audit_commands not in cli.COMMAND_GROUPS:
        monkeypatch.setattr(cli, "COMMAND_GROUPS", (*cli.COMMAND_GROUPS, audit_commands))
    main = cli.main
    assert main(["audit", "verify"]) == 0
    assert "audit chain intact" in capsys.readouterr().out
    out = tmp_path / "record.json"
    assert main(["audit", "export", "sr-0001", "--out", str(out), "--by", "clerk of court"]) == 0
    assert main(["audit", "check-record", str(out)]) == 0
    assert "signature valid" in capsys.readouterr().out
    document = orjson.loads(out.read_bytes())
    document["record"]["stop_request"]["status"] = "refused"
    out.write_bytes(orjson.dumps(document))
    assert main(["audit", "check-record", str(out)]) == 1
    _lift_append_only_guards(engine)
    with engine.begin() as connection:
        connection.execute(update(AuditRow).where(AuditRow.chain_seq == 1).values(ip="203.0.113.9"))
    assert main(["audit", "verify"]) == 1
    assert "do not match its hash" in capsys.readouterr().err


def test_without_the_platform_key_the_export_says_so_instead_of_failing(app: Flask, engine: Engine) -> None:
    _decided_request(engine)
    response = signed_in(app, "officer3", "law_enforcement").get("/stop-requests/sr-0001/record.json")
    assert response.status_code == 409 and "truckguard keys generate" in response.get_data(as_text=True)
