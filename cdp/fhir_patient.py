"""A FHIR Patient resource as a Sendwell profile.

The CDP id is the Synthea identifier (`system` https://github.com/synthetichealth/synthea)
when present, else the first identifier typed `MR` (medical record number), else the
resource id; other resources refer to the patient by resource id, which is mapped to that
CDP id. Name: the `official` name (else the first), first given name and family name,
Synthea's numeric suffixes dropped. Email: the first `telecom` with system `email`
(an invalid one is reported and left empty). Address: the `home` address (else the first),
lines joined, city, state, postal code. `gender` becomes sex F/M/other/unknown;
`deceasedDateTime` the death date, and `deceasedBoolean` true marks the patient deceased
even without a date. Language: the primary subtag of the preferred (else first)
communication language. US Core race and ethnicity (their `text`) and birth sex become
traits `race`, `ethnicity`, `birth_sex`. SSN, driver's licence and passport identifiers,
phone numbers and geolocation are never read into the profile.
"""

from __future__ import annotations

import re

from cdp.fhir_resources import codings, fhir_date
from patients.emails import normalize_email
from patients.facets import normalize_sex

SYNTHEA = "https://github.com/synthetichealth/synthea"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-"
TRAIT_EXTENSIONS = {f"{US_CORE}race": "race", f"{US_CORE}ethnicity": "ethnicity"}
NEVER_STORED_IDS = {"SS": "Patient.identifier (SSN)",
                    "DL": "Patient.identifier (driver's licence)",
                    "PPN": "Patient.identifier (passport)"}
_SUFFIX = re.compile(r"\d+$")


def _type_codes(identifier: dict) -> set[str]:
    return {c.get("code") for c in codings(identifier.get("type"))}


def patient_key(res: dict) -> str:
    """The CDP id of a Patient resource (see the module docstring)."""
    identifiers = [i for i in res.get("identifier") or [] if isinstance(i, dict)]
    synthea = [i for i in identifiers if i.get("system") == SYNTHEA and i.get("value")]
    mrn = [i for i in identifiers if "MR" in _type_codes(i) and i.get("value")]
    chosen = (synthea or mrn or [{"value": res.get("id")}])[0]["value"]
    return str(chosen or "").strip()


def ignored_identifiers(res: dict) -> list[str]:
    found = []
    for identifier in res.get("identifier") or []:
        for code in _type_codes(identifier) & set(NEVER_STORED_IDS):
            found.append(NEVER_STORED_IDS[code])
    return found


def _preferred(items, key: str, wanted) -> dict:
    items = [i for i in items or [] if isinstance(i, dict)]
    return next((i for i in items if i.get(key) == wanted), items[0] if items else {})


def _name(res: dict) -> dict:
    name = _preferred(res.get("name"), "use", "official")
    given = name.get("given") or [""]
    return {"first_name": _SUFFIX.sub("", str(given[0] or "")).strip(),
            "last_name": _SUFFIX.sub("", str(name.get("family") or "")).strip()}


def _address(res: dict) -> dict:
    address = _preferred(res.get("address"), "use", "home")
    return {"address": ", ".join(str(x) for x in address.get("line") or [] if x),
            "city": str(address.get("city") or ""), "state": str(address.get("state") or ""),
            "zip": str(address.get("postalCode") or "")}


def _email(res: dict, problems: list) -> str | None:
    raw = next((t.get("value") for t in res.get("telecom") or []
                if isinstance(t, dict) and t.get("system") == "email"), None)
    email = normalize_email(str(raw)) if raw else None
    if raw and email is None:
        problems.append(("telecom.email", "not a valid email address"))
    return email


def _language(res: dict) -> str:
    chosen = _preferred(res.get("communication"), "preferred", True)
    code = next((c.get("code") for c in codings(chosen.get("language")) if c.get("code")), "")
    return str(code).split("-")[0].lower()


def _traits(res: dict) -> dict:
    traits = {}
    for ext in res.get("extension") or []:
        url = ext.get("url") if isinstance(ext, dict) else None
        if url in TRAIT_EXTENSIONS:
            parts = {e.get("url"): e for e in ext.get("extension") or []}
            text = (parts.get("text") or {}).get("valueString") or \
                ((parts.get("ombCategory") or {}).get("valueCoding") or {}).get("display")
            traits[TRAIT_EXTENSIONS[url]] = str(text or "")
        elif url == f"{US_CORE}birthsex":
            traits["birth_sex"] = str(ext.get("valueCode") or "")
    return traits


def patient_profile(res: dict) -> tuple[dict, list[tuple[str, str]]]:
    """(profile fragment, [(element, message)]) of one Patient resource."""
    problems: list = []
    death = fhir_date(res.get("deceasedDateTime"), "deceasedDateTime", problems)[:10]
    profile = {
        "cdp_id": patient_key(res), **_name(res), "email": _email(res, problems),
        "birth_date": fhir_date(res.get("birthDate"), "birthDate", problems)[:10],
        "death_date": death, "sex": normalize_sex(res.get("gender")), **_address(res),
        "language": _language(res), "traits": _traits(res),
        "deceased": bool(res.get("deceasedDateTime")) or res.get("deceasedBoolean") is True,
    }
    return profile, problems
