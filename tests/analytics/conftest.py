"""Fixtures for analytics tests."""

import pytest


@pytest.fixture
def no_cookie_client(app):
    """A client that never sends cookies, like a mail provider's one-click POST."""
    return app.test_client(use_cookies=False)
