"""FHIR R4 resources turned into the records the Synthea path produces.

Each clinical converter takes one resource and a problem list and returns a record with
the Synthea keys (`start`, `stop`, `code`, `description`, plus `class`, `reason_code`,
`status`… where the kind has them), or None for a resource that must not count
(entered in error, refuted, not done, cancelled). Dates are kept as written (ISO 8601
dates or instants); a date that is present but not a full `YYYY-MM-DD…` value is reported
with its element name and left empty. Codes: SNOMED CT (or ICD-10) for conditions,
RxNorm for medications, CVX for vaccines; the first coding of another system otherwise.
A medication request that is stopped or completed has no end date in FHIR, so
its `stop` is its validity period's end, else its `authoredOn` (no longer running).
References to conditions (`reasonReference`, `addresses`) are kept in `_reason_ref` and
resolved to the condition's code once the whole export has been read.
"""

from __future__ import annotations

import re
from datetime import date

SNOMED = "http://snomed.info/sct"
ICD10 = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10")
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
LOINC = "http://loinc.org"
SMOKING_STATUS_LOINC = "72166-2"
URGENT_CARE = "702927004"
ENCOUNTER_CLASSES = {
    "AMB": "ambulatory", "EMER": "emergency", "IMP": "inpatient", "ACUTE": "inpatient",
    "NONAC": "inpatient", "SS": "outpatient", "OBSENC": "outpatient", "HH": "home",
    "VR": "virtual", "PRENC": "ambulatory", "FLD": "ambulatory",
}
SMOKING_CODES = {
    "449868002": "current", "428041000124106": "current", "77176002": "current",
    "65568007": "current", "428071000124103": "current", "428061000124105": "current",
    "8517006": "former", "266919005": "never", "266927001": "unknown",
}
STOPPED = {"stopped", "completed"}
VOID = {"entered-in-error", "refuted", "not-done", "cancelled", "draft"}
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")
_REFERENCE = re.compile(r"(?:^|/)[A-Za-z]+/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$")


def codings(concept) -> list[dict]:
    return [c for c in (concept or {}).get("coding") or [] if isinstance(c, dict)]


def pick_code(concept, systems: tuple[str, ...] = ()) -> tuple[str, str]:
    """(code, display) preferring the given systems in order; ("", "") when none."""
    found = codings(concept)
    ranked = [c for s in systems for c in found if c.get("system") == s and c.get("code")]
    best = (ranked or [c for c in found if c.get("code")] or [{}])[0]
    text = best.get("display") or (concept or {}).get("text") or ""
    return str(best.get("code") or ""), str(text)


def ref_id(reference) -> str | None:
    """The id in `{"reference": "Patient/abc"}` (or `urn:uuid:abc`, or a full URL)."""
    text = str((reference or {}).get("reference") or "") if isinstance(reference, dict) else ""
    if text.startswith("urn:uuid:"):
        return text[9:] or None
    match = _REFERENCE.search(text)
    return match.group(1) if match else None


def fhir_date(value, element: str, problems: list) -> str:
    """`value` when it is a full ISO date or instant; else "" (reported unless absent)."""
    if value in (None, ""):
        return ""
    match = _DATE.match(value) if isinstance(value, str) else None
    try:
        if match and date.fromisoformat(match.group(1)):
            return value
    except ValueError:
        pass
    problems.append((element, "not a full date (YYYY-MM-DD)"))
    return ""


def status_code(resource: dict, element: str) -> str:
    value = resource.get(element)
    if isinstance(value, dict):
        return pick_code(value)[0]
    return str(value or "")


def _void(resource: dict) -> bool:
    return any(status_code(resource, e) in VOID
               for e in ("status", "verificationStatus"))


def _first(items) -> dict:
    return items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}


def _reason(resource: dict, record: dict, refs: str = "reasonReference") -> dict:
    code = pick_code(_first(resource.get("reasonCode")), (SNOMED, *ICD10))[0]
    record["reason_code"] = code
    if not code and (ref := ref_id(_first(resource.get(refs)))):
        record["_reason_ref"] = ref
    return record


def condition(res: dict, problems: list) -> dict | None:
    if _void(res):
        return None
    code, text = pick_code(res.get("code"), (SNOMED, *ICD10))
    onset = res.get("onsetDateTime") or (res.get("onsetPeriod") or {}).get("start")
    abated = res.get("abatementDateTime") or (res.get("abatementPeriod") or {}).get("end")
    return {"start": fhir_date(onset or res.get("recordedDate"), "onsetDateTime", problems),
            "stop": fhir_date(abated, "abatementDateTime", problems),
            "code": code, "description": text}


def _encounter_class(res: dict, type_code: str) -> str:
    raw = res.get("class") or {}
    code = str(raw.get("code") or "") if isinstance(raw, dict) else ""
    if code == "AMB" and type_code == URGENT_CARE:
        return "urgentcare"
    return ENCOUNTER_CLASSES.get(code.upper(), code.lower())


def encounter(res: dict, problems: list) -> dict | None:
    if _void(res):
        return None
    code, text = pick_code(_first(res.get("type")), (SNOMED,))
    period = res.get("period") or {}
    record = {"start": fhir_date(period.get("start"), "period.start", problems),
              "stop": fhir_date(period.get("end"), "period.end", problems),
              "class": _encounter_class(res, code), "code": code, "description": text}
    return _reason(res, record)


def medication_request(res: dict, problems: list) -> dict | None:
    status = status_code(res, "status")
    if _void(res):
        return None
    code, text = pick_code(res.get("medicationCodeableConcept"), (RXNORM,))
    start = fhir_date(res.get("authoredOn"), "authoredOn", problems)
    validity = ((res.get("dispenseRequest") or {}).get("validityPeriod") or {}).get("end")
    stop = fhir_date(validity, "dispenseRequest.validityPeriod.end", problems)
    record = {"start": start, "stop": stop or (start if status in STOPPED else ""),
              "code": code, "description": text, "status": status}
    return _reason(res, record)


def immunization(res: dict, problems: list) -> dict | None:
    if _void(res):
        return None
    code, text = pick_code(res.get("vaccineCode"), (CVX,))
    return {"start": fhir_date(res.get("occurrenceDateTime"), "occurrenceDateTime", problems),
            "code": code, "description": text}


def allergy(res: dict, problems: list) -> dict | None:
    if _void(res):
        return None
    code, text = pick_code(res.get("code"), (SNOMED, RXNORM))
    onset = res.get("onsetDateTime") or res.get("recordedDate")
    category = res.get("category") or [""]
    return {"start": fhir_date(onset, "onsetDateTime", problems), "stop": "",
            "code": code, "description": text, "type": str(res.get("type") or ""),
            "category": str(category[0]), "status": status_code(res, "clinicalStatus")}


def care_plan(res: dict, problems: list) -> dict | None:
    if _void(res):
        return None
    categories = res.get("category") or []
    coded = [pick_code(c, (SNOMED,)) for c in categories
             if isinstance(c, dict) and any(x.get("system") == SNOMED for x in codings(c))]
    code, text = (coded or [pick_code(_first(categories))])[0]
    period = res.get("period") or {}
    record = {"start": fhir_date(period.get("start"), "period.start", problems),
              "stop": fhir_date(period.get("end"), "period.end", problems),
              "code": code, "description": text, "status": status_code(res, "status")}
    return _reason(res, record, refs="addresses")


def procedure(res: dict, problems: list) -> dict | None:
    if _void(res):
        return None
    code, text = pick_code(res.get("code"), (SNOMED,))
    period = res.get("performedPeriod") or {}
    start = res.get("performedDateTime") or period.get("start")
    record = {"start": fhir_date(start, "performedDateTime", problems),
              "stop": fhir_date(period.get("end"), "performedPeriod.end", problems),
              "code": code, "description": text}
    return _reason(res, record)


def smoking_status(res: dict, problems: list) -> dict | None:
    """A smoking-status observation as {"start", "status"} (None for other observations)."""
    if _void(res) or pick_code(res.get("code"), (LOINC,))[0] != SMOKING_STATUS_LOINC:
        return None
    code, text = pick_code(res.get("valueCodeableConcept"), (SNOMED,))
    when = res.get("effectiveDateTime") or res.get("issued")
    return {"start": fhir_date(when, "effectiveDateTime", problems),
            "status": SMOKING_CODES.get(code) or _smoking_from_text(text)}


def _smoking_from_text(text: str) -> str:
    words = text.lower()
    if "never" in words:
        return "never"
    if "ex-" in words or "former" in words:
        return "former"
    return "current" if "smok" in words else "unknown"


# resourceType -> (clinical kind, converter); Observation yields the smoking trait
CLINICAL = {
    "Condition": ("conditions", condition),
    "Encounter": ("encounters", encounter),
    "MedicationRequest": ("medications", medication_request),
    "Immunization": ("immunizations", immunization),
    "AllergyIntolerance": ("allergies", allergy),
    "CarePlan": ("careplans", care_plan),
    "Procedure": ("procedures", procedure),
    "Observation": ("smoking", smoking_status),
}
