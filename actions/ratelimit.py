"""Chat rate limit at the action server's entry point (``profiles.ratelimit``, kind ``chat``).

rasa-sdk has no middleware, so :func:`install` wraps ``ActionExecutor.run``, the single entry point of every
custom action call: each user message that makes Rasa call the action server (balances, transfers, cards,
link codes, hand-offs: everything that touches the bank) is counted once per conversation and per verified
customer; over a limit, the action is not run and the customer gets :data:`SLOW_DOWN` instead. Messages Rasa
answers without an action (greetings, FAQs) are not counted: Rasa 3.6's environment cannot install `limits`
(it pins packaging 20.9), see docs/SECURITY.md.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Final

from rasa_sdk import Tracker
from rasa_sdk.executor import ActionExecutor, ActionExecutorRunResult

from actions.context import verified_customer
from profiles.ratelimit import allow

logger = logging.getLogger(__name__)

SLOW_DOWN: Final = "You're sending messages faster than I can keep up with. Please wait a minute, then try again."
_SEEN_MAX: Final = 10_000
# sender id -> (message id last counted, whether it was allowed): one count per message, however many
# actions it runs.
_seen: OrderedDict[str, tuple[str, bool]] = OrderedDict()


def chat_allowed(action_call: dict[str, Any]) -> bool:
    """Whether the user message behind ``action_call`` (the action server's request body) is within the chat
    limits; counted once per message. A storage failure (Redis down) lets the message through, logged."""
    tracker_state = action_call.get("tracker") or {}
    sender = str(tracker_state.get("sender_id") or "")
    message_id = str((tracker_state.get("latest_message") or {}).get("message_id") or "")
    if not sender:
        return True
    previous = _seen.get(sender)
    if previous is not None and message_id and previous[0] == message_id:
        return previous[1]
    try:
        customer = verified_customer(Tracker.from_dict(tracker_state))
        allowed = allow("chat", sender, customer)
    except Exception as exc:  # noqa: BLE001 - a limiter outage must not stop the bank's chat
        logger.warning("chat rate limit not checked (%s): message let through", type(exc).__name__)
        return True
    _seen[sender] = (message_id, allowed)
    _seen.move_to_end(sender)
    while len(_seen) > _SEEN_MAX:
        _seen.popitem(last=False)
    return allowed


def install() -> None:
    """Wrap ``ActionExecutor.run`` once (idempotent)."""
    original = ActionExecutor.run
    if getattr(original, "_nova_rate_limited", False):
        return

    async def run(self: ActionExecutor, action_call: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if action_call.get("next_action") and not chat_allowed(action_call):
            # followup action_listen: the turn ends here (no further action is predicted and refused again).
            return ActionExecutorRunResult(events=[{"event": "followup", "name": "action_listen"}], responses=[{
                "text": SLOW_DOWN, "buttons": [], "elements": [], "custom": {}, "template": None,
                "response": None, "image": None, "attachment": None,
            }])
        return await original(self, action_call, *args, **kwargs)

    run._nova_rate_limited = True  # type: ignore[attr-defined]
    ActionExecutor.run = run  # type: ignore[method-assign]


install()
