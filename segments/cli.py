"""`flask segments count|create|members|refresh|explain|describe`, audited.

With `--json` each command prints exactly one JSON object on stdout; warnings and notes go
to stderr. Exit 0 on success, 1 on a failure the command reports (`{"error": ...}`: a bad
rule, an unknown segment or patient, an existing name), 2 on wrong usage. Output carries
counts, internal ids and rule text, never PHI.

`members` only reads: stored membership (as of the last refresh), or with `--as-of` who
would be a member on that day, without storing it. `refresh` recomputes and stores.
`create` refuses an existing name unless `--replace` is given.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from core import audit
from core.clock import isoz
from core.db import new_session
from core.errors import NotFound, SendwellError
from patients.service import find_by_cdp_id
from segments import service
from segments.describe import describe_rule
from segments.explain import explain_patient
from segments.rules import RuleError, validate_rule


class JsonUsageGroup(AppGroup):
    """A wrong usage of a command given `--json` still prints one JSON object (`{"error"}`)
    on stdout; the usage text goes to stderr and the exit status stays 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["segments.json"] = "--json" in args
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if ctx.meta.get("segments.json"):
                _emit({"error": exc.format_message()})
            raise


segments_cli = JsonUsageGroup("segments",
                              help="Segments: live counts, saved segments, members.")
ACTOR = "cli"
RULE_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
AS_OF = click.DateTime(formats=["%Y-%m-%d"])
log = logging.getLogger(__name__)


def read_rule_file(path: Path) -> tuple[dict, str]:
    """(rule, description) from a JSON file: the rule itself, or `{"rule", "description"}`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise RuleError(f"rule file is not valid JSON (line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise RuleError("rule file is not UTF-8 text") from None
    except RecursionError:
        raise RuleError("rule file is nested too deeply") from None
    except ValueError:  # e.g. an integer literal of thousands of digits
        raise RuleError("rule file is not valid JSON (a number is too long)") from None
    if isinstance(data, dict) and isinstance(data.get("rule"), dict):
        return data["rule"], str(data.get("description") or "")
    return data, ""


def load_rule_file(path: Path) -> dict:
    """The rule of a rule file (see `read_rule_file`)."""
    return read_rule_file(path)[0]


def _emit(payload: dict) -> None:
    click.echo(json.dumps(payload, allow_nan=False))


@contextmanager
def _reported() -> Iterator[None]:
    """A failure becomes one `{"error"}` object and exit 1 — also an unexpected one, whose
    traceback (frames only: the message could hold data) goes to the log."""
    try:
        yield
    except click.ClickException:
        raise
    except SendwellError as exc:
        _emit({"error": str(exc)})
        raise SystemExit(1) from None
    except Exception as exc:  # the one-JSON-object contract holds even for a bug
        frames = "".join(traceback.format_tb(exc.__traceback__))
        log.error("segments command failed with %s\n%s", type(exc).__name__, frames)
        _emit({"error": f"internal error ({type(exc).__name__}); details are in the log"})
        raise SystemExit(1) from None


@contextmanager
def _unit_of_work() -> Iterator[Session]:
    """A session committed on success and rolled back on any failure (then reported)."""
    with _reported(), new_session() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


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
@click.option("--replace", is_flag=True,
              help="Replace the rule of an existing segment of that name (warns on stderr).")
@click.option("--json", "as_json", is_flag=True)
def create_command(name: str, rule_file: Path, description: str | None, replace: bool,
                   as_json: bool) -> None:
    """Create the segment NAME from a rule file; an existing NAME needs --replace."""
    with _unit_of_work() as session:
        rule, file_description = read_rule_file(rule_file)
        existing = service.find_segment(session, name)
        if existing is not None and not replace:
            raise service.DuplicateName(
                f"a segment named {existing.name!r} already exists; pass --replace to "
                "replace its rule")
        segment = service.create_segment(session, name, rule,
                                         description or file_description, replace=replace)
        audit.record(session, ACTOR, "segments.replace" if existing else "segments.create",
                     segment.id)
        if existing is not None:
            _warn_replaced(segment, service.workflows_using(session, segment))
        payload = {"id": segment.id, "name": segment.name, "rule": segment.rule}
    if as_json:
        _emit(payload)
    else:
        click.echo(f"segment {payload['name']} saved")


def _warn_replaced(segment, workflows: list[str] | None) -> None:
    if workflows is None:
        used = "workflows that use it (if any) follow the new rule"
    elif workflows:
        used = f"active workflows using it follow the new rule: {', '.join(workflows)}"
    else:
        used = "no active workflow uses it"
    click.echo(f"warning: replaced the rule of segment {segment.name!r}; {used}; stored "
               "membership changes at the next refresh", err=True)


@segments_cli.command("members")
@click.argument("name")
@click.option("--as-of", type=AS_OF,
              help="Who would be a member at the end of this day (evaluated, not stored).")
@click.option("--json", "as_json", is_flag=True)
def members_command(name: str, as_of, as_json: bool) -> None:
    """List the members of NAME (internal patient ids only); changes nothing.

    Without --as-of: stored membership, as of the last `flask segments refresh`."""
    with _unit_of_work() as session:
        segment = service.get_segment(session, name)
        if as_of:
            ids = service.evaluate_members(session, segment, _day(as_of))
        else:
            ids = service.member_ids(session, segment)
        audit.record(session, ACTOR, "segments.members", segment.id, members=len(ids),
                     source="evaluated" if as_of else "stored")
        computed_at = segment.computed_at
    if not as_of:
        note = f"stored membership computed {isoz(computed_at)}" if computed_at else \
            "never refreshed: run `flask segments refresh NAME` to store membership"
        click.echo(note, err=True)
    if as_json:
        _emit({"members": ids})
    else:
        click.echo("\n".join(ids) if ids else "no members", err=not ids)


@segments_cli.command("refresh")
@click.argument("name", required=False)
@click.option("--as-of", type=AS_OF, help="Recompute at the end of this day (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True)
def refresh_command(name: str | None, as_of, as_json: bool) -> None:
    """Recompute and store the membership of NAME (default: every segment)."""
    with _unit_of_work() as session:
        if name:
            segments = [service.get_segment(session, name)]
        else:
            segments = service.list_segments(session)
        results = service.refresh_segments(session, segments, _day(as_of))
        for result in results:
            audit.record(session, ACTOR, "segments.refresh", result["id"],
                         **{k: result[k] for k in ("members", "entered", "exited")})
    if as_json:
        _emit({"segments": results})
    else:
        for r in results:
            click.echo(f"{r['name']}: {r['members']} members (+{r['entered']} −{r['exited']})")


@segments_cli.command("explain")
@click.argument("name", required=False)
@click.argument("cdp_id", required=False)
@click.option("--rule", "rule_file", type=RULE_FILE,
              help="Describe this rule file instead (same as `describe --rule`).")
@click.option("--as-of", type=AS_OF, help="Evaluate at the end of this day (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True)
def explain_command(name: str | None, cdp_id: str | None, rule_file: Path | None, as_of,
                    as_json: bool) -> None:
    """Why is the patient CDP_ID in (or not in) segment NAME: each leaf, its facts."""
    if rule_file is not None and name is None:
        _describe(rule_file, as_json)
        return
    if rule_file is not None or name is None or cdp_id is None:
        raise click.UsageError("give NAME and CDP_ID, or only --rule FILE")
    with _unit_of_work() as session:
        segment = service.get_segment(session, name)
        patient = find_by_cdp_id(session, cdp_id)
        if patient is None:
            raise NotFound("no patient with that CDP id")
        result = explain_patient(session, segment, patient.id, _day(as_of))
        audit.record(session, ACTOR, "segments.explain", patient.id, segment=segment.id,
                     result=result["result"])
    if as_json:
        _emit(result)
    else:
        click.echo(explanation_text(result))


def explanation_text(result: dict) -> str:
    """The explanation for a terminal: the verdict, then one line per leaf."""
    verdict = "IN" if result["result"] else "NOT IN"
    lines = [f"{verdict} segment {result['segment']} as of {result['as_of']}"]
    if result["excluded"]:
        lines.append(f"  excluded: {result['excluded']} (never a member)")
    for leaf in result["leaves"]:
        facts = ", ".join(f"{k}={json.dumps(v)}" for k, v in leaf["facts"].items())
        lines.append(f"  [{'yes' if leaf['result'] else 'no '}] {leaf['path']}: "
                     f"{leaf['leaf']}  ({facts})")
    return "\n".join(lines)


@segments_cli.command("describe")
@click.option("--rule", "rule_file", type=RULE_FILE, required=True, help="JSON rule file.")
@click.option("--json", "as_json", is_flag=True)
def describe_command(rule_file: Path, as_json: bool) -> None:
    """Validate a rule and say in English what it selects."""
    _describe(rule_file, as_json)


def _describe(rule_file: Path, as_json: bool) -> None:
    with _reported():
        rule = validate_rule(load_rule_file(rule_file))
        summary = describe_rule(rule)
    if as_json:
        _emit({"rule": rule, "summary": summary})
    else:
        click.echo(summary)
