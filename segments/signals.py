"""Signals segments send, for higher packages (campaigns) to subscribe to.

`membership_changed(segment, entered=[ids], exited=[ids], at=instant)` is sent after
`refresh_membership` has written the changes (in the caller's transaction).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()
membership_changed = _signals.signal("segment-membership-changed")
