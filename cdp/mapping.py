"""Mapping CDP columns onto profile fields, with per-field validation.

Known column names (and their common aliases) become profile fields; every other column
becomes a custom trait, unless a mapping file (`cdp.mapping_file`) says otherwise. Columns
a marketing system has no use for (SSN, driver's licence, passport, income, coordinates)
map to `ignore` whatever the mapping says: they are dropped at read time and listed in the
report. Values are text: trimmed of Unicode white space, never converted to numbers; only
an empty cell is missing (`NA`, `NULL`, `None` are values). A field that cannot be used is
reported (never with its value) and left empty.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from patients.emails import normalize_email

ALIASES = {
    "cdp_id": ("patient_id", "id", "cdp_id", "user_id", "userid", "external_id", "customer_id"),
    "email": ("email", "email_address", "e_mail", "mail"),
    "first_name": ("first_name", "firstname", "first", "given_name"),
    "last_name": ("last_name", "lastname", "last", "family_name", "surname"),
    "birth_date": ("birth_date", "birthdate", "dob", "date_of_birth"),
    "death_date": ("death_date", "deathdate", "deceased_date"),
    "sex": ("sex", "gender"),
    "address": ("address", "street", "address_line"),
    "city": ("city", "town"),
    "state": ("state", "region"),
    "zip": ("zip", "zip_code", "zipcode", "postal_code", "postcode"),
    "language": ("language", "preferred_language", "locale"),
    "timezone": ("timezone", "time_zone", "tz"),
    "email_opt_in": ("email_opt_in", "opt_in", "email_consent"),
    "marketing_authorized_at": ("marketing_authorized_at", "marketing_authorization"),
    "lifecycle_stage": ("lifecycle_stage", "stage"),
    "status": ("status", "subscription_status"),
}
FIELD_BY_ALIAS = {alias: field for field, names in ALIASES.items() for alias in names}
YES = {"yes", "y", "true", "1", "opted_in", "subscribed"}
NO = {"no", "n", "false", "0", "opted_out", "unsubscribed"}
SUPPRESSING_STATUSES = ("unsubscribed", "suppressed", "bounced", "complained")
NEVER_STORED = frozenset({
    "ssn", "social_security", "social_security_number", "drivers", "drivers_license",
    "drivers_licence", "driver_license", "driver_licence", "driving_licence", "passport",
    "passport_number", "income", "annual_income", "household_income", "salary",
    "healthcare_expenses", "healthcare_coverage", "lat", "lon", "latitude", "longitude",
})
IGNORE = "ignore"
DATE_FIELDS = frozenset({"birth_date", "death_date", "marketing_authorized_at"})
_SPACE = re.compile(r"[\s\ufeff\u200b]+")


def clean(value) -> str:
    """Trim Unicode white space (no-break space, tab, BOM, zero-width) around a value."""
    return str(value).strip().strip("\ufeff\u200b").strip() if value is not None else ""


def header_key(raw: str) -> str:
    """A header normalised for matching: trimmed, lower-case, words joined by `_`."""
    return _SPACE.sub("_", clean(raw).lower().replace("-", "_")).strip("_")


def _opt_in(value: str) -> str | None:
    word = value.lower()
    return "yes" if word in YES else "no" if word in NO else "" if not word else None


def _iso_date(value: str) -> str | None:
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return None


def _timezone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return value


CHECKS = {
    "email": (normalize_email, "not a valid email address"),
    "email_opt_in": (_opt_in, "expected yes or no"),
    "birth_date": (_iso_date, "not a date (YYYY-MM-DD)"),
    "death_date": (_iso_date, "not a date (YYYY-MM-DD)"),
    "marketing_authorized_at": (_iso_date, "not a date (YYYY-MM-DD)"),
    "timezone": (_timezone, "unknown time zone"),
}


def _formatted_date(value: str, fmt: str) -> str | None:
    try:
        return datetime.strptime(value, fmt).date().isoformat()
    except ValueError:
        return None


def map_row(row: dict[str, str], columns: dict[str, str],
            date_formats: dict[str, str] | None = None) -> tuple[dict, list[tuple]]:
    """(profile fragment, [(field, message)]) for one source row; `columns` maps header
    to field (or to `trait:<name>`, or `ignore`); `date_formats` maps a header to the
    strptime format of its dates (ISO 8601 when absent)."""
    profile: dict = {"traits": {}}
    problems = []
    for header, target in columns.items():
        if target == IGNORE:
            continue
        value = clean(row.get(header, ""))
        fmt = (date_formats or {}).get(header)
        if fmt and value:
            value = _formatted_date(value, fmt)
            if value is None:
                problems.append((target, "not a date in the column's date format"))
                value = ""
        if target.startswith("trait:"):
            profile["traits"][target[6:]] = value
            continue
        check = None if fmt else CHECKS.get(target)
        if check and value:
            checked = check[0](value)
            if checked is None:
                problems.append((target, check[1]))
            value = checked
        profile[target] = value if value != "" or target != "email" else None
    return profile, problems


def column_targets(headers: list[str], declared: dict[str, str] | None = None
                   ) -> dict[str, str]:
    """{original header: profile field, `trait:<key>` or `ignore`}; `declared` (a mapping
    file's columns, keyed by `header_key`) wins over aliases; first header wins per field."""
    targets, taken = {}, set((declared or {}).values())
    for header in headers:
        key = header_key(header)
        if not key:
            continue
        if key in NEVER_STORED:
            targets[header] = IGNORE
            continue
        if declared and key in declared:
            targets[header] = declared[key]
            continue
        field = FIELD_BY_ALIAS.get(key)
        if field and field not in taken:
            targets[header] = field
            taken.add(field)
        else:
            targets[header] = f"trait:{key}"
    return targets


def ignored_columns(targets: dict[str, str]) -> list[str]:
    """The headers dropped because Sendwell never stores them."""
    return [h for h, t in targets.items() if t == IGNORE and header_key(h) in NEVER_STORED]
