"""Columnar forms of the facet and event frames that the evaluator reuses across counts.

Condition groups and risk flags become long tables (patient position, slug, first day,
last day) so "active on the as-of date" is two integer comparisons, not a Python loop over
lists; events get their patients' positions and integer instants so an event count is a
`bincount`. Built from the frames themselves, or seeded from the facet snapshot's
arrays (`seed_from_snapshot`), which already hold them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from patients.snapshot import EPOCH_DAY, NULL_DAY, FacetSnapshot

LAST_DAY = np.iinfo(np.int32).max
DATE_FRAME_COLUMNS = ("birth_date", "marketing_authorized_at", "last_visit")


def day_number(value) -> int:
    """Days since 1970-01-01 of a date or ISO string; NULL_DAY when empty."""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10]) if value else None
    return (value - EPOCH_DAY).days if value else NULL_DAY


def slug_table(column: pd.Series, kind: str) -> pd.DataFrame:
    """(pos, slug, start, end) rows from a frame's `conditions` or `risk_flags` lists."""
    rows = []
    for pos, items in enumerate(column.to_numpy()):
        for item in items if isinstance(items, list | tuple) else ():
            if kind == "risk_flag" and item:
                rows.append((pos, item, NULL_DAY, NULL_DAY))
            elif kind == "condition_group" and item:
                rows.append((pos, item.get("group"), day_number(item.get("onset")),
                             day_number(item.get("abated"))))
    table = pd.DataFrame(rows, columns=["pos", "slug", "start", "end"])
    return table.astype({"pos": "int64", "slug": object, "start": "int32", "end": "int32"})


def active_rows(table: pd.DataFrame, today: date) -> pd.DataFrame:
    """Rows active on `today`: begun by then and not ended before it (empty ends: open)."""
    day = (today - EPOCH_DAY).days
    end = table["end"].to_numpy()
    end = np.where(end == NULL_DAY, LAST_DAY, end)
    keep = (table["start"].to_numpy() <= day) & (end >= day) & table["slug"].notna().to_numpy()
    return table[keep]


@dataclass(frozen=True)
class EventColumns:
    """The events frame as arrays: patient position (-1 unknown), name, UTC nanoseconds."""

    positions: np.ndarray
    names: pd.Series
    instants: np.ndarray

    @classmethod
    def build(cls, events: pd.DataFrame, index: pd.Index) -> EventColumns:
        positions = index.get_indexer(events["patient_id"].astype(object))
        names = events["name"].astype("category")
        stamps = pd.DatetimeIndex(pd.to_datetime(events["occurred_at"], utc=True))
        return cls(positions, names, stamps.as_unit("ns").asi8)


def seed_from_snapshot(snapshot: FacetSnapshot) -> dict:
    """Cache entries for `segments.evaluate` taken straight from the snapshot's arrays."""
    seeds = {
        ("static", "slugs", "condition_group"): snapshot.condition_table(),
        ("static", "slugs", "risk_flag"): snapshot.flag_table(),
    }
    for column in DATE_FRAME_COLUMNS:
        seeds[("static", "dates", column)] = snapshot.dates(column)
    return seeds
