import pytest

from core.redact import redact


@pytest.mark.parametrize("line,expected", [
    ("GET /auth/enroll/h8NDN7OKTnb-1_Hr HTTP/1.1", "GET /auth/enroll/<token> HTTP/1.1"),
    ("GET /t/o/kB3oUkPYoRA1.gif HTTP/1.1", "GET /t/o/<token> HTTP/1.1"),
    ("GET /t/c/4GBvGnL5?x=1 HTTP/1.1", "GET /t/c/<token>?x=1 HTTP/1.1"),
    ("POST /u/abc123 HTTP/1.1", "POST /u/<token> HTTP/1.1"),
    ("GET /segments/ HTTP/1.1", "GET /segments/ HTTP/1.1"),
    ("to Alice.Example@Example.org failed", "to <email> failed"),
    ("GET /\x1b[31mred\n HTTP/1.1", "GET /?[31mred? HTTP/1.1"),
])
def test_redact_hides_tokens_emails_and_control_characters(line, expected):
    assert redact(line) == expected
