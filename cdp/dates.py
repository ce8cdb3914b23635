"""One date format per column: ISO 8601 by default, else declared or inferred and certain.

A date column (birth, death, marketing authorization, or a trait given a format in the
mapping file) whose values are all ISO 8601 needs nothing. Otherwise every value must have
the same shape: `YYYY/MM/DD`, `YYYY.MM.DD`, or day and month in some order followed by a
four-digit year (`/`, `-` or `.` between). The order is inferred only when the column
proves it: a first number above 12 means DD/MM, a second number above 12 means MM/DD. A
column where neither happens is ambiguous and fails the import naming the column, so
that the format can be declared in the mapping file (`"date_formats"`). Values are never
guessed one by one.
"""

from __future__ import annotations

import re

from cdp.mapping import DATE_FIELDS
from cdp.report import ImportFailed

TOKENS = {"YYYY": "%Y", "MM": "%m", "DD": "%d"}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}")
_YEAR_FIRST = re.compile(r"^\d{4}([/.])\d{1,2}\1\d{1,2}$")
_YEAR_LAST = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2\d{4}$")


def strptime_format(declared: str) -> str:
    """A strptime format from `MM/DD/YYYY`-style tokens (a `%` pattern passes through)."""
    if "%" in declared:
        return declared
    fmt = declared.upper()
    for token, directive in TOKENS.items():
        fmt = fmt.replace(token, directive)
    if "%Y" not in fmt or "%m" not in fmt or "%d" not in fmt:
        raise ValueError(declared)
    return fmt


def _shape(value: str) -> tuple:
    if _ISO.match(value):
        return ("iso",)
    if match := _YEAR_FIRST.match(value):
        return ("year_first", match.group(1))
    if match := _YEAR_LAST.match(value):
        return ("year_last", match.group(2))
    return ("other",)


def _day_month_order(values: list[str], sep: str, name: str, column: str) -> str:
    firsts, seconds = [], []
    for value in values:
        match = _YEAR_LAST.match(value)
        firsts.append(int(match.group(1)))
        seconds.append(int(match.group(3)))
    day_first, month_first = max(firsts) > 12, max(seconds) > 12
    if day_first and month_first:
        raise ImportFailed(name, f"column {column!r} mixes day-first and month-first dates",
                           field=column)
    if not (day_first or month_first):
        raise ImportFailed(
            name, f"column {column!r} has dates that could be MM{sep}DD{sep}YYYY or "
            f"DD{sep}MM{sep}YYYY; declare its format in a mapping file (date_formats)",
            field=column)
    return f"%d{sep}%m{sep}%Y" if day_first else f"%m{sep}%d{sep}%Y"


def infer_format(values: list[str], name: str, column: str) -> str | None:
    """The column's strptime format (None: ISO 8601, checked value by value)."""
    present = [v for v in values if v]
    shapes = {_shape(v) for v in present} - {("other",)}
    if not shapes or shapes == {("iso",)}:
        return None
    if len(shapes) > 1:
        raise ImportFailed(name, f"column {column!r} mixes date formats; use one format "
                           "per column or declare it in a mapping file", field=column)
    (kind, sep), = shapes
    if kind == "year_first":
        return f"%Y{sep}%m{sep}%d"
    shaped = [v for v in present if _YEAR_LAST.match(v)]
    return _day_month_order(shaped, sep, name, column)


def column_formats(rows: list[dict], targets: dict[str, str], declared: dict[str, str],
                   name: str) -> dict[str, str]:
    """{header: strptime format} for every date column that is not ISO 8601."""
    formats = {}
    for header, target in targets.items():
        if header in declared:
            formats[header] = declared[header]
        elif target in DATE_FIELDS:
            values = [str(row.get(header) or "").strip() for row in rows]
            fmt = infer_format(values, name, header)
            if fmt:
                formats[header] = fmt
    return formats
