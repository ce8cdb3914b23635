"""Segment pages: the list with live counts, one segment, and the visual rule builder.

Counts only — these pages never show patient rows. Every live count (page view or builder
edit) is a segment run and is audited with its numbers, never its members. Marketers and
admins build and save segments; every staff role may see counts. Admins and compliance
officers may ask why one patient is (not) in a segment: the CDP id is posted, never put
in a URL or echoed back, and the per-leaf facts are shown masked (`masked_facts`).
"""

from __future__ import annotations

import json
import re
from datetime import date

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from auth.models import Role
from auth.permissions import ALL_STAFF, allow
from core import audit
from core.db import get_session
from core.errors import NotFound, SendwellError
from patients.service import find_by_cdp_id
from segments import explain, live, service
from segments.describe import describe_rule
from segments.rules import RuleError

bp = Blueprint("segments", __name__, url_prefix="/segments")
EDITORS = frozenset({Role.ADMIN, Role.MARKETER})
EXPLAINERS = frozenset({Role.ADMIN, Role.COMPLIANCE})
STARTER_RULE = {"all": [{"field": "condition_group", "op": "includes", "value": "hypertension"}]}
PATH = re.compile(r"^(\$[^\s:]*)")

allow("segments.index", ALL_STAFF)
allow("segments.detail", ALL_STAFF)
allow("segments.new", EDITORS)
allow("segments.create", EDITORS)
allow("segments.update", EDITORS)
allow("segments.count_api", ALL_STAFF)
allow("segments.explain_patient", EXPLAINERS)


@bp.get("/")
def index():
    session = get_session()
    segments = service.list_segments(session)
    counts = service.segment_counts(session, segments)
    summaries = {s.id: describe_rule(s.rule) for s in segments}
    audit.record(session, _actor(), "segments.view", "index", segments=len(segments))
    session.commit()
    return render_template(
        "segments/index.html", segments=segments, counts=counts, summaries=summaries,
        can_edit=_can_edit(),
    )


@bp.get("/<segment_id>")
def detail(segment_id: str):
    session = get_session()
    return _detail_page(session, service.get_segment_by_id(session, segment_id))


def _detail_page(session, segment, **explain):
    """The segment page (counts, rule, builder, explain form), audited as a view."""
    counts = service.segment_counts(session, [segment])[segment.id]
    stored = len(service.member_ids(session, segment))
    changes = service.change_counts(session, segment)
    audit.record(session, _actor(), "segments.view", segment.id, **counts)
    form = _form(session, segment.name, segment.description, segment.rule, segment.name)
    session.commit()
    return render_template(
        "segments/detail.html", segment=segment, counts=counts, stored=stored,
        changes=changes, summary=describe_rule(segment.rule), can_edit=_can_edit(), form=form,
        can_explain=_has_role(EXPLAINERS), **explain,
    )


@bp.post("/<segment_id>/explain")
def explain_patient(segment_id: str):
    """Why is the patient with this CDP id in (or not in) the segment — per leaf, masked."""
    session = get_session()
    segment = service.get_segment_by_id(session, segment_id)
    as_of_text = request.form.get("as_of", "").strip()
    try:
        patient = _patient(session, request.form.get("cdp_id", ""))
        result = explain.explain_patient(session, segment, patient.id, _as_of(as_of_text))
    except SendwellError as exc:
        session.rollback()
        page = _detail_page(session, segment, explain_error=str(exc), as_of=as_of_text)
        return page, exc.status_code
    audit.record(session, _actor(), "segments.explain", patient.id, segment=segment.id,
                 result=result["result"])
    leaves = [{**leaf, "facts": explain.masked_facts(leaf["facts"])} for leaf in result["leaves"]]
    return _detail_page(session, segment, explanation={**result, "leaves": leaves},
                        as_of=as_of_text)


@bp.get("/new")
def new():
    session = get_session()
    form = _form(session, "", "", STARTER_RULE)
    session.commit()
    return render_template("segments/new.html", form=form)


@bp.post("/new")
def create():
    return _save(None)


@bp.post("/<segment_id>")
def update(segment_id: str):
    return _save(service.get_segment_by_id(get_session(), segment_id))


def _save(segment):
    session = get_session()
    name, description = request.form.get("name", ""), request.form.get("description", "")
    try:
        rule = _rule_from_form(request.form.get("rule", ""))
        saved = service.save_segment(session, name, rule, description, segment)
    except SendwellError as exc:
        session.rollback()
        flash(str(exc), "error")
        form = _form(session, name, description, request.form.get("rule", ""),
                     segment.name if segment else None)
        return render_template("segments/new.html", form=form, segment=segment), 400
    audit.record(session, _actor(), "segments.update" if segment else "segments.create",
                 saved.id)
    session.commit()
    flash("Segment saved.", "ok")
    return redirect(url_for("segments.detail", segment_id=saved.id))


def _patient(session, cdp_id: str):
    if not cdp_id.strip():
        raise RuleError("enter the patient's CDP id")
    patient = find_by_cdp_id(session, cdp_id.strip())
    if patient is None:
        raise NotFound("no patient with that CDP id")
    return patient


def _rule_from_form(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RuleError(f"$: the rule is not valid JSON (line {exc.lineno})") from None
    except RecursionError:
        raise RuleError("$: the rule is nested too deeply") from None
    except ValueError:  # an integer literal of thousands of digits
        raise RuleError("$: the rule is not valid JSON (a number is too long)") from None


def _form(session, name: str, description: str, rule, current: str | None = None) -> dict:
    """What the builder template needs: fields, the rule, its summary, the pickers."""
    text = rule if isinstance(rule, str) else json.dumps(rule, indent=2)
    try:
        summary = describe_rule(_rule_from_form(text))
    except RuleError:
        summary = ""
    return {"name": name, "description": description, "rule_json": text, "summary": summary,
            "options": live.builder_options(session, exclude=current)}


@bp.post("/api/count")
def count_api():
    """Live count of a rule being edited: `{"rule": {...}, "as_of": "YYYY-MM-DD"?}`."""
    session = get_session()
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        return jsonify(error="$: the rule is nested too deeply", path="$"), 400
    if not isinstance(body, dict) or not isinstance(body.get("rule"), dict):
        return jsonify(error='send a JSON object {"rule": {...}}', path="$"), 400
    try:
        result = live.live_count(session, body["rule"], _as_of(body.get("as_of")))
    except RuleError as exc:
        return jsonify(error=str(exc), path=_path(str(exc))), 400
    audit.record(session, _actor(), "segments.count", "builder", count=result["count"],
                 reachable=result["reachable"])
    session.commit()
    return jsonify(live.masked(result))


def _as_of(value):
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else _bad()
    except ValueError:
        return _bad()


def _bad():
    raise RuleError("as_of: must be an ISO date (YYYY-MM-DD)")


def _path(message: str) -> str | None:
    found = PATH.match(message)
    return found.group(1) if found else None


def _can_edit() -> bool:
    return _has_role(EDITORS)


def _has_role(roles: frozenset[Role]) -> bool:
    return current_user.is_authenticated and Role(current_user.role) in roles


def _actor() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else "anonymous"
