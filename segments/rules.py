"""The segment rule language: typed nodes parsed from JSON, validated with the node's path.

A rule is a tree of groups (`all`, `any`, `not`, `segment`) over leaves: built-in fields,
custom attributes (`trait`) and behavioural events. `parse_rule` turns JSON into the
typed nodes of `segments.nodes`; `validate_rule` returns the normalised JSON that is
stored. Every error names the path of the offending node (`$.all[1].value`), never a
patient value.

Bounds keep every accepted rule evaluable: at most `MAX_DEPTH` levels of nesting, spans
of at most about a century, ages 0–150, bounded counts, finite numbers, and dates that
pandas can hold.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from core.errors import SendwellError
from segments.nodes import (
    AllNode,
    AnyNode,
    EventLeaf,
    FieldLeaf,
    Node,
    NotNode,
    PropertyFilter,
    Relative,
    Scalar,
    SegmentRef,
    TraitLeaf,
    Value,
    to_json,
)


class RuleError(SendwellError):
    """A rule that does not follow the rule language; the message names the node's path."""


POSITIVE_OF = {"neq": "eq", "not_in": "in", "excludes": "includes", "is_not_empty": "is_empty"}
SCALAR_OPS = ("eq", "neq")
LIST_OPS = ("in", "not_in")
SET_OPS = ("includes", "excludes")
ORDER_OPS = ("gt", "gte", "lt", "lte")
EMPTY_OPS = ("is_empty", "is_not_empty")
DATE_OPS = ("before", "after")
RELATIVE_OPS = ("more_than_ago", "within_last")
ALL_OPS = (
    SCALAR_OPS + LIST_OPS + SET_OPS + ORDER_OPS + ("between",) + EMPTY_OPS + DATE_OPS
    + RELATIVE_OPS
)
EVENT_OPS = ("count_at_least", "count_at_most", "not_performed")
RELATIVE_UNITS = ("days", "weeks", "months")

# field -> kind; a kind decides which operators a field accepts and how values compare
FIELD_KINDS = {
    "condition_group": "set", "risk_flag": "set",
    "lifecycle_stage": "text", "sex": "text", "state": "text", "zip3": "text",
    "language": "text", "timezone": "text", "email_opt_in": "text",
    "age": "number", "last_visit": "date", "marketing_authorized": "date",
    "reachable": "bool",
}
KIND_OPS = {
    "set": SET_OPS + LIST_OPS + EMPTY_OPS,
    "text": SCALAR_OPS + LIST_OPS + EMPTY_OPS,
    "number": SCALAR_OPS + LIST_OPS + ORDER_OPS + ("between",) + EMPTY_OPS,
    "date": SCALAR_OPS + DATE_OPS + ("between",) + RELATIVE_OPS + EMPTY_OPS,
    "bool": SCALAR_OPS,
    "any": ALL_OPS,
}
LIFECYCLE_STAGES = ("onboarding", "active_treatment", "follow_up", "preventive", "re_engagement")
SEX_VALUES = {"f": "F", "female": "F", "m": "M", "male": "M", "other": "other",
              "unknown": "unknown"}

MAX_DEPTH = 32  # levels of nesting below the root node
MAX_REFERENCE_DEPTH = 8  # segments reached through segment references, one inside another
MAX_DAYS = 36500
MAX_SPAN = {"days": MAX_DAYS, "weeks": 5200, "months": 1200}
MAX_EVENT_COUNT = 1_000_000
MAX_NUMBER = 10**15  # traits and event properties; beyond it comparisons lose meaning
NUMBER_RANGES = {"age": (0, 150)}
FIRST_DATE, LAST_DATE = date(1800, 1, 1), date(2200, 12, 31)


def validate_rule(rule: Any) -> dict:
    """Check a rule and return its normalised JSON form (raises `RuleError`)."""
    return to_json(parse_rule(rule))


def parse_rule(rule: Any, path: str = "$", depth: int = 0) -> Node:
    """Turn a JSON rule into typed nodes; errors name the path of the bad node."""
    if depth > MAX_DEPTH:
        raise RuleError(f"{path}: rule is nested more than {MAX_DEPTH} levels deep")
    if not isinstance(rule, dict):
        raise RuleError(f"{path}: a rule node must be an object")
    kinds = [k for k in ("all", "any", "not", "segment", "field", "trait", "event") if k in rule]
    if len(kinds) != 1:
        raise RuleError(
            f"{path}: a node needs exactly one of all, any, not, segment, field, trait, event"
        )
    if kinds[0] in ("all", "any", "not"):
        return _PARSERS[kinds[0]](rule, path, depth)
    return _PARSERS[kinds[0]](rule, path)


def _parse_group(rule: dict, path: str, depth: int) -> Node:
    key = "all" if "all" in rule else "any"
    _only_keys(rule, {key}, path)
    children = rule[key]
    if not isinstance(children, list) or not children:
        raise RuleError(f"{path}.{key}: must be a non-empty list of nodes")
    parsed = tuple(
        parse_rule(c, f"{path}.{key}[{i}]", depth + 1) for i, c in enumerate(children)
    )
    return AllNode(parsed) if key == "all" else AnyNode(parsed)


def _parse_not(rule: dict, path: str, depth: int) -> Node:
    _only_keys(rule, {"not"}, path)
    return NotNode(parse_rule(rule["not"], f"{path}.not", depth + 1))


def _parse_segment(rule: dict, path: str) -> Node:
    _only_keys(rule, {"segment"}, path)
    return SegmentRef(_name(rule["segment"], f"{path}.segment"))


def _parse_field(rule: dict, path: str) -> Node:
    _only_keys(rule, {"field", "op", "value"}, path)
    field = rule["field"]
    if field not in FIELD_KINDS:
        raise RuleError(
            f"{path}.field: unknown field {_safe(field)}; custom attributes use "
            f'{{"trait": NAME, ...}}'
        )
    kind = FIELD_KINDS[field]
    op = _op(rule, KIND_OPS[kind], path)
    value = _value(kind, op, rule.get("value"), f"{path}.value")
    value = _field_value(field, value, f"{path}.value")
    if field in NUMBER_RANGES:
        _check_range(field, value, f"{path}.value")
    return FieldLeaf(field, op, value)


def _parse_trait(rule: dict, path: str) -> Node:
    _only_keys(rule, {"trait", "op", "value"}, path)
    name = _name(rule["trait"], f"{path}.trait")
    op = _op(rule, ALL_OPS, path)
    return TraitLeaf(name, op, _value("any", op, rule.get("value"), f"{path}.value"))


def _parse_event(rule: dict, path: str) -> Node:
    _only_keys(rule, {"event", "op", "value", "within_days", "where"}, path)
    name = _name(rule["event"], f"{path}.event")
    op = _op(rule, EVENT_OPS, path)
    counted = op != "not_performed" or rule.get("value") is not None
    count = _count(rule.get("value"), f"{path}.value", 0, MAX_EVENT_COUNT) if counted else 0
    days = rule.get("within_days")
    days = None if days is None else _count(days, f"{path}.within_days", 1, MAX_DAYS)
    where = rule.get("where") or []
    if not isinstance(where, list):
        raise RuleError(f"{path}.where: must be a list of property filters")
    filters = tuple(_parse_filter(w, f"{path}.where[{i}]") for i, w in enumerate(where))
    return EventLeaf(name, op, count if op != "not_performed" else 0, days, filters)


def _parse_filter(rule: Any, path: str) -> PropertyFilter:
    if not isinstance(rule, dict) or "property" not in rule:
        raise RuleError(f"{path}: a property filter needs property, op and value")
    _only_keys(rule, {"property", "op", "value"}, path)
    op = _op(rule, ALL_OPS, path)
    value = _value("any", op, rule.get("value"), f"{path}.value")
    return PropertyFilter(_name(rule["property"], f"{path}.property"), op, value)


_PARSERS = {
    "all": _parse_group, "any": _parse_group, "not": _parse_not, "segment": _parse_segment,
    "field": _parse_field, "trait": _parse_trait, "event": _parse_event,
}


def _only_keys(rule: dict, allowed: set[str], path: str) -> None:
    extra = sorted(set(rule) - allowed)
    if extra:
        raise RuleError(f"{path}: unexpected key(s) {', '.join(_safe(k) for k in extra)}")


def _safe(text: Any) -> str:
    """Rule text quoted for an error message (rules hold slugs and names, never PHI)."""
    return repr(str(text)[:60])


def _name(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RuleError(f"{path}: must be a non-empty string")
    return value.strip()


def _op(rule: dict, allowed: tuple[str, ...], path: str) -> str:
    op = rule.get("op")
    if op not in allowed:
        raise RuleError(f"{path}.op: {_safe(op)} is not one of {', '.join(allowed)}")
    return op


def _count(value: Any, path: str, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise RuleError(f"{path}: must be a whole number from {minimum} to {maximum}")
    return value


def _check_range(field: str, value: Value, path: str) -> None:
    """Field-specific bounds of numeric values (ages are 0 to 150)."""
    low, high = NUMBER_RANGES[field]
    values = value if isinstance(value, tuple) else (value,)
    for i, v in enumerate(values):
        if isinstance(v, int | float) and not low <= v <= high:
            where = f"{path}[{i}]" if isinstance(value, tuple) else path
            raise RuleError(f"{where}: {field} is {low} to {high}")


def _value(kind: str, op: str, value: Any, path: str) -> Value:
    """Check a leaf's value against its operator (and the field's kind)."""
    if op in EMPTY_OPS:
        if value is not None:
            raise RuleError(f"{path}: {op} takes no value")
        return None
    if op in RELATIVE_OPS:
        return _relative(value, path)
    if op in DATE_OPS:
        return _relative(value, path) if isinstance(value, dict) else _date(value, path)
    if op == "between":
        return _between(kind, value, path)
    if op in LIST_OPS:
        if not isinstance(value, list) or not value:
            raise RuleError(f"{path}: {op} needs a non-empty list")
        return tuple(_scalar(kind, v, f"{path}[{i}]") for i, v in enumerate(value))
    if op in ORDER_OPS and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise RuleError(f"{path}: {op} needs a number")
    return _scalar(kind, value, path)


def _number(value: Any, path: str) -> float | int:
    """A finite number within ±`MAX_NUMBER` (JSON allows NaN, Infinity and 1e309)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleError(f"{path}: must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise RuleError(f"{path}: must be a finite number")
    if not -MAX_NUMBER <= value <= MAX_NUMBER:
        raise RuleError(f"{path}: must be a number from -10^15 to 10^15")
    return value


def _scalar(kind: str, value: Any, path: str) -> Scalar | date:
    if kind == "bool":
        if not isinstance(value, bool):
            raise RuleError(f"{path}: must be true or false")
        return value
    if kind == "date":
        return value if isinstance(value, bool) else _date(value, path)
    if kind == "number":
        return _number(value, path)
    if kind in ("text", "set") and not isinstance(value, str | int):
        raise RuleError(f"{path}: must be a string")
    if kind in ("text", "set"):
        return str(value)
    if not isinstance(value, str | int | float | bool):
        raise RuleError(f"{path}: must be a string, number or boolean")
    return value if isinstance(value, str | bool) else _number(value, path)


def _between(kind: str, value: Any, path: str) -> tuple:
    if not isinstance(value, list) or len(value) != 2:
        raise RuleError(f"{path}: between needs a list of two bounds [low, high]")
    if kind == "date" or (kind == "any" and isinstance(value[0], str)):
        bounds = (_date(value[0], f"{path}[0]"), _date(value[1], f"{path}[1]"))
    else:
        bounds = tuple(_number(v, f"{path}[{i}]") for i, v in enumerate(value))
    if bounds[0] > bounds[1]:
        raise RuleError(f"{path}: the low bound is above the high bound")
    return bounds


def _date(value: Any, path: str) -> date:
    try:
        day = date.fromisoformat(value)
    except (TypeError, ValueError):
        raise RuleError(f"{path}: must be an ISO date (YYYY-MM-DD)") from None
    if not FIRST_DATE <= day <= LAST_DATE:
        raise RuleError(f"{path}: dates run from {FIRST_DATE} to {LAST_DATE}")
    return day


def _relative(value: Any, path: str) -> Relative:
    if (
        not isinstance(value, dict) or len(value) != 1
        or next(iter(value)) not in RELATIVE_UNITS
    ):
        raise RuleError(f'{path}: must be {{"days"|"weeks"|"months": N}}')
    unit, amount = next(iter(value.items()))
    return Relative(unit, _count(amount, f"{path}.{unit}", 0, MAX_SPAN[unit]))


def _field_value(field: str, value: Value, path: str) -> Value:
    """Normalise the values of fields with a closed vocabulary (sex, lifecycle stage)."""
    if isinstance(value, tuple) and field in ("sex", "lifecycle_stage"):
        return tuple(_field_value(field, v, f"{path}[{i}]") for i, v in enumerate(value))
    if field == "sex" and isinstance(value, str):
        if value.lower() not in SEX_VALUES:
            raise RuleError(f"{path}: sex is one of F, M, other, unknown")
        return SEX_VALUES[value.lower()]
    if field == "lifecycle_stage" and isinstance(value, str):
        if value.lower() not in LIFECYCLE_STAGES:
            raise RuleError(f"{path}: lifecycle stage is one of {', '.join(LIFECYCLE_STAGES)}")
        return value.lower()
    return value
