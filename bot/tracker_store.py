"""Bounded conversations (issue 12 item 3, docs/RELIABILITY.md "Bounded conversations").

Rasa 3.6 keeps every event of a conversation in its tracker store and replays all of them on every turn: the
Redis store reads, deserialises and merges the whole history twice per save, and every action request carries
the whole session. A Telegram sender id never changes and the 7-day expiry restarts on every save, so an
active customer's conversation only grows (RasaHQ/rasa#6334: the median turn went from 88 ms to 3.8 s by
turn 200, each action request from 65 kB to 732 kB).

These stores keep only a bounded window of the **current session**: on every save, events before the latest
``session_started`` are dropped, and when more than ``max_events`` remain, the oldest whole turns are cut (the
window always starts at a user message). What the policies and actions need from before the cut is re-stated
at the window's head (:func:`bounded_events`): a session start, a ``SlotSet`` for every slot that is not at its
initial value (the sealed confirmations and owner included), the active loop (and its rejection), the hand-off
``pause``, and the last action. The whole history stays in our transcript store: the event broker gets every
new event exactly as before, the window only changes what Rasa stores and replays.

This module runs inside the Rasa process (Python 3.10): it imports Rasa's own packages only.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from rasa.core.tracker_store import InMemoryTrackerStore, RedisTrackerStore, TrackerStore
from rasa.shared.core.constants import ACTION_SESSION_START_NAME
from rasa.shared.core.conversation import Dialogue
from rasa.shared.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActiveLoop,
    ConversationPaused,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

logger = logging.getLogger(__name__)

#: Events kept per conversation by default: ~10-15 turns (a turn is ~6-10 events), far more than the policies
#: look back (MemoizationPolicy max_history 5, the longest rule a few turns) or an action reads (a form's
#: request, the last 3 messages for a campaign reply).
DEFAULT_MAX_EVENTS = 100
#: The attribute a tracker carries after it was read from or saved to a bounded store: how many of its events
#: the store already has (their broker messages were sent), so a save publishes exactly the rest.
_STORED = "_nova_stored_events"


def _session_start(events: list[Event]) -> int:
    """Index where the latest session begins (its ``action_session_start``, else its ``session_started``)."""
    for i in range(len(events) - 1, -1, -1):
        if isinstance(events[i], SessionStarted):
            before = events[i - 1] if i > 0 else None
            if isinstance(before, ActionExecuted) and before.action_name == ACTION_SESSION_START_NAME:
                return i - 1
            return i
    return 0


def _cut(events: list[Event], max_events: int) -> int | None:
    """Index of the first kept event: the earliest user message leaving at most ``max_events`` events, else the
    latest user message (one turn longer than the window is kept whole); ``None`` when no cut is needed or no
    user message is there to cut at."""
    if len(events) <= max_events:
        return None
    users = [i for i in range(1, len(events)) if isinstance(events[i], UserUttered)]
    if not users:
        return None
    earliest = len(events) - max_events
    return next((i for i in users if i >= earliest), users[-1])


def _head(state: DialogueStateTracker, timestamp: float) -> list[Event]:
    """Events that re-create ``state`` (the conversation just before the cut) at the head of the window."""
    head: list[Event] = [ActionExecuted(ACTION_SESSION_START_NAME, timestamp=timestamp),
                         SessionStarted(timestamp=timestamp)]  # resets slots: the SlotSets come after it
    head += [SlotSet(name, slot.value, timestamp=timestamp)
             for name, slot in state.slots.items() if slot.value != slot.initial_value]
    if state.active_loop_name:
        head.append(ActiveLoop(state.active_loop_name, timestamp=timestamp))
        if state.is_active_loop_rejected:
            head.append(ActionExecutionRejected(state.active_loop_name, timestamp=timestamp))
    if state.is_paused():
        head.append(ConversationPaused(timestamp=timestamp))
    if state.latest_action_name:
        head.append(ActionExecuted(state.latest_action_name, timestamp=timestamp))
    return head


def bounded_events(tracker: DialogueStateTracker, max_events: int) -> list[Event] | None:
    """The events a bounded store keeps of ``tracker``: its current session, cut to the last ``max_events``
    events at a user message, with a head (:func:`_head`, a few events more) that re-states the slots, active
    loop, pause and last action from before the cut. ``None`` when the tracker is already within bounds (keep
    it as is).

    Raises:
        ValueError: ``max_events`` is not a positive number.
    """
    if max_events < 1:
        raise ValueError(f"max_events must be positive, not {max_events}")
    events = list(tracker.events)
    start = _session_start(events)
    session = events[start:]
    cut = _cut(session, max_events)
    if cut is None:
        return session if start else None
    before = DialogueStateTracker.from_events(tracker.sender_id, session[:cut], slots=list(tracker.slots.values()))
    return _head(before, session[cut - 1].timestamp) + session[cut:]


def _serialise(sender_id: str, events: list[Event]) -> str:
    """The stored form of a conversation, as Rasa's ``SerializedTrackerAsText`` (without replaying it)."""
    return json.dumps(Dialogue(sender_id, events).as_dict())


class _Bounded(TrackerStore):
    """What both bounded stores share: the window, and publishing exactly the events not yet stored."""

    max_events: int = DEFAULT_MAX_EVENTS

    def _configure(self, max_events: Any) -> None:
        self.max_events = int(max_events) if max_events not in (None, "") else DEFAULT_MAX_EVENTS
        if self.max_events < 1:
            raise ValueError(f"tracker_store max_events must be positive, not {max_events!r}")

    async def _publish(self, tracker: DialogueStateTracker) -> None:
        """Send the tracker's events that the store does not have yet to the event broker (the feed)."""
        if self.event_broker is None:
            return
        stored = getattr(tracker, _STORED, None)
        if stored is None:
            await TrackerStore.stream_events(self, tracker)  # Rasa's way: diff against the stored tracker
            return
        new = list(tracker.events)[stored:]
        publish_many = getattr(self.event_broker, "publish_many", None)
        if publish_many is None:
            await self._stream_new_events(self.event_broker, new, tracker.sender_id)
            return
        # our brokers (bot/event_broker.py, bot/durable_broker.py): the turn's events in one commit, each body
        # as Rasa's _stream_new_events builds it
        publish_many([{"sender_id": tracker.sender_id, **event.as_dict()} for event in new])

    def _loaded(self, tracker: DialogueStateTracker | None, fetch_all_sessions: bool) -> DialogueStateTracker | None:
        """A tracker as read: bounded (a conversation stored before this store was deployed is cut here), and
        marked with how many events the store holds."""
        if tracker is None:
            return None
        if not fetch_all_sessions:
            events = bounded_events(tracker, self.max_events)
            if events is not None:
                tracker = DialogueStateTracker.from_events(tracker.sender_id, events,
                                                           slots=list(tracker.slots.values()))
        setattr(tracker, _STORED, len(tracker.events))
        return tracker

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        """Publish the events of ``tracker`` the store does not have yet (see :meth:`_publish`)."""
        await self._publish(tracker)


class BoundedInMemoryTrackerStore(_Bounded, InMemoryTrackerStore):
    """Rasa's in-memory store (embedded mode) keeping a bounded window of the current session (module
    docstring). ``max_events`` (endpoints.yml, default :data:`DEFAULT_MAX_EVENTS`): events kept before the
    head that re-states the state.

    Raises:
        ValueError: ``max_events`` is not a positive integer.
    """

    def __init__(self, domain: Any, event_broker: Any = None, max_events: Any = None, **kwargs: Any) -> None:
        kwargs.pop("host", None)  # Rasa passes the endpoint's url (none for this store)
        super().__init__(domain, event_broker, **kwargs)
        self._configure(max_events)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Publish the new events, then store the bounded window."""
        await self._publish(tracker)
        events = bounded_events(tracker, self.max_events)
        self.store[tracker.sender_id] = _serialise(tracker.sender_id,
                                                   list(tracker.events) if events is None else events)
        setattr(tracker, _STORED, len(tracker.events))

    async def _retrieve(self, sender_id: str, fetch_all_sessions: bool) -> DialogueStateTracker | None:
        return self._loaded(await super()._retrieve(sender_id, fetch_all_sessions), fetch_all_sessions)


class BoundedRedisTrackerStore(_Bounded, RedisTrackerStore):
    """Rasa's Redis store (production mode) keeping a bounded window of the current session (module
    docstring); same settings as ``type: redis`` plus ``max_events``.

    Unlike Rasa's store, a save does not read and merge the stored conversation first: that merge exists to
    keep the earlier sessions, which this store drops on purpose (the transcript store has them), and the
    lock store already orders the turns of one conversation.

    Raises:
        ValueError: ``max_events`` is not a positive integer.
    """

    def __init__(self, domain: Any, host: str = "localhost", max_events: Any = None, **kwargs: Any) -> None:
        super().__init__(domain, host=host, **kwargs)
        self._configure(max_events)

    async def save(self, tracker: DialogueStateTracker, timeout: float | None = None) -> None:
        """Publish the new events, then store the bounded window (expiring ``record_exp`` s after this save)."""
        await self._publish(tracker)
        events = bounded_events(tracker, self.max_events)
        self.red.set(self.key_prefix + tracker.sender_id,
                     _serialise(tracker.sender_id, list(tracker.events) if events is None else events),
                     ex=timeout or self.record_exp)
        setattr(tracker, _STORED, len(tracker.events))

    async def _retrieve(self, sender_id: str, fetch_all_sessions: bool) -> DialogueStateTracker | None:
        return self._loaded(await super()._retrieve(sender_id, fetch_all_sessions), fetch_all_sessions)
