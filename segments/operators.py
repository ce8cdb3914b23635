"""Rule operators applied to whole columns at once (pandas masks, no per-query decryption).

Each value kind (text, number, date, set, free-form trait values) has one function for the
positive operators; the negative operators (`neq`, `not_in`, `excludes`, `is_not_empty`)
are always the exact complement of their positive twin, so a patient with no value is in
the negative set and `count(in V) + count(not_in V)` is every patient.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from segments.nodes import Relative, Value
from segments.rules import POSITIVE_OF


def apply_op(op: str, value: Value, positive: Callable[[str, Value], pd.Series]) -> pd.Series:
    """Evaluate `op`, deriving negative operators as the complement of the positive one."""
    if op in POSITIVE_OF:
        return ~positive(POSITIVE_OF[op], value)
    return positive(op, value)


def resolve_date(value: Value, today: date) -> date:
    """An absolute date, or a relative span counted back from `today`."""
    if isinstance(value, Relative):
        return today - relative_span(value, today)
    return value


def relative_span(rel: Relative, today: date) -> timedelta:
    if rel.unit == "days":
        return timedelta(days=rel.amount)
    if rel.unit == "weeks":
        return timedelta(weeks=rel.amount)
    months = today.year * 12 + today.month - 1 - rel.amount
    year, month = divmod(months, 12)
    day = min(today.day, _days_in_month(year, month + 1))
    return today - date(year, month + 1, day)


def _days_in_month(year: int, month: int) -> int:
    nxt = date(year + month // 12, month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def text_values(raw: pd.Series) -> pd.Series:
    """Strings trimmed and case-folded, as a categorical (empty strings become missing).

    Only the distinct values are normalised in Python, so a million rows cost one factorize.
    """
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    normalised = [_fold(u) for u in uniques]
    folded_codes, folded = pd.factorize(pd.Series(normalised, dtype=object))
    mapping = np.append(folded_codes, -1)  # code -1 (missing) stays missing
    categories = pd.Index(folded, dtype=object)
    return pd.Series(pd.Categorical.from_codes(mapping[codes], categories), index=raw.index)


def _fold(value) -> str | None:
    text = str(value).strip().casefold() if value is not None else ""
    return text or None


def text_positive(values: pd.Series, op: str, value: Value) -> pd.Series:
    match op:
        case "eq":
            return values.isin([str(value).casefold()]).astype(bool)
        case "in":
            return values.isin([str(v).casefold() for v in value]).astype(bool)
        case "is_empty":
            return values.isna()
    raise ValueError(f"operator {op} does not apply to text")


def number_positive(values: pd.Series, op: str, value: Value) -> pd.Series:
    match op:
        case "eq":
            return values == value
        case "in":
            return values.isin(list(value))
        case "gt":
            return values > value
        case "gte":
            return values >= value
        case "lt":
            return values < value
        case "lte":
            return values <= value
        case "between":
            return (values >= value[0]) & (values <= value[1])
        case "is_empty":
            return values.isna()
    raise ValueError(f"operator {op} does not apply to numbers")


def date_positive(values: pd.Series, op: str, value: Value, today: date) -> pd.Series:
    """`values` is datetime64 (midnight of each date, NaT when missing)."""

    def stamp(d: Value) -> pd.Timestamp:
        return pd.Timestamp(resolve_date(d, today))

    match op:
        case "eq" if isinstance(value, bool):
            on_file = values.notna() & (values <= pd.Timestamp(today))
            return on_file if value else ~on_file
        case "eq":
            return values == stamp(value)
        case "before":
            return values < stamp(value)
        case "after":
            return values > stamp(value)
        case "between":
            return (values >= stamp(value[0])) & (values <= stamp(value[1]))
        case "within_last":
            return (values > stamp(value)) & (values <= pd.Timestamp(today))
        case "more_than_ago":
            return values <= stamp(value)
        case "is_empty":
            return values.isna()
    raise ValueError(f"operator {op} does not apply to dates")


@dataclass(frozen=True)
class SlugTable:
    """Active slugs of many patients: row `i` says patient `positions[i]` has `slugs[i]`."""

    positions: np.ndarray
    slugs: pd.Series
    index: pd.Index

    def having(self, wanted: list[str]) -> pd.Series:
        mask = np.zeros(len(self.index), dtype=bool)
        mask[self.positions[self._rows_with(wanted)]] = True
        return pd.Series(mask, index=self.index)

    def _rows_with(self, wanted: list[str]) -> np.ndarray:
        """Rows holding one of `wanted`; on categorical slugs, an integer compare."""
        if not isinstance(self.slugs.dtype, pd.CategoricalDtype):
            return self.slugs.isin(wanted).to_numpy()
        categories = self.slugs.cat.categories
        ids = [categories.get_loc(w) for w in wanted if w in categories]
        return np.isin(self.slugs.cat.codes.to_numpy(), ids)

    def any_slug(self) -> pd.Series:
        mask = np.zeros(len(self.index), dtype=bool)
        mask[self.positions[self.slugs.notna().to_numpy()]] = True
        return pd.Series(mask, index=self.index)


def set_positive(values: SlugTable, op: str, value: Value) -> pd.Series:
    match op:
        case "includes":
            return values.having([str(value).casefold()])
        case "in":
            return values.having([str(v).casefold() for v in value])
        case "is_empty":
            return ~values.any_slug()
    raise ValueError(f"operator {op} does not apply to condition groups or flags")


def any_positive(raw: pd.Series, op: str, value: Value, today: date, tz: ZoneInfo) -> pd.Series:
    """Operators on free-form values (traits, event properties), typed by the rule's value."""
    if op == "is_empty":
        return raw.map(_is_blank).astype(bool)
    if op == "includes":
        return raw.map(lambda v: _contains(v, value)).astype(bool)
    if op == "in":
        masks = [any_positive(raw, "eq", v, today, tz) for v in value]
        return pd.concat(masks, axis=1).any(axis=1)
    if op in ("before", "after", "within_last", "more_than_ago") or _is_date_bounds(value):
        return date_positive(to_dates(raw, tz), op, value, today)
    if op == "eq" and isinstance(value, bool):
        return raw.map(lambda v: _as_bool(v) is value).astype(bool)
    if op == "eq" and isinstance(value, str):
        return text_positive(text_values(raw.map(_scalar_text)), op, value)
    return number_positive(pd.to_numeric(raw.map(_number_or_none), errors="coerce"), op, value)


def _is_date_bounds(value: Value) -> bool:
    return isinstance(value, tuple) and isinstance(value[0], date)


def _is_blank(v) -> bool:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return True
    return (isinstance(v, str) and not v.strip()) or (isinstance(v, list | dict) and not v)


def _contains(v, value) -> bool:
    wanted = str(value).casefold()
    if isinstance(v, list | tuple | set):
        return any(str(x).strip().casefold() == wanted for x in v)
    return not _is_blank(v) and str(v).strip().casefold() == wanted


def _scalar_text(v):
    if _is_blank(v) or isinstance(v, list | dict):
        return None
    return str(v).lower() if isinstance(v, bool) else str(v)


def _as_bool(v) -> bool | None:
    if isinstance(v, bool):
        return v
    text = str(v).strip().lower() if v is not None else ""
    return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(
        text
    )


def _number_or_none(v):
    if isinstance(v, bool) or _is_blank(v) or isinstance(v, list | dict):
        return None
    return v


def to_dates(raw: pd.Series, tz: ZoneInfo) -> pd.Series:
    """Dates (ISO strings, dates, datetimes) as datetime64 midnights; instants in `tz`."""
    return pd.to_datetime(raw.map(lambda v: _one_date(v, tz)), errors="coerce")


def _one_date(v, tz: ZoneInfo) -> date | None:
    if isinstance(v, datetime):
        return v.astimezone(tz).date() if v.tzinfo else v.date()
    if isinstance(v, date):
        return v
    if not isinstance(v, str) or not v.strip():
        return None
    text = v.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return _one_date(datetime.fromisoformat(text.replace("Z", "+00:00")), tz)
    except ValueError:
        return None
