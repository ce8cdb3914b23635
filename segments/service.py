"""Segment service: owns live counts of rules, saved segments and their membership.

Counts read the encrypted facet snapshot (`patients.snapshot`), decoded once per data
version into a process-local `Population` whose derived columns are kept between counts,
and evaluate the rule vectorised; membership is stored as internal patient ids only, with
an entry/exit history. Functions take a `Session` and never commit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial

import pandas as pd
from flask import current_app
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from core.clock import as_of_instant, utcnow
from core.db import new_id
from core.errors import NotFound
from patients.events import events_frame
from patients.snapshot import events_version, facet_snapshot
from segments.columns import seed_from_snapshot
from segments.evaluate import evaluate, reachable_mask
from segments.models import Segment, SegmentChange, SegmentMember
from segments.nodes import Node, segment_names, to_json
from segments.rules import MAX_REFERENCE_DEPTH, RuleError, parse_rule
from segments.signals import membership_changed, segment_in_use

MAX_NAME = 120
MAX_CACHE_ENTRIES = 256
FIRST_AS_OF, LAST_AS_OF = date(1900, 1, 1), date(2199, 12, 31)


class DuplicateName(RuleError):
    """Another segment already has this name."""


@dataclass(frozen=True)
class Population:
    """Every patient's facets and events, decrypted once for a batch of evaluations."""

    facets: pd.DataFrame
    events: pd.DataFrame
    cache: dict = field(default_factory=dict)

    def members(self, session: Session, rule: dict | Node, instant: datetime) -> pd.Series:
        if len(self.cache) > MAX_CACHE_ENTRIES:  # per-day entries pile up in a long process
            for key in [k for k in self.cache if k[0] != "static"]:
                self.cache.pop(key, None)
        return evaluate(rule, self.facets, self.events, instant, segment_resolver(session),
                        tz=org_timezone(), cache=self.cache)

    def counts(self, session: Session, rule: dict | Node, instant: datetime) -> dict:
        mask = self.members(session, rule, instant)
        reachable = mask & reachable_mask(self.facets)
        return {"count": int(mask.sum()), "reachable": int(reachable.sum())}


_populations: dict[tuple[str, str], Population] = {}
_populations_lock = threading.Lock()


def load_population(session: Session) -> Population:
    """Every patient's facets and events, shared by the counts of this process until the
    data version (facets, suppressions, events) stored in the database moves."""
    snapshot = facet_snapshot(session)
    key = (snapshot.key, events_version(session))
    with _populations_lock:
        population = _populations.get(key)
        if population is None:
            population = Population(snapshot.frame, events_frame(session),
                                    seed_from_snapshot(snapshot))
            _populations.clear()
            _populations[key] = population
        return population


def resolve_as_of(as_of: str | date | datetime | None) -> datetime:
    """An as-of date (end of that day, organisation time) or instant; None means now.

    Years are bounded so that a century back from "today" is still a date (RuleError)."""
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None:
            raise ValueError("as_of must be a timezone-aware instant")
        _check_as_of(as_of.date())
        return as_of
    if isinstance(as_of, date):
        _check_as_of(as_of)
    return as_of_instant(as_of, org_timezone()) if as_of is not None else utcnow()


def _check_as_of(day: date) -> None:
    if not FIRST_AS_OF <= day <= LAST_AS_OF:
        raise RuleError(f"as_of: must be a date from {FIRST_AS_OF} to {LAST_AS_OF}")


def org_timezone() -> str:
    return current_app.config["ORG_TIMEZONE"]


def count_rule(session: Session, rule: dict, as_of=None) -> dict:
    """`{"count": N, "reachable": N}` for a rule (reachable: may get care reminders)."""
    node = parse_rule(rule)
    return load_population(session).counts(session, node, resolve_as_of(as_of))


def segment_counts(session: Session, segments: list[Segment], as_of=None) -> dict[str, dict]:
    """Live counts of several saved segments, decrypting the population once."""
    if not segments:
        return {}
    population, instant = load_population(session), resolve_as_of(as_of)
    return {s.id: population.counts(session, s.rule, instant) for s in segments}


def list_segments(session: Session) -> list[Segment]:
    return list(session.scalars(select(Segment).order_by(Segment.name)))


def get_segment(session: Session, name: str) -> Segment:
    """The segment called `name` (raises `NotFound`)."""
    segment = session.scalar(select(Segment).where(Segment.name == name))
    if segment is None:
        raise NotFound("no segment with that name")
    return segment


def get_segment_by_id(session: Session, segment_id: str) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound("no such segment")
    return segment


def segment_resolver(session: Session):
    """`name -> rule` of saved segments, for rules that refer to other segments."""
    return partial(_referenced_rule, session)


def _referenced_rule(session: Session, name: str) -> dict:
    try:
        return get_segment(session, name).rule
    except NotFound:
        raise RuleError(f"segment {name!r} does not exist") from None


def create_segment(session: Session, name: str, rule: dict, description: str = "",
                   *, replace: bool = True) -> Segment:
    """Create or update (by name) a segment with a validated rule.

    With `replace=False` an existing name is refused (`DuplicateName`)."""
    name = _check_name(name)
    node = parse_rule(rule)
    _check_references(session, name, node)
    segment = session.scalar(select(Segment).where(Segment.name == name))
    if segment is not None and not replace:
        raise DuplicateName(f"a segment named {name!r} already exists")
    if segment is None:
        segment = Segment(id=new_id(), name=name)
        session.add(segment)
    segment.rule = to_json(node)
    segment.description = description or ""
    session.flush()
    return segment


def save_segment(session: Session, name: str, rule: dict, description: str = "",
                 segment: Segment | None = None) -> Segment:
    """Create a new segment (refusing a taken name) or update `segment` (may rename)."""
    name = _check_name(name)
    taken = session.scalar(select(Segment).where(Segment.name == name))
    if taken is not None and taken is not segment:
        raise DuplicateName("another segment already has that name")
    if segment is None:
        return create_segment(session, name, rule, description)
    node = parse_rule(rule)
    _check_references(session, name, node)
    segment.name, segment.rule, segment.description = name, to_json(node), description or ""
    session.flush()
    return segment


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise RuleError(f"a segment name is 1 to {MAX_NAME} characters")
    return name


def _check_references(session: Session, name: str, node: Node, seen: tuple = ()) -> None:
    """Referenced segments must exist, must not lead back to `name`, and must not chain
    more than `MAX_REFERENCE_DEPTH` segments deep."""
    for ref in sorted(segment_names(node)):
        if ref == name or ref in seen:
            raise RuleError(f"segment {name!r} would refer to itself through {ref!r}")
        if len(seen) >= MAX_REFERENCE_DEPTH:
            raise RuleError(f"segment {name!r} refers to segments more than "
                            f"{MAX_REFERENCE_DEPTH} levels deep (via {' → '.join(seen)})")
        inner = parse_rule(_referenced_rule(session, ref))
        _check_references(session, name, inner, seen + (ref,))


def find_segment(session: Session, name: str) -> Segment | None:
    """The segment called `name` (trimmed), or None."""
    return session.scalar(select(Segment).where(Segment.name == (name or "").strip()))


def workflows_using(session: Session, segment: Segment) -> list[str] | None:
    """Names of the active workflows that use `segment` (sorted), as told by receivers of
    `segment_in_use` (segments cannot import campaigns); None when nobody answers."""
    if not segment_in_use.receivers:
        return None
    names: set[str] = set()
    for _receiver, found in segment_in_use.send(segment, session=session):
        names.update(found or ())
    return sorted(names)


def refresh_segments(session: Session, segments: list[Segment], as_of=None) -> list[dict]:
    """Recompute and store several segments' membership against one decrypted population:
    per segment `{"id", "name", "members", "entered", "exited"}` (counts)."""
    instant = resolve_as_of(as_of)
    population = load_population(session) if segments else None
    results = []
    for segment in segments:
        entered, exited = refresh_membership(session, segment, instant, population)
        results.append({"id": segment.id, "name": segment.name,
                        "members": len(member_ids(session, segment)),
                        "entered": len(entered), "exited": len(exited)})
    return results


def member_ids(session: Session, segment: Segment) -> list[str]:
    """Stored members' internal patient ids (sorted), as of the last refresh."""
    query = select(SegmentMember.patient_id).where(SegmentMember.segment_id == segment.id)
    return sorted(session.scalars(query))


def evaluate_members(session: Session, segment: Segment, as_of=None) -> list[str]:
    """Who would be a member as of `as_of` (sorted ids); reads only, writes nothing."""
    mask = load_population(session).members(session, segment.rule, resolve_as_of(as_of))
    return sorted(mask.index[mask.to_numpy()])


def refresh_membership(
    session: Session, segment: Segment, as_of=None, population: Population | None = None
) -> tuple[list[str], list[str]]:
    """Recompute members as of `as_of`; store entries and exits; (entered, exited) ids."""
    instant = resolve_as_of(as_of)
    population = population or load_population(session)
    mask = population.members(session, segment.rule, instant)
    now = set(mask.index[mask.to_numpy()])
    before = set(member_ids(session, segment))
    entered, exited = sorted(now - before), sorted(before - now)
    _write_changes(session, segment, entered, exited, instant)
    segment.computed_at = instant
    session.flush()
    membership_changed.send(segment, entered=entered, exited=exited, at=instant)
    return entered, exited


def _write_changes(session: Session, segment: Segment, entered: list[str],
                   exited: list[str], at: datetime) -> None:
    for start in range(0, len(exited), 500):
        session.execute(delete(SegmentMember).where(
            SegmentMember.segment_id == segment.id,
            SegmentMember.patient_id.in_(exited[start:start + 500]),
        ))
    if entered:
        session.execute(insert(SegmentMember), [
            {"id": new_id(), "segment_id": segment.id, "patient_id": pid, "entered_at": at}
            for pid in entered
        ])
    changes = [(pid, "entered") for pid in entered] + [(pid, "exited") for pid in exited]
    if changes:
        session.execute(insert(SegmentChange), [
            {"id": new_id(), "segment_id": segment.id, "patient_id": pid, "change": kind,
             "at": at} for pid, kind in changes
        ])


def change_counts(session: Session, segment: Segment) -> dict[str, int]:
    """How many entries and exits the segment has recorded."""
    query = (
        select(SegmentChange.change, func.count())
        .where(SegmentChange.segment_id == segment.id)
        .group_by(SegmentChange.change)
    )
    return {"entered": 0, "exited": 0} | {kind: n for kind, n in session.execute(query)}
