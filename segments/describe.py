"""Plain-English summaries of rules, for the segment pages and `flask segments describe`.

Negative operators say that they include patients with no value, because that is what
they do (`sex is not F` counts patients whose sex is unrecorded).
"""

from __future__ import annotations

from datetime import date
from typing import assert_never

from segments.nodes import (
    AllNode,
    AnyNode,
    EventLeaf,
    FieldLeaf,
    Node,
    NotNode,
    PropertyFilter,
    Relative,
    SegmentRef,
    TraitLeaf,
    Value,
)
from segments.rules import parse_rule

FIELD_LABELS = {
    "condition_group": "active condition group", "risk_flag": "risk flag",
    "lifecycle_stage": "lifecycle stage", "zip3": "ZIP prefix", "email_opt_in": "email opt-in",
    "last_visit": "last visit", "marketing_authorized": "marketing authorization",
}
OP_WORDS = {
    "eq": "is", "neq": "is not", "in": "is one of", "not_in": "is none of",
    "includes": "includes", "excludes": "does not include", "gt": "is more than",
    "gte": "is at least", "lt": "is less than", "lte": "is at most", "between": "is between",
    "is_empty": "is empty", "is_not_empty": "is not empty", "before": "is before",
    "after": "is after", "more_than_ago": "is more than", "within_last": "is within the last",
}
NEGATIVE = {"neq", "not_in", "excludes"}
AGO_OPS = ("more_than_ago", "before", "after")
NO_VALUE_NOTE = " (includes patients with no value)"


def describe_rule(rule: dict | Node) -> str:
    """One English sentence for a rule."""
    node = parse_rule(rule) if isinstance(rule, dict) else rule
    return describe(node)


def describe(node: Node) -> str:
    match node:
        case AllNode(children):
            return _join(children, "and")
        case AnyNode(children):
            return _join(children, "or")
        case NotNode(child):
            return f"not ({describe(child)}){NO_VALUE_NOTE}"
        case SegmentRef(name):
            return f"member of segment “{name}”"
        case FieldLeaf(field, op, value):
            return _leaf(FIELD_LABELS.get(field, field.replace("_", " ")), op, value)
        case TraitLeaf(trait, op, value):
            return _leaf(f"attribute “{trait}”", op, value)
        case EventLeaf():
            return _event(node)
        case _:
            assert_never(node)


def _join(children: tuple[Node, ...], word: str) -> str:
    parts = [describe(c) for c in children]
    return parts[0] if len(parts) == 1 else "(" + f" {word} ".join(parts) + ")"


def _leaf(label: str, op: str, value: Value) -> str:
    text = f"{label} {OP_WORDS[op]}"
    if value is not None:
        text += " " + _value(op, value)
    return text + (NO_VALUE_NOTE if op in NEGATIVE else "")


def _value(op: str, value: Value) -> str:
    if op == "between":
        return f"{_value('eq', value[0])} and {_value('eq', value[1])}"
    if isinstance(value, tuple):
        return "[" + ", ".join(_value("eq", v) for v in value) + "]"
    if isinstance(value, Relative):
        unit = value.unit if value.amount != 1 else value.unit[:-1]
        return f"{value.amount} {unit}" + (" ago" if op in AGO_OPS else "")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _event(node: EventLeaf) -> str:
    if node.op == "not_performed":
        text = f"did not perform “{node.event}”"
    else:
        bound = "at least" if node.op == "count_at_least" else "at most"
        times = "time" if node.count == 1 else "times"
        text = f"performed “{node.event}” {bound} {node.count} {times}"
    if node.where:
        text += " where " + " and ".join(_filter(w) for w in node.where)
    if node.within_days is not None:
        text += f" in the last {node.within_days} days"
    return text


def _filter(flt: PropertyFilter) -> str:
    return _leaf(f"property “{flt.property}”", flt.op, flt.value)
