"""Marketer-written email templates: a Jinja immutable sandbox, checked when saved.

A template may only print allow-listed merge fields, pass them through allow-listed
filters with constant arguments, and use `if` blocks for optional content. Anything else
is refused at save with a message naming it. Every merge field has a sensitivity class:
clinical ones may appear in a body, never in a subject or preheader.

A field printed without a `default(...)` fallback (and outside an `if` on that field) is
required: a recipient without it is skipped with the reason, the rest of the batch goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from core.errors import SendwellError


class Sensitivity(StrEnum):
    SYSTEM = "system"  # links and organisation data we generate
    IDENTITY = "identity"  # names: fine in a greeting or subject line
    CLINICAL = "clinical"  # treatment details: body of a care reminder only


MERGE_FIELDS: dict[str, Sensitivity] = {
    "first_name": Sensitivity.IDENTITY,
    "last_name": Sensitivity.IDENTITY,
    "preferred_name": Sensitivity.IDENTITY,
    "org_name": Sensitivity.SYSTEM,
    "unsubscribe_url": Sensitivity.SYSTEM,
    "screening_type": Sensitivity.CLINICAL,
}
FILTERS = frozenset({"default", "title", "upper", "lower"})
HEADER_FORBIDDEN = ("\r", "\n", "\x00")
ALLOWED_NODES = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Filter,
    nodes.Const, nodes.If, nodes.Not, nodes.And, nodes.Or,
)

_html_env = ImmutableSandboxedEnvironment(autoescape=True, keep_trailing_newline=True)
_text_env = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


class TemplateRefused(SendwellError):
    """A template that uses something outside the allow-list."""


class MissingMergeField(SendwellError):
    """A recipient lacks a field the template prints without a fallback."""


@dataclass(frozen=True)
class CheckedPart:
    """What validation learned about one part: every field it reads, and the required ones."""

    fields: frozenset[str]
    required: frozenset[str]


def check_part(source: str, part: str) -> CheckedPart:
    """Parse and walk one template part; raise `TemplateRefused` naming what is not allowed."""
    try:
        tree = _text_env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateRefused(f"{part}: template syntax error on line {exc.lineno}") from exc
    fields: set[str] = set()
    required: set[str] = set()
    _walk(tree, part, fields, required, guarded=frozenset())
    return CheckedPart(frozenset(fields), frozenset(required))


def _walk(node: nodes.Node, part: str, fields: set, required: set, guarded: frozenset) -> None:
    _check_node(node, part)
    if isinstance(node, nodes.Name):
        fields.add(node.name)
        if node.name not in guarded:
            required.add(node.name)
        return
    if isinstance(node, nodes.Filter) and node.name == "default":
        _walk_fallback(node, part, fields, required, guarded)
        return
    if isinstance(node, nodes.If):
        _walk_if(node, part, fields, required, guarded)
        return
    for child in node.iter_child_nodes():
        _walk(child, part, fields, required, guarded)


def _walk_fallback(node: nodes.Filter, part, fields, required, guarded) -> None:
    """`x | default(...)`: x is optional here; the fallback must be a constant."""
    _walk(node.node, part, fields, required, guarded | _names(node.node))
    for arg in node.args:
        _walk(arg, part, fields, required, guarded)


def _walk_if(node: nodes.If, part, fields, required, guarded) -> None:
    tested = _names(node.test)
    _walk(node.test, part, fields, required, guarded | tested)
    for child in node.body:
        _walk(child, part, fields, required, guarded | tested)
    for child in [*node.elif_, *node.else_]:
        _walk(child, part, fields, required, guarded)


def _names(node: nodes.Node) -> frozenset[str]:
    found = {n.name for n in node.find_all(nodes.Name)}
    if isinstance(node, nodes.Name):
        found.add(node.name)
    return frozenset(found)


def _check_node(node: nodes.Node, part: str) -> None:
    if not isinstance(node, ALLOWED_NODES):
        raise TemplateRefused(f"{part}: '{type(node).__name__}' is not allowed in templates")
    if isinstance(node, nodes.Name) and node.name not in MERGE_FIELDS:
        raise TemplateRefused(f"{part}: unknown merge field '{node.name}'")
    if isinstance(node, nodes.Filter):
        if node.name not in FILTERS:
            raise TemplateRefused(f"{part}: filter '{node.name}' is not allowed")
        if node.kwargs or node.dyn_args or node.dyn_kwargs:
            raise TemplateRefused(f"{part}: filter '{node.name}' takes plain arguments only")
        if any(not isinstance(arg, nodes.Const) for arg in node.args):
            raise TemplateRefused(f"{part}: filter '{node.name}' arguments must be constants")


def check_header_part(source: str, part: str) -> CheckedPart:
    """A subject or preheader: no line breaks or NUL, no clinical merge fields."""
    if any(ch in source for ch in HEADER_FORBIDDEN):
        raise TemplateRefused(f"{part}: line breaks and NUL are not allowed")
    checked = check_part(source, part)
    clinical = sorted(f for f in checked.fields if MERGE_FIELDS[f] is Sensitivity.CLINICAL)
    if clinical:
        raise TemplateRefused(f"{part}: clinical merge field '{clinical[0]}' is not allowed here")
    return checked


def validate_template(subject: str, html: str, text: str, preheader: str = "") -> frozenset:
    """Check every part of a template; returns the fields it requires."""
    parts = [
        check_header_part(subject, "subject"),
        check_header_part(preheader, "preheader"),
        check_part(html, "html"),
        check_part(text, "text"),
    ]
    return frozenset().union(*(p.required for p in parts))


@lru_cache(maxsize=256)
def compiled(source: str, html: bool):
    """A compiled template, cached by source: each step compiles once per process."""
    return (_html_env if html else _text_env).from_string(source)


@lru_cache(maxsize=256)
def required_fields(source: str) -> frozenset[str]:
    return check_part(source, "template").required


def render_part(source: str, values: dict, html: bool = False) -> str:
    """Render one part; raises `MissingMergeField` when a required field is empty."""
    for name in sorted(required_fields(source)):
        if values.get(name) in (None, ""):
            raise MissingMergeField(f"missing merge field: {name} (no fallback)")
    return compiled(source, html).render(values)
