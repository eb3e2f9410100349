"""Opaque conversation ids for staff: ``conversation_ref(sender_id)`` instead of Rasa's sender id.

A web chat session id is a conversation's address in Rasa (its tracker, its socket.io room), so staff and
marketing never see it: every staff-facing view (timeline, customer 360, hand-offs, erasure records, the
export, audit actors) names a conversation by ``c-`` + 20 hex digits of HMAC-SHA256(sender id), keyed with a
key derived from ``JWT_SECRET``. The same sender id always gives the same reference (staff can match a
hand-off to timeline items), and the sender id cannot be computed back from it without the secret.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from profiles.settings import get_settings

PREFIX = "c-"
HEX_DIGITS = 20  # 80 bits: no collision among any realistic number of conversations
_KEY_LABEL = b"nova conversation reference v1"


def _key() -> bytes:
    return hmac.new(get_settings().jwt_secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def conversation_ref(sender_id: str) -> str:
    """The opaque, stable reference of conversation ``sender_id`` (e.g. ``"c-3f9a0c1b2d4e5f607182"``).

    Deterministic for a given server secret; a different ``JWT_SECRET`` gives different references."""
    digest = hmac.new(_key(), sender_id.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:HEX_DIGITS]


def optional_ref(sender_id: str | None) -> str | None:
    """``conversation_ref`` of ``sender_id``, or None when there is none."""
    return None if sender_id is None else conversation_ref(sender_id)


def hide_sender_ids(data: Any) -> Any:
    """A copy of JSON-like ``data`` (dicts, lists, scalars) with every ``"sender_id"`` value replaced by its
    ``conversation_ref``, and every other string that contains one of those sender ids (an audit actor
    ``"... conversation <sender id>)"``) with the id replaced by its reference too. For staff-facing dumps such
    as the data-subject export."""
    senders: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "sender_id" and isinstance(value, str) and value:
                    senders.add(value)
                collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(data)
    refs = {s: conversation_ref(s) for s in sorted(senders, key=len, reverse=True)}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: refs.get(v, v) if k == "sender_id" and isinstance(v, str) else rewrite(v)
                    for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        if isinstance(node, str) and refs:
            for sender, ref in refs.items():
                if sender in node:
                    node = node.replace(sender, ref)
        return node

    return rewrite(data)
