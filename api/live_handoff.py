"""Live hand-off through Rasa's HTTP API: pause the bot, speak as a staff member, hand back (docs/STAFF_CONSOLE.md).

Every step appends events to the conversation's tracker, ``POST {rasa_url}/conversations/{sender}/tracker/events``
(token: Rasa's ``--auth-token``), so the tracker (and, through the event broker and the feed, the transcript
store) holds the whole conversation:

- take: ``pause`` (Rasa then stores the customer's messages without predicting anything: no bot answer), then
  the bot event "You are now talking to <name>, Atlantic Bank.";
- each staff message: a ``bot`` event whose metadata names the staff member (``{"handoff": {"agent": username,
  "agent_name": ..., "state": "message", "handoff_id": ...}}``);
- hand back: ``resume``, then "You're back with Nova, the assistant.".

A bot event is sent to the customer with ``?output_channel=<channel>&execute_side_effects=true``: Rasa 3.6
(``rasa/server.py`` ``append_events``) updates the tracker, runs ``processor.execute_side_effects``, which sends
each appended ``BotUttered`` through that input channel's ``get_output_channel()`` (web chat: the conversation's
socket.io room, ``bot/socketio_channel.py``; Telegram/Messenger: their connectors, ``bot/channels.py``), and saves
the tracker only after that: a message that could not be sent is not stored either. REST has no way to push:
there the event is stored without side effects ("stored only"). The web chat channel refuses to send to a
conversation whose page is not open (``NO_OPEN_PAGE``): the staff member is told nothing was sent.
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import httpx

from api.push import WEB_PAGE_CLOSED
from api.rasa_client import rasa_token
from profiles.live_handoff import (
    METADATA_KEY,
    HandoffTarget,
    agent_display_name,
    check_message,
    close_handoff,
    held_by,
    record_message,
    release_take,
    take_handoff,
)
from profiles.settings import get_settings

PUSH_CHANNELS: Final = frozenset({"socketio", "telegram", "facebook"})  # channels Rasa can send to unasked
TIMEOUT_S: Final = 15.0
BACK_WITH_NOVA: Final = "You're back with Nova, the assistant."


def taken_text(agent_name: str) -> str:
    """What the customer is told when a staff member takes the conversation."""
    return f"You are now talking to {agent_name}, Atlantic Bank."


class RasaUnavailable(Exception):
    """Rasa could not do it (unreachable, refused, failed): ``message`` is for staff; nothing was changed there."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PageClosed(Exception):
    """The customer's web chat page is not open: the message was neither sent nor stored."""

    message = "The customer's web chat page is not open right now: nothing was sent. Try again when they are back."


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to the customer's side: ``delivered`` (sent on their channel) or not, and a note for staff."""

    handoff_id: int
    ref: str
    channel: str
    delivered: bool
    note: str


def _append(client: httpx.Client, target: HandoffTarget, events: list[dict[str, Any]], *, send: bool) -> None:
    """Append ``events`` to the conversation; with ``send`` (and a channel that can push) through its output.

    Raises:
        PageClosed: the web chat channel refused (no open page); nothing stored.
        RasaUnavailable: anything else that is not a 200; nothing stored.
    """
    url = f"{get_settings().rasa_url.rstrip('/')}/conversations/{quote(target.sender_id, safe='')}/tracker/events"
    params = {"token": rasa_token(), "include_events": "NONE"}
    if send and target.channel in PUSH_CHANNELS:
        params |= {"output_channel": target.channel, "execute_side_effects": "true"}
    try:
        response = client.post(url, params=params, json=events)
    except httpx.HTTPError as exc:
        raise RasaUnavailable(f"The chat server (Rasa) cannot be reached ({type(exc).__name__}): nothing was changed "
                              "there. Try again in a minute.") from None
    if response.status_code == 200:
        return
    detail = ""
    with suppress(ValueError, AttributeError):
        detail = str(response.json().get("message") or "")
    if response.status_code == 500 and WEB_PAGE_CLOSED in detail:
        raise PageClosed()
    if response.status_code == 401 or response.status_code == 403:
        raise RasaUnavailable("The chat server refused the API's token (RASA_TOKEN): ask an administrator.")
    raise RasaUnavailable(f"The chat server answered {response.status_code}: nothing was sent. Try again in a minute.")


def _bot_event(text: str, target: HandoffTarget, staff: str, state: str) -> dict[str, Any]:
    return {"event": "bot", "text": text, "timestamp": time.time(), "data": {},
            "metadata": {METADATA_KEY: {"agent": staff, "agent_name": agent_display_name(staff), "state": state,
                                        "handoff_id": target.id}}}


def _client(client: httpx.Client | None) -> httpx.Client:
    return client if client is not None else httpx.Client(timeout=TIMEOUT_S)


def _say(client: httpx.Client, target: HandoffTarget, text: str, staff: str, state: str) -> bool:
    """Send one bot event; True if it went out on the customer's channel, False if only stored (REST)."""
    _append(client, target, [_bot_event(text, target, staff, state)], send=True)
    return target.channel in PUSH_CHANNELS


def take(handoff_id: int, *, staff: str, client: httpx.Client | None = None) -> Outcome:
    """Take the conversation (``profiles.live_handoff.take_handoff``), pause the bot and tell the customer.

    If the bot cannot be paused the take is undone (``release_take``) and :class:`RasaUnavailable` raised. If only
    the announcement fails (page closed, a messenger API down) the conversation stays taken and paused; the
    outcome says the customer was not told.

    Raises:
        NotFound, Conflict: from ``take_handoff``.
        RasaUnavailable: the bot could not be paused (nothing taken).
    """
    target = take_handoff(handoff_id, staff=staff)
    http = _client(client)
    try:
        try:
            _append(http, target, [{"event": "pause", "timestamp": time.time()}], send=False)
        except (RasaUnavailable, PageClosed) as exc:
            release_take(handoff_id, staff=staff, reason="the bot could not be paused")
            raise RasaUnavailable(getattr(exc, "message", str(exc))) from None
        name = agent_display_name(staff)
        try:
            delivered = _say(http, target, taken_text(name), staff, "taken")
        except PageClosed:
            return Outcome(target.id, target.ref, target.channel, False,
                           "Taken: the bot is paused. The customer's chat page is not open, so they were not told.")
        except RasaUnavailable as exc:
            return Outcome(target.id, target.ref, target.channel, False,
                           f"Taken: the bot is paused, but the customer was not told: {exc.message}")
        note = (f"Taken: the bot is paused and the customer was told they are talking to {name}." if delivered else
                "Taken: the bot is paused. This channel cannot push messages: yours are stored in the conversation "
                "and the customer sees them only through it.")
        return Outcome(target.id, target.ref, target.channel, delivered, note)
    finally:
        if client is None:
            http.close()


def send_message(handoff_id: int, text: str, *, staff: str, role: str, client: httpx.Client | None = None) -> Outcome:
    """Send a staff message into the conversation the caller has taken; audited.

    Raises:
        NotFound, Conflict, NotAllowed: from ``held_by`` (not taken, or someone else's).
        InvalidInput: the text (``check_message``: empty, too long, a card/IBAN number).
        PageClosed: the web chat page is not open (nothing sent or stored).
        RasaUnavailable: Rasa or the messenger failed (nothing sent or stored).
    """
    value = check_message(text)
    target = held_by(handoff_id, staff=staff, role=role)
    http = _client(client)
    try:
        delivered = _say(http, target, value, staff, "message")
    finally:
        if client is None:
            http.close()
    record_message(target, staff=staff, text=value, delivered=delivered)
    note = "Sent." if delivered else "Stored in the conversation (this channel cannot push it to the customer)."
    return Outcome(target.id, target.ref, target.channel, delivered, note)


def hand_back(handoff_id: int, *, staff: str, role: str, client: httpx.Client | None = None) -> Outcome:
    """Resume the bot, tell the customer, close the hand-off (the taker, or an admin).

    Raises:
        NotFound, Conflict, NotAllowed: from ``held_by``.
        RasaUnavailable: the bot could not be resumed (the hand-off stays taken).
    """
    target = held_by(handoff_id, staff=staff, role=role, closing=True)
    http = _client(client)
    try:
        try:
            _append(http, target, [{"event": "resume", "timestamp": time.time()}], send=False)
        except PageClosed as exc:  # not for an event without side effects; kept for safety
            raise RasaUnavailable(exc.message) from None
        close_handoff(target, staff=staff)
        try:
            delivered = _say(http, target, BACK_WITH_NOVA, staff, "closed")
            note = ("Handed back: Nova answers the customer again." if delivered else
                    "Handed back: Nova answers the customer again (this channel cannot push the notice).")
        except PageClosed:
            delivered, note = False, "Handed back: Nova answers again. The customer's page is not open: not told."
        except RasaUnavailable as exc:
            delivered, note = False, f"Handed back: Nova answers again, but the customer was not told: {exc.message}"
    finally:
        if client is None:
            http.close()
    return Outcome(target.id, target.ref, target.channel, delivered, note)
