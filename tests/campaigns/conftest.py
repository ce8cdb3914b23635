"""Campaign test fixtures."""

import pytest

from core.crypto import key_ring


@pytest.fixture(autouse=True)
def _warm_key_ring(request):
    """Load the key ring before a test writes: its first load commits keys on a separate
    connection, which SQLite would make wait on the test session's open write."""
    if "session" in request.fixturenames:
        request.getfixturevalue("session")
        key_ring()
