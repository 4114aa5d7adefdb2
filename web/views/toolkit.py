"""The security toolkit's pages: public guidance, checklists, self-assessment, hire screening, public-space zones."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from werkzeug.datastructures import MultiDict

from telematics.bundle import ReferenceDataError
from toolkit.assessment import score_assessment
from toolkit.assessment_pdf import render_assessment_pdf
from toolkit.checklists import checklist_items
from toolkit.errors import AnswerError
from toolkit.loader import default_content, load_strings
from toolkit.model import AUDIENCES, JOURNEY_PHASES, PHASES, RENTAL_PHASES, Content, FormField, Plan, Strings
from toolkit.plan_pdf import render_plan_pdf
from toolkit.plans import FilledPlan, fill_plan, plan_markdown
from toolkit.screening import screen_hire, to_report
from toolkit.search import search as search_items
from toolkit.site_assessment import assess_site
from toolkit.site_survey import survey_from_answers
from toolkit.translations import LANGUAGES, SOURCE_LANGUAGE
from toolkit.zones import zone_feature
from web.auth import ALL_ROLES, allow, client_ip, current_scope, current_user, public
from web.db import get_session
from web.models import VehicleRow
from web.toolkit_store import (
    ScreeningReportRow,
    SiteAssessmentRow,
    all_progress,
    file_report,
    get_assessment,
    get_screening,
    list_reports,
    list_screenings,
    list_site_assessments,
    load_progress,
    report_of,
    save_assessment,
    save_progress,
    save_screening,
    save_site_assessment,
    send_zone,
    user_assessments,
)

bp = Blueprint("toolkit", __name__, url_prefix="/toolkit")

ASSESSMENT_ROLES = ("fleet_operator", "rental", "admin")
SCREENING_ROLES = ("rental",)
REPORT_READERS = ("law_enforcement", "admin")
SITE_ROLES = ("law_enforcement", "admin")
"""A public-space authority role can join these once it exists."""
REPEAT_ROWS = {"routes": 4, "crowd_times": 3}
WINDOW_ROWS = 3
DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEB_STRINGS_DIR = Path(__file__).resolve().parent.parent / "templates" / "toolkit"
_PATH_PART = re.compile(r"([A-Za-z_]+)(?:\[(\d+)\])?")
PLAN_FORMATS = ("md", "pdf")


# --- content and strings --------------------------------------------------------------------------------------

def current_language() -> str:
    """The request's language as the site chose it (account, switch or browser: ``web.i18n``), when the toolkit
    has it; English otherwise, and outside a request."""
    if not has_request_context() or "babel" not in current_app.extensions:
        return SOURCE_LANGUAGE
    locale = get_locale()
    language = locale.language if locale is not None else SOURCE_LANGUAGE
    return language if language in LANGUAGES else SOURCE_LANGUAGE


def content() -> Content:
    """The toolkit content in the request's language; each entry without a current translation stays English."""
    return default_content(current_language())


@cache
def web_strings(language: str = SOURCE_LANGUAGE) -> Strings:
    """The web pages' own strings; keys the content's strings file does not have yet."""
    return load_strings(WEB_STRINGS_DIR, language)


def text(key: str, **params: Any) -> str:
    """A UI string by dotted key: the content's strings first, then the web pages' own."""
    strings = content().strings
    if strings.has(key):
        return strings.text(key, **params)
    return web_strings(current_language()).text(key, **params)


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    return {"t": text, "content": content(), "audiences": AUDIENCES, "journey_phases": JOURNEY_PHASES,
            "rental_phases": RENTAL_PHASES, "day_keys": DAY_KEYS, "user": g.get("user"),
            "login_url": url_for("auth.login", next=request.full_path.rstrip("?"))}


def _role() -> str | None:
    user = g.get("user")
    return user.role if user is not None else None


def _who() -> dict[str, Any]:
    return {"actor": current_user().username, "ip": client_ip()}


# --- public guidance ------------------------------------------------------------------------------------------

def _phases_with_items(phases: tuple[str, ...]) -> list[str]:
    used = {item.phase for item in content().items.values()}
    return [p for p in phases if p in used]


@bp.get("")
@public
def index() -> str:
    items = content().items.values()
    counts = {a: sum(i.audience == a for i in items) for a in AUDIENCES}
    return render_template("toolkit/index.html", counts=counts,
                           journey=_phases_with_items(JOURNEY_PHASES), rental=_phases_with_items(RENTAL_PHASES))


@bp.get("/audiences/<audience>")
@public
def audience(audience: str) -> str:
    if audience not in AUDIENCES:
        abort(404)
    items = [i for i in content().items.values() if i.audience == audience]
    groups = [(p, [i for i in items if i.phase == p]) for p in PHASES]
    checklists = [c for c in content().checklists.values() if c.audience == audience]
    return render_template("toolkit/audience.html", audience=audience, groups=[gr for gr in groups if gr[1]],
                           checklists=checklists)


@bp.get("/phases/<phase>")
@public
def phase(phase: str) -> str:
    if phase not in PHASES:
        abort(404)
    items = [i for i in content().items.values() if i.phase == phase]
    groups = [(a, [i for i in items if i.audience == a]) for a in AUDIENCES]
    return render_template("toolkit/phase.html", phase=phase, groups=[gr for gr in groups if gr[1]])


@bp.get("/items/<item_id>")
@public
def item(item_id: str) -> str:
    found = content().items.get(item_id)
    if found is None:
        abort(404)
    checklists = [c for c in content().checklists.values() if item_id in c.item_ids]
    cited = list(zip(found.citations, content().sources_of(found), strict=True))
    return render_template("toolkit/item.html", item=found, cited=cited, checklists=checklists)


@bp.get("/search")
@public
def search() -> Any:
    query = request.args.get("q", "")[:200]
    audience = request.args.get("audience") or None
    phase = request.args.get("phase") or None
    error, status = None, 200
    try:
        hits = search_items(query, audience, phase, content=content())
    except AnswerError as exc:
        hits, error, status = [], str(exc), 400
    return render_template("toolkit/search.html", query=query, audience=audience, phase=phase, hits=hits,
                           error=error, phases=PHASES), status


# --- checklists -----------------------------------------------------------------------------------------------

@bp.get("/checklists")
@public
def checklists() -> str:
    progress = all_progress(get_session(), g.user.user_id) if g.get("user") is not None else {}
    statuses = {cid: p.status(content().checklists[cid]) for cid, p in progress.items()
                if cid in content().checklists}
    return render_template("toolkit/checklists.html", statuses=statuses)


def _checklist_page(checklist_id: str, status: int = 200, error: str | None = None) -> Any:
    checklist = content().checklists.get(checklist_id)
    if checklist is None:
        abort(404)
    progress = load_progress(get_session(), g.user.user_id, checklist_id) if g.get("user") is not None else None
    return render_template("toolkit/checklist.html", checklist=checklist,
                           entries=checklist_items(checklist, content()), progress=progress,
                           status=progress.status(checklist) if progress is not None else None, error=error), status


@bp.get("/checklists/<checklist_id>")
@public
def checklist(checklist_id: str) -> Any:
    return _checklist_page(checklist_id)


@bp.post("/checklists/<checklist_id>")
@allow(*ALL_ROLES)
def save_checklist(checklist_id: str) -> Any:
    checklist = content().checklists.get(checklist_id)
    if checklist is None:
        abort(404)
    session = get_session()
    user_id = current_user().user_id
    progress = load_progress(session, user_id, checklist_id)
    done = set(request.form.getlist("done"))
    try:
        for unknown in sorted(done - set(checklist.item_ids)):
            raise AnswerError("done", unknown, f"an item of checklist {checklist_id!r}")
        for item_id in checklist.item_ids:
            progress = progress.mark(checklist, item_id, item_id in done)
    except AnswerError as exc:
        return _checklist_page(checklist_id, 400, str(exc))
    save_progress(session, user_id, progress)
    session.commit()
    flash(text("web.checklists.saved"), "ok")
    return redirect(url_for("toolkit.checklist", checklist_id=checklist_id), 303)


# --- plan templates -------------------------------------------------------------------------------------------

def _plan(plan_id: str) -> Plan:
    plan = content().plans.get(plan_id)
    if plan is None:
        abort(404)
    return plan


def _filled_plan(plan: Plan) -> FilledPlan:
    """The template filled from the signed-in user's own checklist progress, latest self-assessment and, for an
    operational requirement, the site assessment named by ``?site=``; a visitor gets the blank template."""
    user = g.get("user")
    if user is None:
        return fill_plan(plan.id, content=content())
    session = get_session()
    progress = load_progress(session, user.user_id, plan.checklist)
    checklist = content().checklists[plan.checklist]
    context: list[tuple[str, str]] = []
    status = progress.status(checklist)
    context.append((text("web.plans.checklist_label"), text("web.plans.checklist_value", title=checklist.title,
                                                             done=status.done_count, total=status.total)))
    answers = None
    if any(s.questions for s in plan.sections) and user.role in ASSESSMENT_ROLES:
        history = user_assessments(session, user.user_id)
        if history:
            latest = history[0]
            known = {q.id for q in content().assessment.questions}
            answers = {k: v == "yes" or v is True for k, v in latest.answers.items() if k in known}
            result = score_assessment({k: v for k, v in latest.answers.items() if k in known}, content())
            level = text(f"level.level_{result.achieved_level}") if result.achieved_level else text("level.none")
            context.append((text("web.plans.assessment_label"),
                            text("web.plans.assessment_value", when=latest.created_at.strftime("%Y-%m-%d"),
                                 level=level)))
            if latest.organisation:
                context.append((text("web.plans.organisation_label"), latest.organisation))
    site_id = request.args.get("site", "")
    if plan.audience == "public_space_authority" and site_id.isdigit() and user.role in SITE_ROLES:
        row = get_session().get(SiteAssessmentRow, int(site_id))
        if row is not None:
            context.append((text("web.plans.site_label"), f"{row.name} ({row.site_id})"))
            context.append((text("web.plans.rating_label"), str(row.result.get("rating", ""))))
    return fill_plan(plan.id, done=progress.done, answers=answers, context=tuple(context), content=content())


@bp.get("/plans")
@public
def plans() -> str:
    return render_template("toolkit/plans.html", plans=list(content().plans.values()))


@bp.get("/plans/<plan_id>")
@public
def plan(plan_id: str) -> str:
    filled = _filled_plan(_plan(plan_id))
    sites = list_site_assessments(get_session()) if (filled.plan.audience == "public_space_authority"
                                                     and _role() in SITE_ROLES) else []
    return render_template("toolkit/plan.html", filled=filled, sites=sites, site=request.args.get("site", ""))


@bp.get("/plans/<plan_id>.<fmt>")
@public
def plan_download(plan_id: str, fmt: str) -> Response:
    if fmt not in PLAN_FORMATS:
        abort(404)
    filled = _filled_plan(_plan(plan_id))
    if fmt == "md":
        response = Response(plan_markdown(filled, content()), mimetype="text/markdown")
    else:
        response = Response(render_plan_pdf(filled, generated_at=datetime.now(UTC), content=content()),
                            mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{plan_id}.{fmt}"'
    return response


# --- operator self-assessment ---------------------------------------------------------------------------------

def _assessment_form(status: int = 200, error: str | None = None, form: Mapping[str, str] | None = None,
                     missing: frozenset[str] = frozenset()) -> Any:
    history = user_assessments(get_session(), current_user().user_id)
    return render_template("toolkit/assessment_form.html", history=history, error=error, form=form or {},
                           missing=missing), status


@bp.get("/assessment")
@allow(*ASSESSMENT_ROLES)
def assessment() -> Any:
    return _assessment_form()


@bp.post("/assessment")
@allow(*ASSESSMENT_ROLES)
def submit_assessment() -> Any:
    questions = content().assessment.questions
    answers = {q.id: request.form.get(q.id, "") for q in questions}
    missing = [q for q in questions if answers[q.id] not in ("yes", "no")]
    form = {k: v for k, v in request.form.items() if k != "csrf_token"}
    if missing:
        error = text("web.assessment.missing", questions="; ".join(q.text for q in missing))
        return _assessment_form(400, error, form, frozenset(q.id for q in missing))
    organisation = request.form.get("organisation", "").strip()[:200] or None
    result = score_assessment(answers, content())
    session = get_session()
    row = save_assessment(session, current_user().user_id, organisation, answers, result.to_dict())
    session.commit()
    flash(text("web.assessment.saved"), "ok")
    return redirect(url_for("toolkit.assessment_result", assessment_id=row.assessment_id), 303)


def _own_assessment(assessment_id: int) -> Any:
    row = get_assessment(get_session(), current_user().user_id, assessment_id)
    if row is None:
        abort(404)
    known = {q.id for q in content().assessment.questions}
    return row, score_assessment({k: v for k, v in row.answers.items() if k in known}, content())


@bp.get("/assessment/<int:assessment_id>")
@allow(*ASSESSMENT_ROLES)
def assessment_result(assessment_id: int) -> str:
    row, result = _own_assessment(assessment_id)
    return render_template("toolkit/assessment_result.html", row=row, result=result)


@bp.get("/assessment/<int:assessment_id>.pdf")
@allow(*ASSESSMENT_ROLES)
def assessment_pdf(assessment_id: int) -> Response:
    row, result = _own_assessment(assessment_id)
    pdf = render_assessment_pdf(result, generated_at=row.created_at, organisation=row.organisation,
                                content=content())
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="self-assessment-{assessment_id}.pdf"'
    return response


# --- rental counter screening ---------------------------------------------------------------------------------

def _user_fleets() -> list[str]:
    return sorted(current_scope().fleet_ids or ())


def _screening_form(status: int = 200, error: str | None = None, form: Mapping[str, str] | None = None,
                    missing: frozenset[str] = frozenset()) -> Any:
    return render_template("toolkit/screening_form.html", fleets=_user_fleets(), error=error, form=form or {},
                           missing=missing, recent=list_screenings(get_session(), current_scope())), status


@bp.get("/screening")
@allow(*SCREENING_ROLES)
def screening() -> Any:
    return _screening_form()


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise AnswerError(name, value, "non-empty text")
    return value


@bp.post("/screening")
@allow(*SCREENING_ROLES)
def submit_screening() -> Any:
    form = {k: v for k, v in request.form.items() if k != "csrf_token"}
    questions = content().screening.questions
    answers = {q.id: form[q.id] for q in questions if form.get(q.id)}
    missing = [q for q in questions if q.required and q.id not in answers]
    if missing:
        error = text("web.screening.missing", questions="; ".join(q.prompt for q in missing))
        return _screening_form(400, error, form, frozenset(q.id for q in missing))
    fleets = _user_fleets()
    fleet_id = form.get("fleet_id") or (fleets[0] if len(fleets) == 1 else "")
    session = get_session()
    try:
        if fleet_id not in fleets:
            raise AnswerError("fleet_id", fleet_id, f"one of your fleets ({', '.join(fleets)})")
        hirer = _required(form, "hirer_reference")[:200]
        vehicle = {"plate": _required(form, "plate")[:32]}
        vehicle_id = form.get("vehicle_id", "").strip()
        if vehicle_id:
            row = session.get(VehicleRow, vehicle_id)
            if row is None or not current_scope().allows(row.fleet_id):
                raise AnswerError("vehicle_id", vehicle_id, text("web.screening.not_your_vehicle", vehicle=vehicle_id))
            vehicle["vehicle_id"] = vehicle_id
            category = row.document.get("category")
            if category:
                vehicle["category"] = category
        outcome = screen_hire(answers, content())
    except AnswerError as exc:
        return _screening_form(400, str(exc), form)
    result = {"indicators": [{"id": i.id, "title": i.title, "weight": i.weight, "hard_stop": i.hard_stop}
                             for i in outcome.indicators],
              "reasons": list(outcome.reasons), "content_version": outcome.content_version,
              "branch": form.get("branch", "").strip()[:100] or None, "notes": form.get("notes", "").strip()[:2000]
              or None}
    row = save_screening(session, fleet_id=fleet_id, hirer_reference=hirer, vehicle=vehicle, answers=answers,
                         outcome=outcome.outcome, score=outcome.score, result=result, **_who())
    if outcome.outcome == "refuse_and_report":
        _report(row, outcome)
    session.commit()
    return redirect(url_for("toolkit.screening_result", screening_id=row.screening_id), 303)


def _report(row: Any, outcome: Any = None) -> Any:
    """Files the screening's report for law enforcement (recomputing the outcome from its answers when needed)."""
    outcome = outcome or screen_hire(row.answers, content())
    report = to_report(outcome, hirer_reference=row.hirer_reference, vehicle=row.vehicle,
                       reported_at=datetime.now(UTC), branch=row.result.get("branch"),
                       notes=row.result.get("notes"))
    report["fleet_id"] = row.fleet_id
    report["screening_id"] = row.screening_id
    return file_report(get_session(), row, report, **_who())


def _scoped_screening(screening_id: int) -> Any:
    row = get_screening(get_session(), current_scope(), screening_id)
    if row is None:
        abort(404)
    return row


@bp.get("/screening/<int:screening_id>")
@allow(*SCREENING_ROLES)
def screening_result(screening_id: int) -> str:
    row = _scoped_screening(screening_id)
    return render_template("toolkit/screening_result.html", row=row, report=report_of(get_session(), screening_id))


@bp.post("/screening/<int:screening_id>/report")
@allow(*SCREENING_ROLES)
def report_screening(screening_id: int) -> Any:
    row = _scoped_screening(screening_id)
    _report(row)
    get_session().commit()
    flash(text("web.screening.report_sent"), "ok")
    return redirect(url_for("toolkit.screening_result", screening_id=screening_id), 303)


@bp.get("/screening-reports")
@allow(*REPORT_READERS)
def screening_reports() -> str:
    return render_template("toolkit/screening_reports.html", reports=list_reports(get_session()))


@bp.get("/screening-reports/<int:report_id>")
@allow(*REPORT_READERS)
def screening_report(report_id: int) -> str:
    row = get_session().get(ScreeningReportRow, report_id)
    if row is None:
        abort(404)
    return render_template("toolkit/screening_report.html", row=row,
                           document=orjson.dumps(row.report, option=orjson.OPT_INDENT_2).decode())


# --- public-space assessment ----------------------------------------------------------------------------------

def _number(raw: str, field: str) -> float | int | None:
    if not raw.strip():
        return None
    try:
        value = float(raw.strip().replace(",", "."))
    except ValueError:
        raise AnswerError(field, raw, text("web.site.number_error")) from None
    if not math.isfinite(value):
        raise AnswerError(field, raw, text("web.site.number_error"))
    return int(value) if value.is_integer() else value


def _polygon(raw: str, field: str) -> list[Any] | None:
    """The outer ring of a pasted or drawn GeoJSON Polygon (or Feature), or a bare list of points."""
    if not raw.strip():
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise AnswerError(field, raw[:60], text("web.site.polygon_error")) from None
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    if isinstance(value, dict) and value.get("type") == "Polygon" and isinstance(value.get("coordinates"), list) \
            and value["coordinates"]:
        value = value["coordinates"][0]
    if not isinstance(value, list):
        raise AnswerError(field, raw[:60], text("web.site.polygon_error"))
    return value


def _field_value(spec: FormField, name: str, path: str, form: MultiDict[str, str]) -> Any:
    raw = form.get(name, "")
    if spec.kind in ("text", "choice", "time"):
        return raw.strip() or None
    if spec.kind == "number":
        return _number(raw, path)
    if spec.kind == "boolean":
        return True if form.get(name) else None
    if spec.kind in ("days", "multi_choice"):
        return form.getlist(name) or None
    if spec.kind == "polygon":
        return _polygon(raw, path)
    if spec.kind == "time_ranges":
        windows = [{"from": form.get(f"{name}-{n}-from", "").strip(), "to": form.get(f"{name}-{n}-to", "").strip()}
                   for n in range(WINDOW_ROWS)]
        return [w for w in windows if w["from"] or w["to"]] or None
    if spec.kind == "group":
        return _fields(spec.fields, name, path, form)
    raise AnswerError(path, spec.kind, "a form field kind this page knows")


def _fields(fields: tuple[FormField, ...], prefix: str, path: str, form: MultiDict[str, str]) -> dict[str, Any] | None:
    """The non-empty fields under a prefix as answers, or None when every one is empty."""
    values = {}
    for spec in fields:
        value = _field_value(spec, f"{prefix}-{spec.id}", f"{path}.{spec.id}", form)
        if value is not None:
            values[spec.id] = value
    return values or None


def survey_answers(form: MultiDict[str, str]) -> dict[str, Any]:
    """The guided form's fields as the answers ``survey_from_answers`` reads, section by section."""
    answers: dict[str, Any] = {}
    for section in content().public_space.form:
        if section.repeat:
            rows = (_fields(section.fields, f"{section.id}-{n}", f"{section.id}[{n}]", form)
                    for n in range(REPEAT_ROWS.get(section.id, 3)))
            answers[section.id] = [r for r in rows if r is not None]
        else:
            answers[section.id] = _fields(section.fields, section.id, section.id, form) or {}
    if not answers.get("deliveries"):
        answers.pop("deliveries", None)
    return answers


def describe_field(path: str) -> str:
    """``routes[1].max_speed_kmh`` as the form shows it: section, row and prompt."""
    parts = [(m.group(1), m.group(2)) for m in _PATH_PART.finditer(path)]
    sections = {s.id: s for s in content().public_space.form}
    if not parts or parts[0][0] not in sections:
        return path
    section = sections[parts[0][0]]
    where = section.title if parts[0][1] is None else text("web.site.row", section=section.title,
                                                          n=int(parts[0][1]) + 1)
    fields, labels = section.fields, [where]
    for name, _ in parts[1:]:
        spec = next((f for f in fields if f.id == name), None)
        if spec is None:
            break
        labels.append(spec.prompt)
        fields = spec.fields
    return " › ".join(labels)


def _site_form(status: int = 200, error: str | None = None, form: MultiDict[str, str] | None = None) -> Any:
    return render_template("toolkit/site_form.html", form=form or MultiDict(), error=error,
                           rows=REPEAT_ROWS, window_rows=WINDOW_ROWS, history=list_site_assessments(get_session()),
                           tiles=current_app.config.get("MAP_TILES", "")), status


@bp.get("/public-space")
@allow(*SITE_ROLES)
def public_space() -> Any:
    return _site_form()


@bp.post("/public-space")
@allow(*SITE_ROLES)
def submit_public_space() -> Any:
    form = MultiDict([(k, v) for k, v in request.form.items(multi=True) if k != "csrf_token"])
    try:
        answers = survey_answers(form)
        survey = survey_from_answers(answers, content())
        result = assess_site(survey, content())
        zone = zone_feature(survey, content=content())
    except AnswerError as exc:
        return _site_form(400, f"{describe_field(exc.field)}: got {exc.value!r}, expected {exc.expected}", form)
    session = get_session()
    row = save_site_assessment(session, site_id=survey.site_id, name=survey.name, answers=answers,
                               result=result.to_dict(), zone=zone, **_who())
    session.commit()
    return redirect(url_for("toolkit.public_space_result", site_assessment_id=row.site_assessment_id), 303)


def _site_assessment(site_assessment_id: int) -> Any:
    row = get_session().get(SiteAssessmentRow, site_assessment_id)
    if row is None:
        abort(404)
    return row


@bp.get("/public-space/<int:site_assessment_id>")
@allow(*SITE_ROLES)
def public_space_result(site_assessment_id: int, error: str | None = None, status: int = 200) -> Any:
    row = _site_assessment(site_assessment_id)
    mitigations = {m.id: m for m in content().public_space.mitigations}
    return render_template("toolkit/site_result.html", row=row, result=row.result, mitigations=mitigations,
                           zone_json=orjson.dumps(row.zone, option=orjson.OPT_INDENT_2).decode(),
                           error=error), status


@bp.post("/public-space/<int:site_assessment_id>/send")
@allow(*SITE_ROLES)
def send_public_space_zone(site_assessment_id: int) -> Any:
    row = _site_assessment(site_assessment_id)
    session = get_session()
    try:
        send_zone(session, row, **_who())
    except ReferenceDataError as exc:
        session.rollback()
        return public_space_result(site_assessment_id, str(exc), 400)
    session.commit()
    flash(text("web.site.sent_flash", zone=row.zone["properties"]["zone_id"]), "ok")
    return redirect(url_for("toolkit.public_space_result", site_assessment_id=site_assessment_id), 303)

