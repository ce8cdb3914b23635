"""Template validation at save (allow-listed AST) and merge-field fallbacks (case B19)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from campaigns.templating import (
    MissingMergeField,
    TemplateRefused,
    render_part,
    validate_template,
)

B19 = json.loads((Path(__file__).parent / "B19-merge-field-profiles.json").read_text())


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("{{ ssn }}", "unknown merge field 'ssn'"),
        ("{{ patient.ssn }}", "'Getattr' is not allowed"),
        ("{{ first_name.__class__ }}", "'Getattr' is not allowed"),
        ("{{ first_name | safe }}", "filter 'safe' is not allowed"),
        ("{{ first_name | default(last_name) }}", "arguments must be constants"),
        ("{% for x in first_name %}{{ x }}{% endfor %}", "'For' is not allowed"),
        ("{{ range(10) }}", "'Call' is not allowed"),
        ("{% set x = 1 %}", "'Assign' is not allowed"),
        ("{% include 'x' %}", "'Include' is not allowed"),
        ("{{ first_name", "syntax error"),
    ],
)
def test_refused_constructs_are_named(source, named):
    with pytest.raises(TemplateRefused, match=named):
        validate_template("Hello", source, "text")


def test_clinical_field_refused_in_subject_but_allowed_in_body():
    with pytest.raises(TemplateRefused, match="clinical merge field 'screening_type'"):
        validate_template("Your {{ screening_type }} is due", "<p>x</p>", "x")
    assert validate_template("Reminder", "<p>{{ screening_type }}</p>", "x") == {"screening_type"}


@pytest.mark.parametrize("subject", ["Hi\r\nBcc: x@example.net", "Hi\nthere", "Hi\x00"])
def test_line_breaks_in_subject_are_refused(subject):
    with pytest.raises(TemplateRefused, match="line breaks"):
        validate_template(subject, "<p>x</p>", "x")


def test_if_blocks_make_optional_content():
    source = "{% if preferred_name %}Dear {{ preferred_name }}{% else %}Hello{% endif %}"
    assert validate_template("s", source, "t") == frozenset()
    assert render_part(source, {"preferred_name": ""}) == "Hello"
    assert render_part(source, {"preferred_name": "Jo"}) == "Dear Jo"


def _values(profile: dict) -> dict:
    return {k: ("" if profile.get(k) is None else profile[k])
            for k in ("first_name", "screening_type")}


@pytest.mark.parametrize("profile", B19["profiles"], ids=lambda p: p["id"])
def test_b19_fallbacks_apply_to_missing_empty_and_null(profile):
    expected = B19["expected"][profile["id"]]
    values = _values(profile)
    subject = render_part(B19["templates"]["subject"], values)
    if expected["status"] == "skipped":
        with pytest.raises(MissingMergeField) as caught:
            render_part(B19["templates"]["body_text"], values)
        assert str(caught.value) == expected["reason"]
        return
    body = render_part(B19["templates"]["body_text"], values)
    assert subject == expected["subject"]
    assert body.splitlines()[0] == expected["first_line"]
    for bad in B19["expected"]["never_sent_text"]:
        assert bad not in body


def test_field_without_fallback_is_required():
    with pytest.raises(MissingMergeField, match="first_name"):
        render_part(B19["templates"]["same_template_without_fallback"], {"first_name": ""})


def test_html_is_escaped_and_text_is_not():
    value = {"first_name": "<b>Ana & \"Bo\"</b>"}
    assert render_part("{{ first_name }}", value, html=True) == (
        "&lt;b&gt;Ana &amp; &#34;Bo&#34;&lt;/b&gt;"
    )
    assert render_part("{{ first_name }}", value) == "<b>Ana & \"Bo\"</b>"
