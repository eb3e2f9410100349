"""Rate limits on what customers can make the bank do, with the `limits` library (moving windows).

Storage: Redis when ``settings.redis_url`` is set (production: every action-server process shares the
counts), else in the process's memory (embedded mode: one action server). Keys are namespaced by a hash of
``settings.database_url``, so two deployments (or test sessions) sharing one Redis never share counters.

Each limit is a pair (per conversation = sender id, per verified customer): one customer opening many
conversations is held by the second. Limits come from the settings (``chat_rate_limit``,
``chat_customer_rate_limit``, ``handoff_rate_limit``, ``handoff_customer_rate_limit``) in `limits` notation,
e.g. ``"30/minute"`` or ``"3/10 minutes"``.

Campaign sends (``campaign_send_wait``) are limited per channel across every campaign worker
(``campaign_rate_telegram``, ``campaign_rate_facebook``, ``campaign_rate_web``): with Redis the workers share
one count; embedded (memory storage) the count is the worker process's, which is the one embedded worker.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Final, Literal

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from profiles.settings import get_settings

log = logging.getLogger(__name__)

Kind = Literal["chat", "handoff"]
KINDS: Final = ("chat", "handoff")

#: Mixed into the key namespace: tests set a fresh one so runs sharing one Redis never share counts.
namespace_salt = ""
_lock = threading.Lock()
_state: dict[str, tuple[Storage, MovingWindowRateLimiter]] = {}


def _limiter() -> tuple[str, MovingWindowRateLimiter]:
    """(namespace, limiter) for the current settings (rebuilt when REDIS_URL or DATABASE_URL change)."""
    settings = get_settings()
    uri = settings.redis_url or "memory://"
    namespace = hashlib.sha256(f"{namespace_salt}{settings.database_url}".encode()).hexdigest()[:12]
    with _lock:
        if uri not in _state:
            storage = storage_from_string(uri)
            assert isinstance(storage, Storage)  # a synchronous storage (memory:// or redis://)
            _state[uri] = (storage, MovingWindowRateLimiter(storage))
        return namespace, _state[uri][1]


def _limits(kind: Kind) -> tuple[RateLimitItem, RateLimitItem]:
    settings = get_settings()
    if kind == "chat":
        return parse(settings.chat_rate_limit), parse(settings.chat_customer_rate_limit)
    return parse(settings.handoff_rate_limit), parse(settings.handoff_customer_rate_limit)


def allow(kind: Kind, sender_id: str, customer_id: int | None) -> bool:
    """Count one ``kind`` request of conversation ``sender_id`` (and of ``customer_id`` when verified);
    False when either is over its limit (then nothing is counted, so waiting always helps).

    Raises:
        ValueError: unknown ``kind`` or a limit setting `limits` cannot parse.
        limits' storage errors (Redis unreachable) are not caught here: the caller decides.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown rate limit kind {kind!r}")
    namespace, limiter = _limiter()
    per_sender, per_customer = _limits(kind)
    checks = [(per_sender, namespace, kind, "sender", str(sender_id))]
    if customer_id is not None:
        checks.append((per_customer, namespace, kind, "customer", str(customer_id)))
    if not all(limiter.test(item, *keys) for item, *keys in checks):
        log.info("rate limit: %s refused for conversation %s (customer %s)", kind, sender_id, customer_id)
        return False
    hits = [limiter.hit(item, *keys) for item, *keys in checks]  # every one counted: no short-circuit
    return all(hits)


def reset() -> None:
    """Drop the in-memory counts (tests). Redis counts are left alone: that server is shared."""
    with _lock:
        _state.pop("memory://", None)


#: Campaign channels (as the push decision names them) -> the setting of their send rate.
_SEND_RATES: Final = {"telegram": "campaign_rate_telegram", "facebook": "campaign_rate_facebook",
                      "socketio": "campaign_rate_web", "web": "campaign_rate_web", "rest": "campaign_rate_web"}


def campaign_send_wait(channel: str | None) -> float:
    """Count one campaign send on ``channel`` against its rate setting; 0.0 when it may go now, else the
    seconds until the window has room (nothing counted then). A channel without a setting, or an empty setting,
    is not limited.

    Raises:
        ValueError: a rate setting `limits` cannot parse.
        limits' storage errors (Redis unreachable) are not caught here: the caller decides.
    """
    setting = _SEND_RATES.get(channel or "")
    rate = getattr(get_settings(), setting) if setting else ""
    if not rate:
        return 0.0
    item = parse(rate)
    namespace, limiter = _limiter()
    keys = (namespace, "campaign-send", _SEND_RATES[channel or ""])
    if limiter.hit(item, *keys):
        return 0.0
    reset_at = limiter.get_window_stats(item, *keys).reset_time
    return max(0.05, reset_at - time.time())
