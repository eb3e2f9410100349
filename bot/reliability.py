"""Never silent, fail closed: what the Rasa server does when a part behind it fails (docs/RELIABILITY.md).

- :func:`never_silent` wraps a channel's ``on_new_message``: when handling a user message raises (tracker
  store or lock store down, lock timeout, ...), when a custom action failed (action server down, hung past
  :data:`ACTION_TIMEOUT_S`, answering 500), or when the turn produced no bot message at all, the customer gets
  :func:`apology` with a short reference, and one log line carries that reference (no token, no message text,
  no sender id).
- :func:`install` (run when bot.channels is imported, i.e. when Rasa loads credentials.yml):
  - the tracker store fails closed: Rasa wraps every configured store in ``FailSafeTrackerStore``, which on an
    error answers "no tracker" (a fresh conversation) and saves into process memory (RasaHQ/rasa#7306): a
    confirmed transfer could be replayed once Redis is back. Here its error hooks re-raise instead
    (:class:`TrackerStoreUnavailable`), so the turn stops and the channel apologises;
  - action-server calls time out after ``ACTION_TIMEOUT_S`` (default 10) seconds instead of Rasa 3.6's fixed
    ``DEFAULT_REQUEST_TIMEOUT`` of 300 s (endpoints.yml has no setting for it);
  - a failed custom action is noted for :func:`never_silent` (Rasa's processor logs it and carries on
    silently: "Bot will continue, but the actions events are lost");
  - a turn of a *paused* conversation is noted too: a staff member has taken it over (live hand-off,
    api/live_handoff.py appends a ``pause`` event), Rasa stores the customer's message and predicts nothing,
    and that silence is on purpose: no apology; a session expiry or ``/restart`` keeps that pause
    (bot/handoff_pause.py).

This module runs inside the Rasa process: it imports Rasa's own packages only, never ours.
"""

from __future__ import annotations

import contextvars
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import rasa.core.actions.action as rasa_action
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.core.tracker_store import FailSafeTrackerStore

from bot import handoff_pause

logger = logging.getLogger(__name__)

REF_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read out over the phone
REF_LENGTH = 6
DEFAULT_ACTION_TIMEOUT_S = 10.0

#: The failed custom actions of the turn being handled (set by :func:`never_silent`, in the task's context).
_failed_actions: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("nova_failed_actions", default=None)


#: Set to [True] by the processor when the turn being handled belongs to a paused conversation (live hand-off).
_paused_turn: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar("nova_paused_turn", default=None)


class TrackerStoreUnavailable(Exception):
    """The tracker store could not read or save a conversation: the turn is not handled (fail closed)."""


def new_reference() -> str:
    """A short random reference (``REF_LENGTH`` symbols of ``REF_ALPHABET``) the customer can quote."""
    return "".join(secrets.choice(REF_ALPHABET) for _ in range(REF_LENGTH))


def apology(ref: str) -> str:
    """The customer's message when their turn failed on our side.

    It does not claim that nothing changed: a turn can fail after an action ran (a hung action server may still
    finish a transfer; the transfer's idempotency key refuses a repeat)."""
    return f"Sorry, something went wrong on our side. Please try again in a minute (ref {ref})."


def action_timeout_s(environ: dict[str, str] | None = None) -> float:
    """Seconds Rasa waits for one action-server call: ``ACTION_TIMEOUT_S`` (a positive number), default 10.

    Raises:
        ValueError: ``ACTION_TIMEOUT_S`` is set but not a positive number.
    """
    raw = (environ if environ is not None else os.environ).get("ACTION_TIMEOUT_S", "").strip()
    if not raw:
        return DEFAULT_ACTION_TIMEOUT_S
    value = float(raw)
    if not value > 0:
        raise ValueError(f"ACTION_TIMEOUT_S must be a positive number of seconds, not {raw!r}")
    return value


def _fail_closed(self: FailSafeTrackerStore, error: Exception) -> None:
    raise TrackerStoreUnavailable(f"{type(self._tracker_store).__name__}: {type(error).__name__}") from error


_original_remote_run = RemoteAction.run


async def _noting_remote_run(self: RemoteAction, *args: Any, **kwargs: Any) -> Any:
    try:
        return await _original_remote_run(self, *args, **kwargs)
    except ActionExecutionRejection:  # a form's "not this slot": part of normal dialogue, not a failure
        raise
    except Exception:
        failed = _failed_actions.get()
        if failed is not None:
            failed.append(self.name())
        raise


_original_should_handle = MessageProcessor._should_handle_message


def _noting_should_handle(tracker: Any) -> bool:
    """Rasa's own rule (no prediction while paused, unless the customer restarts), noting a paused turn."""
    handle = bool(_original_should_handle(tracker))
    if not handle:
        paused = _paused_turn.get()
        if paused is not None:
            paused[0] = True
    return handle


_installed = False


def install() -> None:
    """Make the tracker store fail closed, bound action-server calls and note failed actions (module
    docstring). Idempotent."""
    global _installed
    if _installed:
        return
    FailSafeTrackerStore.on_tracker_store_error = _fail_closed  # type: ignore[method-assign]
    FailSafeTrackerStore.on_tracker_store_retrieve_error = _fail_closed  # type: ignore[method-assign]
    rasa_action.DEFAULT_REQUEST_TIMEOUT = action_timeout_s()  # type: ignore[assignment]
    RemoteAction.run = _noting_remote_run  # type: ignore[method-assign]
    MessageProcessor._should_handle_message = staticmethod(_noting_should_handle)  # type: ignore[method-assign]
    handoff_pause.install()  # a session expiry or /restart keeps a taken conversation paused
    _installed = True
    logger.info("reliability: tracker store fails closed; action calls time out after %.0f s",
                rasa_action.DEFAULT_REQUEST_TIMEOUT)


#: OutputChannel methods that send something: Rasa's processor calls send_response, a channel may call the rest.
SEND_METHODS = ("send_response", "send_text_message", "send_text_with_buttons", "send_quick_replies",
                "send_image_url", "send_attachment", "send_elements", "send_custom_json")


def _count_replies(output: Any) -> list[int]:
    """Count calls of ``output``'s :data:`SEND_METHODS` from now on (one-element list, the count)."""
    sent = [0]

    def counting(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            sent[0] += 1
            return await original(*args, **kwargs)
        return counted

    for name in SEND_METHODS:
        original = getattr(output, name, None)
        if original is None:
            continue
        try:
            setattr(output, name, counting(original))
        except AttributeError:  # an output that refuses new attributes: counted as replying
            sent[0] = 1
    return sent


#: Rasa's own commands that answer nothing by design (a restart, a new session): no apology for those.
SILENT_COMMANDS = frozenset({"/restart", "/session_start"})


def never_silent(on_new_message: Callable[[UserMessage], Awaitable[Any]], channel: str
                 ) -> Callable[[UserMessage], Awaitable[None]]:
    """``on_new_message`` that never leaves a user message unanswered (module docstring).

    The apology goes through the message's own output channel; the caller then answers as usual (REST: 200
    with the apology). If the apology cannot be delivered either (the messenger's API is down), the original
    exception is raised again, so the channel reports the failure as before."""

    async def handle(message: UserMessage) -> None:
        failed: list[str] = []
        paused = [False]
        context = _failed_actions.set(failed)
        paused_context = _paused_turn.set(paused)
        sent = _count_replies(message.output_channel)
        reason: str | None = None
        failure: Exception | None = None
        try:
            await on_new_message(message)
        except Exception as exc:  # noqa: BLE001 - every failure gets the apology, none reaches the customer raw
            failure = exc
            reason = type(exc).__name__
            underlying = exc.__cause__ or exc.__context__
            if underlying is not None:
                reason += f" <- {type(underlying).__name__}"
        finally:
            _failed_actions.reset(context)
            _paused_turn.reset(paused_context)
        if reason is None and failed:
            reason = f"custom action failed: {', '.join(dict.fromkeys(failed))}"
        if reason is None and sent[0] == 0 and not paused[0] and (message.text or "").strip() not in SILENT_COMMANDS:
            reason = "no bot message"
        if reason is None:
            return
        ref = new_reference()
        logger.error("apology sent (ref %s, channel %s): %s", ref, channel, reason)
        if message.output_channel is None:
            return
        try:
            await message.output_channel.send_text_message(message.sender_id, apology(ref))
        except Exception as exc:  # noqa: BLE001
            logger.error("apology not delivered (ref %s, channel %s): %s", ref, channel, type(exc).__name__)
            if failure is not None:
                raise failure from None

    return handle
