"""Evaluate a rule over the facet frame: one vectorised mask per node, one evaluator per type.

The facet frame (`patients.facets.facet_frame`) is indexed by patient id; the events frame
has one row per behavioural event. Relative dates count back from the as-of date in the
organisation's time zone; event windows are `(today − N days, as-of]`. Deceased patients
are never members, whatever the rule says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import assert_never
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from segments import columns
from segments import operators as ops
from segments.nodes import (
    AllNode,
    AnyNode,
    EventLeaf,
    FieldLeaf,
    Node,
    NotNode,
    SegmentRef,
    TraitLeaf,
)
from segments.rules import MAX_REFERENCE_DEPTH, RuleError, parse_rule

DEFAULT_TZ = "America/Chicago"
TEXT_COLUMNS = {
    "lifecycle_stage": "lifecycle_stage", "sex": "sex", "zip3": "zip3",
    "language": "language", "timezone": "timezone", "email_opt_in": "email_opt_in",
}
DATE_COLUMNS = {"last_visit": "last_visit", "marketing_authorized": "marketing_authorized_at"}
SegmentResolver = Callable[[str], dict]


@dataclass
class Context:
    facets: pd.DataFrame
    events: pd.DataFrame
    as_of: datetime
    tz: ZoneInfo
    resolve_segment: SegmentResolver | None
    stack: tuple[str, ...] = ()
    cache: dict = field(default_factory=dict)

    @property
    def today(self) -> date:
        return self.as_of.astimezone(self.tz).date()


def evaluate(
    rule: dict | Node,
    facets: pd.DataFrame,
    events: pd.DataFrame,
    as_of: datetime,
    resolve_segment: SegmentResolver | None = None,
    *,
    tz: str | None = None,
    cache: dict | None = None,
) -> pd.Series:
    """Members of `rule` as of `as_of`: a boolean Series aligned to `facets.index`.

    `cache` may be shared by evaluations over the same frames (derived columns are kept).
    """
    node = parse_rule(rule) if isinstance(rule, dict) else rule
    zone = ZoneInfo(tz or _org_timezone())
    ctx = Context(facets, events, _aware(as_of), zone, resolve_segment)
    ctx.cache = cache if cache is not None else {}
    return (eval_node(node, ctx) & ~deceased_mask(facets)).astype(bool)


def _org_timezone() -> str:
    from flask import current_app

    return current_app.config["ORG_TIMEZONE"] if current_app else DEFAULT_TZ


def _aware(as_of: datetime) -> datetime:
    if as_of.tzinfo is None:
        raise ValueError("as_of must be a timezone-aware instant")
    return as_of


def deceased_mask(facets: pd.DataFrame) -> pd.Series:
    return facets["deceased"].fillna(False).astype(bool)


def reachable_mask(facets: pd.DataFrame) -> pd.Series:
    """Reachable for care reminders: the vectorised twin of `patients.consent.skip_reason`
    with purpose "care_reminder" (alive, usable email, not suppressed, not opted out)."""
    opted_out = ops.text_values(facets["email_opt_in"]).isin(["no"]).astype(bool)
    return (
        ~deceased_mask(facets)
        & facets["email_usable"].fillna(False).astype(bool)
        & ~facets["suppressed"].fillna(False).astype(bool)
        & ~opted_out
    )


def eval_node(node: Node, ctx: Context) -> pd.Series:
    """Exactly one evaluator per node type."""
    match node:
        case AllNode(children):
            return _combine(children, ctx, all_=True)
        case AnyNode(children):
            return _combine(children, ctx, all_=False)
        case NotNode(child):
            return ~eval_node(child, ctx)
        case SegmentRef(name):
            return _eval_segment(name, ctx)
        case FieldLeaf():
            return _eval_field(node, ctx)
        case TraitLeaf():
            return _eval_trait(node, ctx)
        case EventLeaf():
            return _eval_event(node, ctx)
        case _:
            assert_never(node)


def _combine(children: tuple[Node, ...], ctx: Context, all_: bool) -> pd.Series:
    mask = pd.Series(all_, index=ctx.facets.index, dtype=bool)
    for child in children:
        mask = (mask & eval_node(child, ctx)) if all_ else (mask | eval_node(child, ctx))
    return mask


def _eval_segment(name: str, ctx: Context) -> pd.Series:
    if name in ctx.stack:
        raise RuleError(f"segment {name!r} refers to itself (via {' → '.join(ctx.stack)})")
    if ctx.resolve_segment is None:
        raise RuleError(f"segment {name!r}: segment references are not available here")
    if len(ctx.stack) >= MAX_REFERENCE_DEPTH:
        raise RuleError(f"the rule refers to segments more than {MAX_REFERENCE_DEPTH} levels "
                        f"deep (via {' → '.join(ctx.stack)})")
    inner = Context(
        ctx.facets, ctx.events, ctx.as_of, ctx.tz, ctx.resolve_segment,
        ctx.stack + (name,), ctx.cache,
    )
    return eval_node(parse_rule(ctx.resolve_segment(name), f"segment {name!r}"), inner)


# --- built-in fields -------------------------------------------------------------------


def _eval_field(leaf: FieldLeaf, ctx: Context) -> pd.Series:
    positive = _field_positive(leaf.field, ctx)
    return ops.apply_op(leaf.op, leaf.value, positive).astype(bool)


def _field_positive(name: str, ctx: Context) -> Callable:
    if name in ("condition_group", "risk_flag"):
        values = _cached(ctx, name, lambda: _slug_sets(name, ctx))
        return lambda op, v: ops.set_positive(values, op, v)
    if name == "age":
        ages = _cached(ctx, "age", lambda: ages_on(_dates(ctx, "birth_date"), ctx.today))
        return lambda op, v: ops.number_positive(ages, op, v)
    if name in DATE_COLUMNS:
        dates = _dates(ctx, DATE_COLUMNS[name])
        return lambda op, v: ops.date_positive(dates, op, v, ctx.today)
    if name == "state":
        return lambda op, v: _state_positive(ctx, op, v)
    if name == "reachable":
        reach = _static(ctx, ("reachable",), lambda: reachable_mask(ctx.facets))
        return lambda op, v: reach if v else ~reach
    values = _text(ctx, TEXT_COLUMNS[name])
    return lambda op, v: ops.text_positive(values, op, v)


def _cached(ctx: Context, key: str, build: Callable[[], pd.Series]) -> pd.Series:
    """Derived data that depends on the as-of day (ages, active conditions)."""
    slot = (key, ctx.today, ctx.tz.key)
    if slot not in ctx.cache:
        ctx.cache[slot] = build()
    return ctx.cache[slot]


def _static(ctx: Context, key: tuple, build: Callable):
    """Derived data that depends only on the frames (kept across as-of days)."""
    slot = ("static", *key)
    if slot not in ctx.cache:
        ctx.cache[slot] = build()
    return ctx.cache[slot]


def _text(ctx: Context, column: str) -> pd.Series:
    return _static(ctx, ("text", column), lambda: ops.text_values(ctx.facets[column]))


def _dates(ctx: Context, column: str) -> pd.Series:
    """A facet date column as datetime64 (facet dates are calendar dates, no zone)."""
    return _static(ctx, ("dates", column), lambda: ops.to_dates(ctx.facets[column], ctx.tz))


def _state_positive(ctx: Context, op: str, value) -> pd.Series:
    names, codes = _text(ctx, "state"), _text(ctx, "state_code")
    if op == "is_empty":
        return names.isna() & codes.isna()
    return ops.text_positive(names, op, value) | ops.text_positive(codes, op, value)


def ages_on(birth_dates: pd.Series, today: date) -> pd.Series:
    """Age in whole years on `today` (NaN when the birth date is unknown)."""
    born = pd.to_datetime(birth_dates, errors="coerce")
    before_birthday = (born.dt.month > today.month) | (
        (born.dt.month == today.month) & (born.dt.day > today.day)
    )
    return (today.year - born.dt.year - before_birthday.astype(int)).astype("float64")


def _slug_sets(name: str, ctx: Context) -> ops.SlugTable:
    """Per patient, the condition groups (or risk flags) active on the as-of day.

    A long table of (patient position, slug) rows; `set_positive` turns it into a mask
    without building a Python set per patient.
    """
    column = "risk_flags" if name == "risk_flag" else "conditions"
    table = _static(ctx, ("slugs", name), lambda: columns.slug_table(ctx.facets[column], name))
    active = columns.active_rows(table, ctx.today)
    return ops.SlugTable(active["pos"].to_numpy(), ops.text_values(active["slug"]),
                         ctx.facets.index)


# --- traits and events -----------------------------------------------------------------


def _eval_trait(leaf: TraitLeaf, ctx: Context) -> pd.Series:
    raw = ctx.facets["traits"].map(lambda t: t.get(leaf.trait) if isinstance(t, dict) else None)
    positive = partial(ops.any_positive, raw, today=ctx.today, tz=ctx.tz)
    return ops.apply_op(leaf.op, leaf.value, positive).astype(bool)


def _eval_event(leaf: EventLeaf, ctx: Context) -> pd.Series:
    counts = event_counts(leaf, ctx)
    if leaf.op == "count_at_least":
        return counts >= leaf.count
    if leaf.op == "count_at_most":
        return counts <= leaf.count
    return counts == 0


def event_counts(leaf: EventLeaf, ctx: Context) -> pd.Series:
    """How many matching events each patient had in the leaf's window."""
    size = len(ctx.facets.index)
    if ctx.events.empty:
        return pd.Series(np.zeros(size, dtype="int64"), index=ctx.facets.index)
    cols = _static(ctx, ("events",),
                   lambda: columns.EventColumns.build(ctx.events, ctx.facets.index))
    keep = (cols.names == leaf.event).to_numpy() & (cols.positions >= 0)
    keep &= cols.instants <= pd.Timestamp(ctx.as_of).as_unit("ns").value
    if leaf.within_days is not None:
        start = window_start(ctx.today, leaf.within_days, ctx.tz)
        keep &= cols.instants >= start.as_unit("ns").value
    if leaf.where:
        keep[keep] = _property_filter(leaf, ctx.events["properties"].to_numpy()[keep], ctx)
    counts = np.bincount(cols.positions[keep], minlength=size)
    return pd.Series(counts.astype("int64"), index=ctx.facets.index)


def _property_filter(leaf: EventLeaf, properties, ctx: Context) -> np.ndarray:
    """Which of the (already narrowed) events pass every `where` filter."""
    mask = np.ones(len(properties), dtype=bool)
    for flt in leaf.where:
        values = pd.Series([p.get(flt.property) if isinstance(p, dict) else None
                            for p in properties], dtype=object)
        positive = partial(ops.any_positive, values, today=ctx.today, tz=ctx.tz)
        mask &= ops.apply_op(flt.op, flt.value, positive).astype(bool).to_numpy()
    return mask


def window_start(today: date, days: int, tz: ZoneInfo) -> pd.Timestamp:
    """First instant of the window `(today − days, today]`: midnight of today − days + 1."""
    first_day = today - timedelta(days=days - 1)
    return pd.Timestamp(datetime.combine(first_day, time(0), tzinfo=tz).astimezone(UTC))
