"""A conversation a staff member has taken over stays paused until they hand it back.

api/live_handoff.py pauses the bot with a ``pause`` event when staff take a conversation and resumes it on hand
back. Rasa itself clears the pause in two places: a new session (after ``session_expiration_time`` of silence,
``SessionStarted`` resets the tracker) and a typed ``/restart`` (``Restarted`` does the same, and Rasa handles
the restart intent even while paused). The bot would then answer the customer in the middle of the agent's chat.
:func:`install` makes Rasa's default ``action_session_start`` and ``action_restart`` pause again a tracker that was
paused before they ran (and the restart stays silent): only a ``resume`` un-pauses. No CRM lookup is needed —
only the hand-off pauses a conversation — so this also works while the action server is down.

This module runs inside the Rasa process: it imports Rasa's own packages only, never ours.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.core.actions.action import ActionRestart, ActionSessionStart
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.events import ActionExecuted, ConversationPaused, Restarted, SessionStarted

logger = logging.getLogger(__name__)

_installed = False


def install() -> None:
    """Wrap ``ActionSessionStart.run`` and ``ActionRestart.run`` (module docstring). Idempotent."""
    global _installed
    if _installed:
        return
    session_start = ActionSessionStart.run
    restart = ActionRestart.run

    async def session_start_keeping_pause(self: ActionSessionStart, output_channel: Any, nlg: Any, tracker: Any,
                                          domain: Any) -> list[Any]:
        paused = tracker.is_paused()
        events = list(await session_start(self, output_channel, nlg, tracker, domain))
        if paused:
            logger.info("session start in a conversation staff hold: the bot stays paused")
            events.append(ConversationPaused())
        return events

    async def restart_keeping_pause(self: ActionRestart, output_channel: Any, nlg: Any, tracker: Any,
                                    domain: Any) -> list[Any]:
        if tracker.is_paused():
            logger.info("restart in a conversation staff hold: the bot stays paused")
            # What Rasa logs after a restart on the next message (a new session, then listening), here at once:
            # Rasa starts a session only on a tracker with no events since the restart, and the pause is one, so
            # without these the conversation had neither, and after the hand back every message was predicted
            # from an empty state: action_default_fallback, no answer, the channel's apology.
            return [Restarted(), ActionExecuted(ACTION_SESSION_START_NAME), SessionStarted(),
                    ActionExecuted(ACTION_LISTEN_NAME), ConversationPaused()]
        return list(await restart(self, output_channel, nlg, tracker, domain))

    ActionSessionStart.run = session_start_keeping_pause  # type: ignore[method-assign]
    ActionRestart.run = restart_keeping_pause  # type: ignore[method-assign]
    _installed = True
