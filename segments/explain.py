"""Why one patient is (or is not) in a segment: each leaf's result and the facts behind it.

The patient's row of the shared population is evaluated leaf by leaf with the very
evaluators the counts use, so an explanation cannot disagree with membership. Facts are
what a leaf looked at, reduced to what explains the result: active condition groups, an
age (not the birth date), how many matching events (not the events) — never a name,
email, address or CDP id. Groups are not short-circuited, so every leaf is reported.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any, assert_never
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy.orm import Session

from core.errors import NotFound
from patients.consent import skip_reason
from segments import columns, service
from segments.describe import describe
from segments.evaluate import (
    DATE_COLUMNS,
    Context,
    ages_on,
    deceased_mask,
    eval_node,
    event_counts,
    window_start,
)
from segments.models import Segment
from segments.nodes import (
    AllNode,
    AnyNode,
    EventLeaf,
    FieldLeaf,
    Node,
    NotNode,
    Relative,
    SegmentRef,
    TraitLeaf,
    Value,
)
from segments.rules import parse_rule


def explain_patient(session: Session, segment: Segment, patient_id: str, as_of=None) -> dict:
    """The per-leaf explanation of `patient_id` against `segment` as of `as_of`."""
    ctx = _context(session, patient_id, service.resolve_as_of(as_of))
    leaves: list[dict] = []
    rule_result = _walk(parse_rule(segment.rule), "$", ctx, leaves)
    deceased = bool(deceased_mask(ctx.facets).iloc[0])
    return {
        "segment": segment.name, "patient_id": patient_id, "as_of": ctx.today.isoformat(),
        "result": rule_result and not deceased, "rule_result": rule_result,
        "excluded": "deceased" if deceased else None,
        "stored_member": patient_id in set(service.member_ids(session, segment)),
        "leaves": leaves,
    }


def _context(session: Session, patient_id: str, instant: datetime) -> Context:
    """The patient's one-row slice of the population, ready for the evaluators."""
    population = service.load_population(session)
    if patient_id not in population.facets.index:
        raise NotFound("no such patient")
    events = population.events
    if not events.empty:
        events = events[events["patient_id"] == patient_id]
    return Context(population.facets.loc[[patient_id]], events, instant,
                   ZoneInfo(service.org_timezone()), service.segment_resolver(session))


def _walk(node: Node, path: str, ctx: Context, leaves: list[dict]) -> bool:
    """The node's result for the patient, appending every leaf below it to `leaves`."""
    match node:
        case AllNode(children):
            return all([_walk(c, f"{path}.all[{i}]", ctx, leaves)
                        for i, c in enumerate(children)])
        case AnyNode(children):
            return any([_walk(c, f"{path}.any[{i}]", ctx, leaves)
                        for i, c in enumerate(children)])
        case NotNode(child):
            return not _walk(child, f"{path}.not", ctx, leaves)
        case SegmentRef() | FieldLeaf() | TraitLeaf() | EventLeaf():
            result = bool(eval_node(node, ctx).iloc[0])
            leaves.append({"path": path, "leaf": leaf_text(node), "summary": describe(node),
                           "result": result, "facts": leaf_facts(node, ctx)})
            return result
        case _:
            assert_never(node)


def leaf_text(node: SegmentRef | FieldLeaf | TraitLeaf | EventLeaf) -> str:
    """A leaf in the rule's own terms: `condition_group includes hypertension`."""
    match node:
        case SegmentRef(name):
            return f"segment {name}"
        case FieldLeaf(field, op, value):
            return _joined(field, op, value)
        case TraitLeaf(trait, op, value):
            return _joined(f"trait {trait}", op, value)
        case EventLeaf(event, op, count, within_days, where):
            text = f"event {event} {op}" + ("" if op == "not_performed" else f" {count}")
            text += "".join(f" where {_joined(w.property, w.op, w.value)}" for w in where)
            return text + (f" within_days {within_days}" if within_days else "")
        case _:
            assert_never(node)


def _joined(name: str, op: str, value: Value) -> str:
    return f"{name} {op}" if value is None else f"{name} {op} {_value_text(value)}"


def _value_text(value: Value) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    if isinstance(value, Relative):
        return f"{value.amount} {value.unit}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if isinstance(value, date) else str(value)


def leaf_facts(node: SegmentRef | FieldLeaf | TraitLeaf | EventLeaf, ctx: Context) -> dict:
    """What the leaf looked at in the patient's data, without identifying details."""
    match node:
        case SegmentRef(name):
            return {"segment": name}
        case FieldLeaf(field):
            return _field_facts(field, ctx)
        case TraitLeaf(trait):
            traits = _row(ctx)["traits"]
            return {"value": plain(traits.get(trait) if isinstance(traits, dict) else None)}
        case EventLeaf():
            return _event_facts(node, ctx)
        case _:
            assert_never(node)


def _field_facts(field: str, ctx: Context) -> dict:
    row = _row(ctx)
    if field in ("condition_group", "risk_flag"):
        column = "risk_flags" if field == "risk_flag" else "conditions"
        table = columns.active_rows(columns.slug_table(ctx.facets[column], field), ctx.today)
        key = "active_groups" if field == "condition_group" else "risk_flags"
        return {key: sorted({str(s) for s in table["slug"]})}
    if field == "age":
        age = ages_on(ctx.facets["birth_date"], ctx.today).iloc[0]
        return {"age": None if math.isnan(age) else int(age)}
    if field == "state":
        return {"state": plain(row["state"]), "state_code": plain(row["state_code"])}
    if field == "reachable":
        reason = skip_reason(row, "care_reminder", ctx.today)
        return {"reachable": reason is None, "skip_reason": reason}
    return {field: plain(row[DATE_COLUMNS.get(field, field)])}


def _event_facts(leaf: EventLeaf, ctx: Context) -> dict:
    facts: dict[str, Any] = {"matching_events": int(event_counts(leaf, ctx).iloc[0])}
    if leaf.within_days is not None:
        start = window_start(ctx.today, leaf.within_days, ctx.tz)
        facts["window_from"] = start.tz_convert(ctx.tz).date().isoformat()
        facts["window_to"] = ctx.today.isoformat()
    return facts


SHOWN_FACTS = frozenset({
    "active_groups", "risk_flags", "age", "sex", "state", "state_code", "lifecycle_stage",
    "language", "timezone", "email_opt_in", "reachable", "skip_reason", "matching_events",
    "window_from", "window_to", "segment",
})
ON_FILE, NOT_ON_FILE = "on file", "not on file"


def masked_facts(facts: dict) -> dict:
    """Facts for a page: condition groups, flags, age and the like as they are; anything
    more identifying (visit dates, ZIP prefix, attribute values) only as on file or not.
    The seam for unmasking, when a role may see more."""
    return {key: value if key in SHOWN_FACTS else (NOT_ON_FILE if value in (None, "", [])
                                                   else ON_FILE)
            for key, value in facts.items()}


def _row(ctx: Context) -> dict:
    return ctx.facets.iloc[0].to_dict()


def plain(value: Any) -> Any:
    """A facet value as plain JSON: missing values become None, dates ISO strings."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date):
        return (value.date() if isinstance(value, datetime) else value).isoformat()
    return value
