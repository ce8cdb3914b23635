"""The compliance blueprint: search, verify and export the audit trail; security notices.

Admins and compliance officers only. Exports are themselves audited.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request
from flask_login import current_user
from sqlalchemy import select

from auth import audit_search, recovery
from auth.models import Role, User
from auth.permissions import allow
from core import audit as audit_trail
from core.clock import utcnow
from core.db import get_session
from core.errors import SendwellError

bp = Blueprint("compliance", __name__, url_prefix="/compliance")
AUDITORS = frozenset({Role.ADMIN, Role.COMPLIANCE})

allow("compliance.audit", AUDITORS)
allow("compliance.audit_export", AUDITORS)


@bp.get("/audit")
def audit():
    db = get_session()
    try:
        filters = audit_search.AuditFilter.from_args(request.args)
    except SendwellError as exc:
        return _page(audit_search.AuditFilter(), [], 0, 1, error=str(exc)), 400
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    events, total = audit_search.search(db, filters, _tz(), page)
    return _page(filters, events, total, page)


@bp.get("/audit.csv")
def audit_export():
    db = get_session()
    try:
        filters = audit_search.AuditFilter.from_args(request.args)
    except SendwellError as exc:
        return Response(str(exc), status=400, mimetype="text/plain")
    rows = list(audit_search.export_rows(db, filters, _tz()))
    audit_trail.record(db, current_user.email, "audit.exported", "", rows=len(rows),
                       filters=filters.as_args())
    db.commit()
    name = f"audit-{utcnow():%Y%m%dT%H%M%SZ}.csv"
    return Response(
        audit_search.to_csv(iter(rows)), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "Cache-Control": "no-store"},
    )


def _page(filters, events, total, page, error: str = ""):
    db = get_session()
    intact, checked, broken = audit_trail.verify(db)
    return render_template(
        "compliance/audit.html", filters=filters, args=filters.as_args(), events=events,
        total=total, page=page, pages=max(1, -(-total // audit_search.PAGE_SIZE)),
        chain={"intact": intact, "checked": checked, "broken": broken}, error=error,
        notifications=_notifications(db) if current_user.role == Role.ADMIN else [],
    )


def _notifications(db) -> list[dict]:
    """Recent security notifications with the staff address they concern."""
    items = recovery.recent_notifications(db)
    ids = {n.user_id for n in items}
    emails = dict(db.execute(select(User.id, User.email).where(User.id.in_(ids))).all())
    return [{"at": n.created_at, "kind": n.kind, "email": emails.get(n.user_id, "(removed)")}
            for n in items]


def _tz() -> str:
    return current_app.config["ORG_TIMEZONE"]
