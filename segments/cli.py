"""`flask segments count|create|members|explain`: one JSON object on stdout, audited.

Exit 0 on success, 1 on a failure the command reports (`{"error": ...}`: a bad rule, an
unknown segment), 2 on wrong usage. Output carries counts and internal ids, never PHI.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from core import audit
from core.db import new_session
from core.errors import SendwellError
from segments import service
from segments.describe import describe_rule
from segments.rules import RuleError, validate_rule

segments_cli = AppGroup("segments", help="Segments: live counts, saved segments, members.")
ACTOR = "cli"
RULE_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
AS_OF = click.DateTime(formats=["%Y-%m-%d"])


def load_rule_file(path: Path) -> dict:
    """A rule from a JSON file: the rule itself, or an object with a `rule` key."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise RuleError(f"rule file is not valid JSON (line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise RuleError("rule file is not UTF-8 text") from None
    if isinstance(data, dict) and isinstance(data.get("rule"), dict):
        return data["rule"]
    return data


def _emit(payload: dict) -> None:
    click.echo(json.dumps(payload))


@contextmanager
def _unit_of_work() -> Iterator[Session]:
    """A session committed on success; a reported failure prints `{"error"}` and exits 1."""
    with new_session() as session:
        try:
            yield session
            session.commit()
        except SendwellError as exc:
            session.rollback()
            _emit({"error": str(exc)})
            raise SystemExit(1) from None


def _day(as_of):
    return as_of.date() if as_of else None


@segments_cli.command("count")
@click.option("--rule", "rule_file", type=RULE_FILE, required=True, help="JSON rule file.")
@click.option("--as-of", type=AS_OF, help="Evaluate at the end of this day (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="Only the JSON object (the default).")
def count_command(rule_file: Path, as_of, as_json: bool) -> None:
    """Count the patients a rule matches: {"count": N, "reachable": N}."""
    with _unit_of_work() as session:
        counts = service.count_rule(session, load_rule_file(rule_file), _day(as_of))
        audit.record(session, ACTOR, "segments.count", "adhoc", **counts)
    _emit(counts)
    if not as_json:
        click.echo(f"{counts['count']} patients match, {counts['reachable']} reachable", err=True)


@segments_cli.command("create")
@click.argument("name")
@click.option("--rule", "rule_file", type=RULE_FILE, required=True, help="JSON rule file.")
@click.option("--description", default=None, help="Defaults to the file's description.")
@click.option("--json", "as_json", is_flag=True)
def create_command(name: str, rule_file: Path, description: str | None, as_json: bool) -> None:
    """Create (or update) the segment NAME from a rule file."""
    with _unit_of_work() as session:
        rule = load_rule_file(rule_file)
        segment = service.create_segment(
            session, name, rule, description or _file_description(rule_file)
        )
        audit.record(session, ACTOR, "segments.create", segment.id)
        payload = {"id": segment.id, "name": segment.name, "rule": segment.rule}
    if as_json:
        _emit(payload)
    else:
        click.echo(f"segment {payload['name']} saved")


def _file_description(path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    return str(data.get("description", "")) if isinstance(data, dict) else ""


@segments_cli.command("members")
@click.argument("name")
@click.option("--as-of", type=AS_OF, help="Evaluate at the end of this day (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True)
def members_command(name: str, as_of, as_json: bool) -> None:
    """Refresh and list the members of NAME (internal patient ids only)."""
    with _unit_of_work() as session:
        segment = service.get_segment(session, name)
        entered, exited = service.refresh_membership(session, segment, _day(as_of))
        ids = service.member_ids(session, segment)
        audit.record(session, ACTOR, "segments.members", segment.id, members=len(ids),
                     entered=len(entered), exited=len(exited))
    if as_json:
        _emit({"members": ids})
    else:
        click.echo("\n".join(ids) if ids else "no members", err=not ids)


@segments_cli.command("explain")
@click.option("--rule", "rule_file", type=RULE_FILE, required=True, help="JSON rule file.")
@click.option("--json", "as_json", is_flag=True)
def explain_command(rule_file: Path, as_json: bool) -> None:
    """Validate a rule and say in English what it selects."""
    try:
        rule = validate_rule(load_rule_file(rule_file))
    except RuleError as exc:
        _emit({"error": str(exc)})
        raise SystemExit(1) from None
    summary = describe_rule(rule)
    if as_json:
        _emit({"rule": rule, "summary": summary})
    else:
        click.echo(summary)
