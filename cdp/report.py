"""The import report (INTERFACES.md) and the error that fails a whole import.

Besides the INTERFACES keys the report carries `ignored_columns`: the source columns (or
FHIR elements) that were dropped at read time because Sendwell never stores them.
"""

from __future__ import annotations

from core.errors import SendwellError

COUNTS = ("patients_seen", "inserted", "updated", "unchanged", "merged", "rejected", "events")


class ImportFailed(SendwellError):
    """A source that cannot be read at all; the message names the file, never a value."""

    def __init__(self, file: str, message: str, row: int = 0, field: str = ""):
        super().__init__(f"{file}: {message}")
        self.file, self.row, self.detail, self.field = file, row, message, field


class Report:
    """Counts and row errors collected while reading and applying one import session."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(COUNTS, 0)
        self.errors: list[dict] = []
        self.ignored: dict[str, None] = {}

    def error(self, file: str, row: int, field: str, message: str) -> None:
        self.errors.append({"file": file, "row": row, "field": field, "message": message})

    def reject(self, file: str, row: int, field: str, message: str) -> None:
        self.counts["rejected"] += 1
        self.error(file, row, field, message)

    def ignore(self, columns) -> None:
        """Remember columns dropped at read time (first-seen order, no repeats)."""
        self.ignored.update(dict.fromkeys(columns))

    def as_dict(self, status: str) -> dict:
        return {"status": status, **self.counts, "errors": self.errors,
                "ignored_columns": list(self.ignored)}


def failed_report(exc: ImportFailed) -> dict:
    report = Report()
    report.error(exc.file, exc.row, exc.field, exc.detail)
    return report.as_dict("failed")
