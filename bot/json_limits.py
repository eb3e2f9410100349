"""Limits on the shape of client JSON, shared by the REST and socket.io channels.

Rasa copies a message's metadata into the tracker and serialises it again and again (event broker, tracker
store, action server call): a value nested thousands of levels deep makes each of those raise
``RecursionError``, which Rasa answers with a 500. The channels refuse it up front with :func:`too_deep`.
Runs inside the Rasa process: standard library only.
"""

from __future__ import annotations

from typing import Any

#: The deepest nesting of objects/arrays accepted in a message's metadata (ours never goes beyond 3).
MAX_JSON_DEPTH = 20


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``value`` (a parsed JSON value) nests dicts/lists more than ``limit`` levels deep.

    A scalar has depth 0, ``{}`` and ``[]`` depth 1, ``{"a": [1]}`` depth 2. Iterative (no recursion), so
    it answers for any depth ``json.loads`` could produce; it stops at the first branch over the limit.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth + 1 > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def too_deep(value: Any, what: str = "\"metadata\"", limit: int = MAX_JSON_DEPTH) -> str | None:
    """An error message when ``value`` nests deeper than ``limit`` levels, else None."""
    if json_depth_exceeds(value, limit):
        return f"{what} is nested too deeply (at most {limit} levels of objects and arrays)"
    return None
