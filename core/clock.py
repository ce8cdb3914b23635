"""The application's notion of "now" and "today", injectable for demos and tests.

`CLOCK_START` makes the clock start at a fixed instant and then advance with real time
(the demo runs at the sample's end, 2023-12-31). `--as-of DATE` means the end of that day
in the organisation's time zone.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from flask import current_app

_process_start = time.monotonic()


def utcnow() -> datetime:
    start = current_app.config.get("CLOCK_START") if current_app else None
    if start:
        base = parse_instant(start) if isinstance(start, str) else start
        return base + timedelta(seconds=time.monotonic() - _process_start)
    return datetime.now(UTC)


def parse_instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def end_of_day(day: date, tz_name: str) -> datetime:
    """The last instant of `day` in zone `tz_name`, as UTC."""
    local = datetime.combine(day, dtime(23, 59, 59), tzinfo=ZoneInfo(tz_name))
    return local.astimezone(UTC)


def as_of_instant(as_of: str | date | None, tz_name: str) -> datetime:
    """`--as-of DATE` resolved to an instant; None means the app's clock."""
    if as_of is None:
        return utcnow()
    day = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    return end_of_day(day, tz_name)


def local_date(instant: datetime, tz_name: str) -> date:
    return instant.astimezone(ZoneInfo(tz_name)).date()


def isoz(instant: datetime) -> str:
    """UTC instant as ISO 8601 with `Z`."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
