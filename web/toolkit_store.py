"""The toolkit's tables and their reads and writes: checklist progress, assessments, screenings and their reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from toolkit.checklists import ChecklistProgress
from web.audit import record
from web.models import Base, JSONDocument, UTCDateTime
from web.reference import announce_change, put_zones
from web.scope import Scope


def _now() -> datetime:
    return datetime.now(UTC)


class ChecklistProgressRow(Base):
    """One user's progress through one checklist: ``ChecklistProgress.to_dict()`` as stored."""

    __tablename__ = "toolkit_checklist_progress"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True)
    checklist_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    progress: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AssessmentRow(Base):
    """One operator self-assessment: the answers given and the scored result at the time."""

    __tablename__ = "toolkit_assessments"

    assessment_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"), index=True)
    organisation: Mapped[str | None] = mapped_column(String(200))
    answers: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    result: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ScreeningRow(Base):
    """One hire screened at a rental counter of a fleet: answers, outcome and reasons."""

    __tablename__ = "toolkit_screenings"

    screening_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fleet_id: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    hirer_reference: Mapped[str] = mapped_column(String(200))
    vehicle: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    answers: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    outcome: Mapped[str] = mapped_column(String(32))
    score: Mapped[int] = mapped_column(Integer)
    result: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    """``{"indicators": [...], "reasons": [...], "content_version"}``"""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_toolkit_screenings_fleet_id_created_at", "fleet_id", "created_at"),)


class ScreeningReportRow(Base):
    """A suspicious hire reported to law enforcement through the platform: the ``to_report`` document."""

    __tablename__ = "toolkit_screening_reports"

    report_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    screening_id: Mapped[int] = mapped_column(ForeignKey("toolkit_screenings.screening_id", ondelete="CASCADE"),
                                              unique=True)
    fleet_id: Mapped[str] = mapped_column(String(64), index=True)
    reported_by: Mapped[str] = mapped_column(String(64))
    report: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SiteAssessmentRow(Base):
    """A public-space vulnerability assessment: the survey answers, the rating and the zone it produced."""

    __tablename__ = "toolkit_site_assessments"

    site_assessment_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(64))
    answers: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    result: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    zone: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_by: Mapped[str | None] = mapped_column(String(64))
    reference_version: Mapped[int | None] = mapped_column(Integer)


# --- checklist progress ---------------------------------------------------------------------------------------

def load_progress(session: Session, user_id: int, checklist_id: str) -> ChecklistProgress:
    row = session.get(ChecklistProgressRow, (user_id, checklist_id))
    return ChecklistProgress.from_dict(row.progress) if row is not None else ChecklistProgress(checklist_id)


def all_progress(session: Session, user_id: int) -> dict[str, ChecklistProgress]:
    rows = session.execute(select(ChecklistProgressRow).where(ChecklistProgressRow.user_id == user_id)).scalars()
    return {row.checklist_id: ChecklistProgress.from_dict(row.progress) for row in rows}


def save_progress(session: Session, user_id: int, progress: ChecklistProgress) -> None:
    row = session.get(ChecklistProgressRow, (user_id, progress.checklist_id))
    if row is None:
        row = ChecklistProgressRow(user_id=user_id, checklist_id=progress.checklist_id)
        session.add(row)
    row.progress = progress.to_dict()
    row.updated_at = _now()


# --- operator self-assessment ---------------------------------------------------------------------------------

def save_assessment(session: Session, user_id: int, organisation: str | None, answers: dict[str, Any],
                    result: dict[str, Any]) -> AssessmentRow:
    row = AssessmentRow(user_id=user_id, organisation=organisation, answers=answers, result=result,
                        created_at=_now())
    session.add(row)
    session.flush()
    return row


def user_assessments(session: Session, user_id: int) -> list[AssessmentRow]:
    query = select(AssessmentRow).where(AssessmentRow.user_id == user_id).order_by(AssessmentRow.assessment_id.desc())
    return list(session.execute(query).scalars())


def get_assessment(session: Session, user_id: int, assessment_id: int) -> AssessmentRow | None:
    """The user's own assessment; another user's is None, as if it did not exist."""
    row = session.get(AssessmentRow, assessment_id)
    return row if row is not None and row.user_id == user_id else None


# --- rental counter screening ---------------------------------------------------------------------------------

def save_screening(session: Session, *, fleet_id: str, actor: str, hirer_reference: str, vehicle: dict[str, Any],
                   answers: dict[str, Any], outcome: str, score: int, result: dict[str, Any],
                   ip: str | None = None) -> ScreeningRow:
    row = ScreeningRow(fleet_id=fleet_id, created_by=actor, hirer_reference=hirer_reference, vehicle=vehicle,
                       answers=answers, outcome=outcome, score=score, result=result, created_at=_now())
    session.add(row)
    session.flush()
    record(session, actor, "toolkit.screening", "screening", str(row.screening_id), fleet_id=fleet_id,
           after={"outcome": outcome, "score": score, "hirer_reference": hirer_reference}, ip=ip)
    return row


def list_screenings(session: Session, scope: Scope, limit: int = 50) -> list[ScreeningRow]:
    query = (select(ScreeningRow).where(scope.where(ScreeningRow.fleet_id))
             .order_by(ScreeningRow.screening_id.desc()).limit(limit))
    return list(session.execute(query).scalars())


def get_screening(session: Session, scope: Scope, screening_id: int) -> ScreeningRow | None:
    """The screening when the scope may see its fleet; otherwise None, as if it did not exist."""
    row = session.get(ScreeningRow, screening_id)
    return row if row is not None and scope.allows(row.fleet_id) else None


def report_of(session: Session, screening_id: int) -> ScreeningReportRow | None:
    return session.execute(select(ScreeningReportRow).where(ScreeningReportRow.screening_id == screening_id)
                           ).scalar_one_or_none()


def file_report(session: Session, screening: ScreeningRow, report: dict[str, Any], *, actor: str,
                ip: str | None = None) -> ScreeningReportRow:
    """Stores the report for law enforcement (once per screening) and audits it in the same transaction."""
    existing = report_of(session, screening.screening_id)
    if existing is not None:
        return existing
    row = ScreeningReportRow(screening_id=screening.screening_id, fleet_id=screening.fleet_id, reported_by=actor,
                             report=report, created_at=_now())
    session.add(row)
    session.flush()
    record(session, actor, "toolkit.screening_report", "screening_report", str(row.report_id),
           fleet_id=screening.fleet_id, after=report, ip=ip)
    return row


def list_reports(session: Session, limit: int = 200) -> list[ScreeningReportRow]:
    query = select(ScreeningReportRow).order_by(ScreeningReportRow.report_id.desc()).limit(limit)
    return list(session.execute(query).scalars())


# --- public-space assessment ----------------------------------------------------------------------------------

def save_site_assessment(session: Session, *, actor: str, site_id: str, name: str, answers: dict[str, Any],
                         result: dict[str, Any], zone: dict[str, Any], ip: str | None = None) -> SiteAssessmentRow:
    row = SiteAssessmentRow(site_id=site_id, name=name, created_by=actor, answers=answers, result=result, zone=zone,
                            created_at=_now())
    session.add(row)
    session.flush()
    record(session, actor, "toolkit.site_assessment", "site_assessment", str(row.site_assessment_id),
           after={"site_id": site_id, "rating": result.get("rating"), "score": result.get("score")}, ip=ip)
    return row


def list_site_assessments(session: Session, limit: int = 50) -> list[SiteAssessmentRow]:
    query = select(SiteAssessmentRow).order_by(SiteAssessmentRow.site_assessment_id.desc()).limit(limit)
    return list(session.execute(query).scalars())


def send_zone(session: Session, row: SiteAssessmentRow, *, actor: str, ip: str | None = None) -> int:
    """Adds the assessment's zone to the reference data and queues the new snapshot for the detector."""
    put_zones(session, {"type": "FeatureCollection", "features": [row.zone]}, actor=actor, ip=ip,
              source=f"site assessment {row.site_assessment_id}")
    version = announce_change(session)
    row.sent_at, row.sent_by, row.reference_version = _now(), actor, version
    record(session, actor, "toolkit.zone_sent", "site_assessment", str(row.site_assessment_id),
           after={"zone_id": row.zone["properties"]["zone_id"], "reference_version": version}, ip=ip)
    return version
