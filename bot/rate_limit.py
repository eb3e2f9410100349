"""Chat message rate limit at the channel door, per conversation (REST sender / web chat session).

Every message counts here, also those Rasa answers without our action server (greetings, FAQ rules), which
the action server's limits (actions/ratelimit.py, per conversation and per verified customer, ``limits``
library) never see. ``limits`` cannot be installed beside Rasa 3.6 (it needs packaging >= 21, Rasa pins 20.9),
so this is a small sliding-window counter in this process: one Rasa process, one count (several replicas each
allow the limit; the action server's Redis-backed limit is the shared one).

The limit is ``CHAT_RATE_LIMIT`` in the ``limits`` notation both limiters read ("30/minute", "3/10 minutes";
default 30/minute). Runs inside the Rasa process: standard library only.
"""

from __future__ import annotations

import os
import re
import time
from collections import OrderedDict, deque

#: What the customer is told when over the limit (the action server's wording: actions/ratelimit.py).
SLOW_DOWN = "You're sending messages faster than I can keep up with. Please wait a minute, then try again."
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT = re.compile(r"\s*(\d+)\s*/\s*(\d+)?\s*(second|minute|hour|day)s?\s*")
MAX_KEYS = 100_000  # conversations tracked at once; the least recently seen are forgotten first


def parse_limit(text: str) -> tuple[int, float]:
    """``"30/minute"`` -> ``(30, 60.0)``: (messages, window in seconds). Raises ValueError on other text."""
    match = _LIMIT.fullmatch(text or "")
    if not match:
        raise ValueError(f"not a rate limit like '30/minute' or '3/10 minutes': {text!r}")
    return int(match.group(1)), float(int(match.group(2) or 1) * _UNITS[match.group(3)])


class SlidingWindow:
    """At most ``limit`` hits per key in any ``window_s`` seconds (monotonic clock)."""

    def __init__(self, limit: int, window_s: float, max_keys: int = MAX_KEYS) -> None:
        self.limit, self.window_s, self.max_keys = limit, window_s, max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def hit(self, key: str, now: float | None = None) -> bool:
        """Count one message for ``key``; False when it is over the limit (an over-limit one is not counted)."""
        now = time.monotonic() if now is None else now
        hits = self._hits.pop(key, None) or deque()
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        allowed = len(hits) < self.limit
        if allowed:
            hits.append(now)
        self._hits[key] = hits
        while len(self._hits) > self.max_keys:
            self._hits.popitem(last=False)
        return allowed


def from_environment() -> SlidingWindow:
    """The limiter configured by ``CHAT_RATE_LIMIT`` (default 30/minute)."""
    return SlidingWindow(*parse_limit(os.environ.get("CHAT_RATE_LIMIT", "").strip() or "30/minute"))
