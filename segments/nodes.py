"""Typed nodes of the segment rule language, and their normalised JSON form.

One frozen dataclass per node type; `Node` is their union, so every function over rules
is a `match` with one case per type and `assert_never` for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import assert_never

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Relative:
    """A span back from the as-of date: `{"days"|"weeks"|"months": N}`."""

    unit: str
    amount: int


Value = Scalar | date | Relative | tuple | None


@dataclass(frozen=True)
class AllNode:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class AnyNode:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class NotNode:
    child: Node


@dataclass(frozen=True)
class SegmentRef:
    name: str


@dataclass(frozen=True)
class FieldLeaf:
    field: str
    op: str
    value: Value


@dataclass(frozen=True)
class TraitLeaf:
    trait: str
    op: str
    value: Value


@dataclass(frozen=True)
class PropertyFilter:
    property: str
    op: str
    value: Value


@dataclass(frozen=True)
class EventLeaf:
    event: str
    op: str
    count: int
    within_days: int | None
    where: tuple[PropertyFilter, ...]


Node = AllNode | AnyNode | NotNode | SegmentRef | FieldLeaf | TraitLeaf | EventLeaf


def to_json(node: Node) -> dict:
    """The normalised JSON of a parsed rule (what is stored and shown)."""
    match node:
        case AllNode(children):
            return {"all": [to_json(c) for c in children]}
        case AnyNode(children):
            return {"any": [to_json(c) for c in children]}
        case NotNode(child):
            return {"not": to_json(child)}
        case SegmentRef(name):
            return {"segment": name}
        case FieldLeaf(field, op, value):
            return _leaf_json({"field": field, "op": op}, value)
        case TraitLeaf(trait, op, value):
            return _leaf_json({"trait": trait, "op": op}, value)
        case EventLeaf():
            return _event_json(node)
        case _:
            assert_never(node)


def _event_json(node: EventLeaf) -> dict:
    out: dict = {"event": node.event, "op": node.op}
    if node.op != "not_performed":
        out["value"] = node.count
    if node.within_days is not None:
        out["within_days"] = node.within_days
    if node.where:
        out["where"] = [
            _leaf_json({"property": w.property, "op": w.op}, w.value) for w in node.where
        ]
    return out


def _leaf_json(head: dict, value: Value) -> dict:
    if value is not None:
        head["value"] = value_json(value)
    return head


def value_json(value: Value):
    if isinstance(value, Relative):
        return {value.unit: value.amount}
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [value_json(v) for v in value]
    return value


def segment_names(node: Node) -> set[str]:
    """Names of the segments a rule refers to (directly)."""
    match node:
        case AllNode(children) | AnyNode(children):
            return set().union(*(segment_names(c) for c in children))
        case NotNode(child):
            return segment_names(child)
        case SegmentRef(name):
            return {name}
        case FieldLeaf() | TraitLeaf() | EventLeaf():
            return set()
        case _:
            assert_never(node)
