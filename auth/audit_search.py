"""Searching and exporting the audit trail for the compliance page.

Filters: action (prefix), actor (substring), a date range read in ORG_TIMEZONE. CSV
exports defuse spreadsheet formulas: a cell starting with = + - @ (or a tab / carriage
return) gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from core.clock import isoz
from core.errors import SendwellError
from core.models import AuditEvent

PAGE_SIZE = 50
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = ["id", "at", "actor", "action", "target", "details", "hash"]


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    actor: str = ""
    date_from: date | None = None
    date_to: date | None = None

    @classmethod
    def from_args(cls, args) -> AuditFilter:
        """Read the query string; a malformed date is refused with a plain message."""
        return cls(
            action=args.get("action", "").strip()[:80],
            actor=args.get("actor", "").strip()[:120],
            date_from=_parse_date(args.get("from", "")),
            date_to=_parse_date(args.get("to", "")),
        )

    def as_args(self) -> dict[str, str]:
        values = asdict(self)
        return {
            "action": values["action"], "actor": values["actor"],
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
        }


def search(
    session: Session, filters: AuditFilter, tz_name: str, page: int = 1
) -> tuple[list[AuditEvent], int]:
    """One page of matching events, newest first, and the number of matches."""
    query = _filtered(select(AuditEvent), filters, tz_name)
    total = session.scalar(query.with_only_columns(func.count(AuditEvent.id)).order_by(None))
    rows = session.scalars(
        query.order_by(AuditEvent.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    )
    return list(rows), total


def export_rows(session: Session, filters: AuditFilter, tz_name: str) -> Iterator[list[str]]:
    """Every matching event in chain order, as CSV-safe string cells."""
    query = _filtered(select(AuditEvent), filters, tz_name).order_by(AuditEvent.id)
    for event in session.scalars(query):
        yield [defuse(str(v)) for v in (
            event.id, isoz(event.at), event.actor, event.action, event.target, event.details,
            event.hash,
        )]


def to_csv(rows: Iterator[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue()


def defuse(cell: str) -> str:
    """Prefix a cell a spreadsheet would read as a formula with an apostrophe."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def _filtered(query: Select, filters: AuditFilter, tz_name: str) -> Select:
    if filters.action:
        query = query.where(AuditEvent.action.startswith(filters.action, autoescape=True))
    if filters.actor:
        query = query.where(AuditEvent.actor.contains(filters.actor, autoescape=True))
    if filters.date_from:
        query = query.where(AuditEvent.at >= _local_midnight(filters.date_from, tz_name))
    if filters.date_to:
        next_day = filters.date_to + timedelta(days=1)
        query = query.where(AuditEvent.at < _local_midnight(next_day, tz_name))
    return query


def _local_midnight(day: date, tz_name: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz_name)).astimezone(UTC)


def _parse_date(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise SendwellError("dates must be written YYYY-MM-DD") from exc
