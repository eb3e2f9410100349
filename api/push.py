"""Proactive push delivery through Rasa, for one customer or a whole campaign (the decisions are
``profiles.push``'s; this module makes the HTTP calls and runs campaigns in the background).

One push = ``POST {rasa_url}/conversations/{sender_id}/trigger_intent?output_channel=<channel>`` with the
external intent ``EXTERNAL_reminder`` / ``EXTERNAL_offer`` and entities from closed sets (``push_template``,
``push_product``, ``push_name``): the bot's rules answer it with ``utter_push_reminder`` / ``utter_push_offer``,
so the conversation history shows the external intent and the bot's message, and the output channel
(Telegram, Messenger) sends it. Each attempt ends in one status per customer, recorded as a ``PushDelivery``:

- ``delivered``: Rasa answered 200, sent through the requested output channel, and the tracker holds the bot's
  message after the external intent (its text goes on the customer's timeline);
- ``no_channel`` / ``no_consent`` / ``quiet_hours``: refused by ``profiles.push.decide_push``, nothing sent;
  also ``no_channel`` when the push went to a live web chat conversation whose page is no longer open: the
  web chat channel (``bot/socketio_channel.py``) refuses to send to a room no socket is in, Rasa answers 500
  with that error (``WEB_PAGE_CLOSED``) and stores nothing;
- ``not_eligible`` (offers only, after an allowed decision): the recommender's one offer gate refuses this
  product to this customer on this channel (``offer_ineligibility`` -> ``recommender.offers.offer_gate``, the
  bot's own rules: marketing consent on the channel, products held, age, credit record and band, the product
  accepted or declined within ``offer_cooloff_days`` or shown within ``offer_reshow_days``, any offer within
  ``offer_reshow_days``: one a day); nothing sent, the reason names the rule. A delivered offer records a
  ``shown`` offer event with its delivery row (``profiles.push.record_delivery``), so the gate sees it;
- ``invalid``: an entity value outside its closed set (never sent: Rasa 3.6 answers malformed entities with a
  500, RasaHQ/rasa#11422), or an unknown customer id in a campaign;
- ``channel_error``: Rasa unreachable or timing out, any non-200 answer (5xx included: the Telegram output
  channel's ``asyncio.run`` inside the running loop, RasaHQ/rasa#10666, a failing messenger API, a malformed
  request), an intent the loaded model does not know (404), or an output channel Rasa does not have (Rasa then
  silently collects the messages instead of sending them: its answer carries ``messages``; this is also what
  the socket.io channel does with several Sanic workers), or no bot message in the tracker.

Campaigns (``start_campaign``) run in a background thread with at most ``PUSH_CONCURRENCY`` pushes in flight
(one thread pool for the whole process, so two campaigns share the bound); ``campaign_status`` reports the
counts per status while it runs. Jobs are kept in this process's memory (the last ``JOBS_KEPT``): the API runs
one worker (scripts/run.sh); every attempt is in ``push_deliveries`` in any case.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

import httpx

from api.rasa_client import rasa_token
from profiles.errors import NotFound
from profiles.models import utcnow
from profiles.push import (
    PUSH_STATUSES,
    REMINDER_TEMPLATES,
    PushDecision,
    PushMessage,
    decide_push,
    record_delivery,
)
from profiles.schemas import PRODUCT_IDS
from profiles.settings import get_settings
from recommender.offers import offer_gate

log = logging.getLogger(__name__)

EXTERNAL_INTENTS: Final = {"reminder": "EXTERNAL_reminder", "offer": "EXTERNAL_offer"}
PUSH_CONCURRENCY: Final = 8  # pushes in flight at once, for the whole process
WEB_PAGE_CLOSED: Final = "no open web chat page"  # bot/socketio_channel.py NO_OPEN_PAGE, in Rasa's 500 message
TIMEOUT_S: Final = 20.0  # one trigger_intent call (Rasa runs the rule and sends through the messenger)
JOBS_KEPT: Final = 100
NAME_MAX: Final = 60
GENERIC_NAME: Final = "there"  # "Hi there" when the first name cannot be sent as is

_pool = ThreadPoolExecutor(max_workers=PUSH_CONCURRENCY, thread_name_prefix="push")


@dataclass(frozen=True, slots=True)
class PushResult:
    """The outcome for one customer: ``status`` one of ``profiles.push.PUSH_STATUSES``; ``delivery_id`` the
    recorded ``PushDelivery``; ``template`` / ``product`` what was sent; ``text`` the message the bot sent
    (delivered only; it holds the customer's first name, so the API never returns it to marketing: it stays
    in the ``PushDelivery`` row and the customer's timeline). The Rasa ``sender_id`` is not here on purpose: a
    web chat's session id is the key to that conversation; it stays in the ``PushDelivery`` row."""

    customer_id: int
    status: str
    reason: str | None
    channel: str | None
    delivery_id: int | None
    text: str | None = None
    template: str | None = None
    product: str | None = None


def safe_name(first_name: str | None) -> str:
    """The first name as the ``push_name`` entity: printable, 1..60 characters, no braces (Rasa interpolates
    responses); ``GENERIC_NAME`` otherwise."""
    name = (first_name or "").strip()
    if not name or len(name) > NAME_MAX or not name.isprintable() or any(c in name for c in "{}[]\"\\"):
        return GENERIC_NAME
    return name


def external_entities(message: PushMessage, first_name: str | None) -> dict[str, str]:
    """The entities of the external intent (Rasa's ``{"entity": "value"}`` short form), each checked against its
    closed set so that Rasa never sees a malformed one.

    Raises:
        ValueError: a template or product outside its set (a programming error: ``check_message`` builds
            messages).
    """
    entities = {"push_name": safe_name(first_name)}
    if message.kind == "reminder":
        if message.template not in REMINDER_TEMPLATES:
            raise ValueError(f"unknown reminder template {message.template!r}")
        entities["push_template"] = message.template
    else:
        if message.product not in PRODUCT_IDS:
            raise ValueError(f"unknown product {message.product!r}")
        entities["push_product"] = message.product
    return entities


def _bot_text_after(events: list[dict[str, Any]], intent: str) -> str | None:
    """The text of the bot's messages after the last external ``intent`` in the tracker's events, or None."""
    last = max((i for i, e in enumerate(events) if e.get("event") == "user"
                and (e.get("parse_data") or {}).get("intent", {}).get("name") == intent), default=None)
    if last is None:
        return None
    texts = [str(e.get("text") or "") for e in events[last + 1:] if e.get("event") == "bot"]
    return "\n".join(t for t in texts if t) or None


def offer_ineligibility(customer_id: int, product: str, *, channel: str | None,
                        now: datetime | None = None) -> str | None:
    """Why the bot would not offer ``product`` to ``customer_id`` on ``channel`` at ``now`` (default: the
    current time), prefixed by the product, or None if it would: the recommender's one offer gate
    (``recommender.offers.offer_gate``: consent on the channel, eligibility, cool-off, one offer a day).

    Raises:
        NotFound: no such customer.
        KeyError: a product outside the catalogue (``check_message`` prevents it).
    """
    gate = offer_gate(customer_id, product, channel, now=now)
    return None if gate.eligible else f"{product}: {gate.reason}"


def trigger(client: httpx.Client, decision: PushDecision, message: PushMessage) -> tuple[str, str | None, str | None]:
    """Send the push for an allowed ``decision`` through Rasa; returns (status, reason, bot text) with status
    ``delivered``, ``invalid``, ``channel_error`` or, for a web chat page that is no longer open, ``no_channel``
    (module docstring). Never raises for Rasa's failures."""
    intent = EXTERNAL_INTENTS[message.kind]
    try:
        entities = external_entities(message, decision.first_name)
    except ValueError as exc:
        return "invalid", str(exc), None
    assert decision.sender_id is not None and decision.channel is not None
    url = f"{get_settings().rasa_url.rstrip('/')}/conversations/{quote(decision.sender_id, safe='')}/trigger_intent"
    try:
        response = client.post(url, params={"output_channel": decision.channel, "token": rasa_token()},
                               json={"name": intent, "entities": entities})
    except httpx.HTTPError as exc:
        return "channel_error", f"Rasa unreachable: {type(exc).__name__}", None
    if response.status_code != 200:
        detail = ""
        with suppress(ValueError, AttributeError):
            detail = str(response.json().get("message") or "")[:120]
        if response.status_code == 500 and WEB_PAGE_CLOSED in detail:
            return "no_channel", "the web chat page was closed since the customer's last message: nothing sent", None
        what = "has no intent " + intent if response.status_code == 404 else f"answered {response.status_code}"
        return "channel_error", f"Rasa {what}{': ' + detail if detail else ''}"[:200], None
    try:
        body = response.json()
        events = list(body.get("tracker", {}).get("events") or [])
    except (ValueError, AttributeError):
        return "channel_error", "Rasa answered 200 without a tracker", None
    if "messages" in body:
        return ("channel_error",
                f"Rasa has no {decision.channel} output channel: nothing was sent to the customer", None)
    text = _bot_text_after(events, intent)
    if text is None:
        return "channel_error", f"the bot sent no message for {intent} (model without the push rules?)", None
    return "delivered", None, text


def push_to_customer(
    customer_id: int, message: PushMessage, *, actor: str, now: datetime | None = None,
    client: httpx.Client | None = None,
) -> PushResult:
    """Decide, deliver (when allowed) and record one push to ``customer_id``; returns its outcome.

    Raises:
        NotFound: no such customer (nothing recorded).
        InvalidInput: bad actor, or bad quiet-hours/time-zone settings.
    """
    decision = decide_push(customer_id, message.kind, now=now)
    text: str | None = None
    reason: str | None
    refusal = None
    if decision.allowed and message.kind == "offer" and message.product is not None:
        refusal = offer_ineligibility(customer_id, message.product, channel=decision.channel, now=now)
    if refusal is not None:
        status, reason = "not_eligible", refusal
    elif decision.allowed:
        if client is None:
            with httpx.Client(timeout=TIMEOUT_S) as own:
                status, reason, text = trigger(own, decision, message)
        else:
            status, reason, text = trigger(client, decision, message)
    else:
        status, reason = decision.status, decision.reason
    view = record_delivery(message, customer_id, status, actor=actor, channel=decision.channel,
                           sender_id=decision.sender_id, reason=reason, text=text)
    return PushResult(customer_id, status, reason, decision.channel, view.id, text,
                      template=message.template, product=message.product)


@dataclass
class _Job:
    id: str
    message: PushMessage
    actor: str
    customer_ids: tuple[int, ...]
    now: datetime | None
    created_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    results: list[PushResult] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True, slots=True)
class CampaignStatus:
    """Progress of one campaign job: ``total`` customers, ``done`` so far, ``counts`` per status (every status
    of ``PUSH_STATUSES``, zeros included), ``finished`` when all are done; ``results`` the per-customer outcomes
    ``offset``..``offset+limit`` in completion order."""

    id: str
    campaign: str
    kind: str
    template: str | None
    product: str | None
    actor: str
    total: int
    done: int
    counts: dict[str, int]
    finished: bool
    created_at: datetime
    finished_at: datetime | None
    results: tuple[PushResult, ...]


_jobs: dict[str, _Job] = {}
_jobs_lock = threading.Lock()


def _push_one(job: _Job, customer_id: int, client: httpx.Client) -> None:
    try:
        result = push_to_customer(customer_id, job.message, actor=job.actor, now=job.now, client=client)
    except NotFound:
        view = record_delivery(job.message, None, "invalid", actor=job.actor, reason="no such customer")
        result = PushResult(customer_id, "invalid", "no such customer", None, view.id)
    except Exception as exc:  # one customer's failure never stops the campaign
        log.exception("push %s to customer %s failed", job.message.campaign, customer_id)
        result = PushResult(customer_id, "channel_error", f"unexpected error: {type(exc).__name__}", None, None)
    with job.lock:
        job.results.append(result)


def _run(job: _Job) -> None:
    with httpx.Client(timeout=TIMEOUT_S, limits=httpx.Limits(max_connections=PUSH_CONCURRENCY)) as client:
        futures = [_pool.submit(_push_one, job, cid, client) for cid in job.customer_ids]
        for future in futures:
            future.result()
    with job.lock:
        job.finished_at = utcnow()
    counts = Counter(r.status for r in job.results)
    log.info("campaign %s (%s) finished: %s", job.id, job.message.campaign, dict(counts))


def start_campaign(message: PushMessage, customer_ids: list[int] | tuple[int, ...], *, actor: str,
                   now: datetime | None = None) -> CampaignStatus:
    """Start pushing ``message`` to each customer (duplicates removed, order kept) in the background; returns
    the job's first status (``campaign_status(id)`` follows it). ``now`` pins the time of the decisions."""
    ids = tuple(dict.fromkeys(customer_ids))
    job = _Job(id=uuid.uuid4().hex, message=message, actor=actor, customer_ids=ids, now=now)
    with _jobs_lock:
        _jobs[job.id] = job
        while len(_jobs) > JOBS_KEPT:
            oldest = next(iter(_jobs))
            if _jobs[oldest].finished_at is None:
                break
            del _jobs[oldest]
    threading.Thread(target=_run, args=(job,), name=f"campaign-{job.id[:8]}", daemon=True).start()
    return campaign_status(job.id, limit=0)


def campaign_status(job_id: str, *, offset: int = 0, limit: int = 100) -> CampaignStatus:
    """The progress of campaign job ``job_id`` (see ``CampaignStatus``).

    Raises:
        NotFound: no such job in this process (unknown id, or dropped after ``JOBS_KEPT`` newer ones).
    """
    with _jobs_lock:
        job = _jobs.get(job_id)
    if job is None:
        raise NotFound("No such campaign job.", detail=f"campaign job {job_id!r} not found")
    with job.lock:
        results = list(job.results)
        finished_at = job.finished_at
    counts = dict.fromkeys(PUSH_STATUSES, 0) | Counter(r.status for r in results)
    return CampaignStatus(
        id=job.id, campaign=job.message.campaign, kind=job.message.kind, template=job.message.template,
        product=job.message.product, actor=job.actor, total=len(job.customer_ids), done=len(results),
        counts=counts, finished=finished_at is not None, created_at=job.created_at, finished_at=finished_at,
        results=tuple(results[offset:offset + limit]),
    )
