"""Signals segments send, for higher packages (campaigns) to subscribe to.

`membership_changed(segment, entered=[ids], exited=[ids], at=instant)` is sent after
`refresh_membership` has written the changes (in the caller's transaction).

`segment_in_use(segment, session=session)` asks who depends on a segment when its rule is
replaced (`flask segments create NAME --replace`); each receiver returns the names of the
active workflows that use it (a list, possibly empty). Campaigns connect to it at
start-up; segments never import campaigns.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()
membership_changed = _signals.signal("segment-membership-changed")
segment_in_use = _signals.signal("segment-in-use")
