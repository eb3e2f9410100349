"""Fixtures for action tests: a real, freshly seeded CRM database and rasa-sdk trackers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from profiles.identity import PROOF_KEY, identity_claim, messenger_proof

ROOT = Path(__file__).resolve().parents[2]
SENDER = "test-sender"  # every make_tracker conversation


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch) -> Iterator[None]:
    """A CRM database with the first 30 bank-marketing customers (demo customers 1..5 among them).

    Uses ``DATABASE_URL`` when set (production-mode run: PostgreSQL), else a fresh SQLite file.
    """
    import os

    from profiles.db import get_engine, reset_engine
    from profiles.models import Base
    from profiles.seed import seed
    from profiles.settings import get_settings

    if not os.environ.get("DATABASE_URL"):
        monkeypatch_module.setenv("DATABASE_URL", f"sqlite:///{tmp_path_factory.mktemp('crm') / 'crm.db'}")
    get_settings.cache_clear()
    reset_engine()
    Base.metadata.drop_all(get_engine())
    seed(30, progress=False)
    yield
    Base.metadata.drop_all(get_engine())
    reset_engine()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    """The bot's real domain.yml as the action server receives it."""
    return dict(yaml.safe_load((ROOT / "domain.yml").read_text()))


def make_tracker(
    text: str,
    intent: str,
    *,
    token: str | None = None,
    slots: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    confidence: float = 0.95,
    channel: str = "rest",
    active_loop: str | None = None,
    history: list[dict[str, Any]] | None = None,
    seal_owner: bool = True,
) -> Tracker:
    """A tracker whose latest user message is ``text`` with ``intent`` (and, for a ``token``, the identity claim
    the channel puts in its metadata instead).

    A slot ``owner`` given as a customer id is sealed to the tracker's conversation, as the action server
    itself sets it (profiles.sealing); ``seal_owner=False`` keeps it plain, as a hand-made tracker would."""
    slots = dict(slots or {})
    if seal_owner and isinstance(slots.get("owner"), str) and slots["owner"].isdigit():
        from profiles.sealing import seal_owner as seal

        slots["owner"] = seal(SENDER, int(slots["owner"]))
    # what the web channels pass on instead of the token (bot/identity_claim.py): its claim in this conversation
    metadata: dict[str, Any] = {"identity": identity_claim(token, SENDER)} if token else {}
    if channel in ("telegram", "facebook"):  # the messenger connector's proof that it received the message
        metadata[PROOF_KEY] = messenger_proof(channel, SENDER)
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": entities or [],
        "metadata": metadata,
    }
    events = [*(history or []), {"event": "user", "text": text, "parse_data": latest, "input_channel": channel}]
    return Tracker(
        sender_id=SENDER,
        slots=slots,
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )


def run_action(action: Action, tracker: Tracker, domain: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run an action as the action server would; return (events, messages sent)."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain))
    return list(events), dispatcher.messages


def texts(messages: list[dict[str, Any]]) -> str:
    """All text the bot sent, joined (responses by name appear as ``<utter_name>``)."""
    return "\n".join(m.get("text") or f"<{m.get('response')}>" for m in messages)


def slots_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The slot values an action set, by name (later events win)."""
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
