"""Rate limits on every authentication endpoint: per client IP and per account.

Process-local token buckets (capacity AUTH_RATE_LIMIT_PER_MINUTE, refilled at that rate per
minute), one bucket per (endpoint, IP) and per (endpoint, account). Process-local means
each worker process counts on its own: with N workers an address gets at most N times the
limit, and a restart forgets the counts. That bounds brute force and hammering at no
database cost; a shared limit across machines belongs in the reverse proxy. Behind a proxy,
`request.remote_addr` must be the client's (configure werkzeug's ProxyFix there).

The account is what the request names: the enrolment token, the recovery email, the
passkey credential id of an assertion, or the signed-in user. Only hashes are kept.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from flask import Flask, current_app, jsonify, render_template, request
from flask_login import current_user

from auth.permissions import wants_json
from auth.sessions import load_staff_session

DEFAULT_PER_MINUTE = 10
MESSAGE = "Too many attempts. Please wait a minute and try again."
MAX_BUCKETS = 100_000  # beyond this, full (idle) buckets are dropped


class TokenBuckets:
    """Thread-safe token buckets keyed by strings; `clock` is injectable for tests."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        """Spend one token from `key`'s bucket; False when it is empty."""
        with self._lock:
            now = self.clock()
            tokens, stamp = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - stamp) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._buckets) > MAX_BUCKETS:
                self._sweep(now)
            return allowed

    def _sweep(self, now: float) -> None:
        full = [k for k, (t, s) in self._buckets.items()
                if t + (now - s) * self.rate >= self.capacity]
        for key in full:
            del self._buckets[key]


def buckets(app: Flask | None = None) -> TokenBuckets:
    return (app or current_app).extensions["sendwell.auth_rate_limit"]


def limit_auth_requests():
    """Before every `auth.*` request: refuse with 429 once the IP or account bucket is empty."""
    endpoint = request.endpoint or ""
    if not endpoint.startswith("auth."):
        return None
    keys = [f"{endpoint}|ip|{request.remote_addr or '-'}"]
    account = _account_of_request()
    if account:
        keys.append(f"{endpoint}|account|{_digest(account)}")
    store = buckets()
    if all([store.take(key) for key in keys]):  # list: spend on every bucket, not just the first
        return None
    current_app.logger.warning("auth rate limit reached on %s", endpoint)
    return _too_many()


def _account_of_request() -> str | None:
    if request.view_args and request.view_args.get("token"):
        return "link:" + request.view_args["token"]
    if request.endpoint == "auth.recover_submit":
        return "email:" + request.form.get("email", "").strip().lower()
    if request.endpoint == "auth.login_verify":
        body = request.get_json(silent=True)
        raw = body.get("rawId") if isinstance(body, dict) else None
        return f"credential:{raw}" if isinstance(raw, str) else None
    if current_user.is_authenticated:
        return "user:" + current_user.id
    return None


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _too_many():
    if wants_json() or request.is_json:
        response = jsonify(error=MESSAGE)
    else:
        response = render_template(
            "errors/error.html", code=429, title="Too many requests",
            detail="please wait a minute and try again"
        )
    return response, 429, {"Retry-After": "60"}


def init_app(app: Flask) -> None:
    per_minute = int(app.config.setdefault("AUTH_RATE_LIMIT_PER_MINUTE", DEFAULT_PER_MINUTE))
    app.config["AUTH_RATE_LIMIT_PER_MINUTE"] = per_minute
    app.extensions["sendwell.auth_rate_limit"] = TokenBuckets(per_minute)
    # Right after the session is resolved and before CSRF: refused attempts count too.
    hooks = app.before_request_funcs.setdefault(None, [])
    hooks.insert(hooks.index(load_staff_session) + 1, limit_auth_requests)
