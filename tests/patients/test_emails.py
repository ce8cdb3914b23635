import pytest

from patients.emails import normalize_email


@pytest.mark.parametrize(("raw", "expected"), [
    ("  ALICE.GLEASON0@EXAMPLE.ORG ", "alice.gleason0@example.org"),
    ("omar.haddad@example.org\u00a0", "omar.haddad@example.org"),
    ("\tlena@example.com", "lena@example.com"),
    ("\ufeffana@example.com", "ana@example.com"),
    ("darryl.klein8 at example.org", None),
    ("maría eugenia.arreola57@example.org", None),
    ("a@b", None),
    ("", None),
    (None, None),
])
def test_normalize_email(raw, expected):
    assert normalize_email(raw) == expected
