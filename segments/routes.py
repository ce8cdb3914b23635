"""Segment pages: the list with live counts and a summary of each rule, and one segment.

Counts only — these pages never show patient rows. Every view of live counts is a segment
run and is audited.
"""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from auth.permissions import ALL_STAFF, allow
from core import audit
from core.db import get_session
from segments import service
from segments.describe import describe_rule

bp = Blueprint("segments", __name__, url_prefix="/segments")

allow("segments.index", ALL_STAFF)
allow("segments.detail", ALL_STAFF)


@bp.get("/")
def index():
    session = get_session()
    segments = service.list_segments(session)
    counts = service.segment_counts(session, segments)
    summaries = {s.id: describe_rule(s.rule) for s in segments}
    audit.record(session, _actor(), "segments.view", "index", segments=len(segments))
    session.commit()
    return render_template(
        "segments/index.html", segments=segments, counts=counts, summaries=summaries
    )


@bp.get("/<segment_id>")
def detail(segment_id: str):
    session = get_session()
    segment = service.get_segment_by_id(session, segment_id)
    counts = service.segment_counts(session, [segment])[segment.id]
    stored = len(service.member_ids(session, segment))
    changes = service.change_counts(session, segment)
    audit.record(session, _actor(), "segments.view", segment.id, **counts)
    session.commit()
    return render_template(
        "segments/detail.html", segment=segment, counts=counts, stored=stored,
        changes=changes, summary=describe_rule(segment.rule),
    )


def _actor() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else "anonymous"
