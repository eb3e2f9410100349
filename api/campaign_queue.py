"""Campaign delivery on the huey task queue: planning, batched fan-out, send-time checks, the sweeper.

Queue: ``RedisHuey`` on ``settings.redis_url`` when set (production), else ``SqliteHuey`` in
``settings.campaign_queue_file`` (the embedded default: a file next to the CRM database, no server). The worker
is its own process, ``python -m api.campaign_worker``; the API only enqueues.

Tasks (names are stable, so an API and a worker of the same release agree):

- ``campaign_plan(campaign_id)``: ``profiles.campaigns.plan.plan_campaign`` (writes every recipient's row once,
  control group included) then one ``campaign_send`` per batch;
- ``campaign_send(campaign_id, step, batch)``: for each due recipient of the batch, the send-time check
  (``api.campaign_gates``: channel, consent, quiet hours -> held, offer eligibility), the claim with the
  per-channel send rate (``profiles.ratelimit.campaign_send_wait``: over it the row is ``throttled`` and the
  batch queued again for when the window has room), the claim with the frequency cap
  (``profiles.campaigns.delivery.claim``), the send, the outcome. A paused campaign sends nothing
  (its rows stay queued; resuming queues its batches again);
- ``campaign_sweep`` (every minute, and once when a worker starts): plans scheduled campaigns whose time has
  come, the due occurrence of recurring ones and the due daily run of event-triggered ones
  (``profiles.campaigns.triggers``: each customer enrolled once per event occurrence) (``plan_campaign`` moves their next run time on in the same
  transaction, so a restarted worker or a second sweep never plans an occurrence twice), marks interrupted sends ``unknown``, queues again every batch with due rows untouched for
  ``campaign_stale_minutes`` (a task lost with a killed worker: huey removes a task from the queue when a
  worker takes it), and finishes campaigns with no pending row.

Every queue delivers a task at least once or loses it on a crash; correctness here never depends on the queue:
the database rows are the truth, the tasks only say "look at this batch" (docs/CAMPAIGNS.md).

Senders (``settings.campaign_sender``): ``rasa`` pushes through Rasa (``api.push.trigger``: the bot's template,
its output channel) and records the push like ``/customers/{id}/push`` (``profiles.push.record_delivery``: the
customer's timeline); ``record`` only writes the delivery row (bulk tests and the benchmark: no channel at all).
"""

from __future__ import annotations

import logging
import threading
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

import httpx
from huey import Huey, RedisHuey, SqliteHuey, crontab
from sqlalchemy import select

from api.campaign_gates import propensity_filter, send_time_check
from api.push import TIMEOUT_S, trigger
from profiles.campaigns import delivery
from profiles.campaigns.models import Campaign
from profiles.campaigns.plan import plan_campaign
from profiles.campaigns.spec import CampaignSpec
from profiles.campaigns.store import load_spec, transition
from profiles.campaigns.triggers import plan_trigger_run
from profiles.customers import get_customer
from profiles.db import private_sqlite_file, session_scope
from profiles.errors import Conflict, NotFound
from profiles.models import utcnow
from profiles.push import PushDecision, PushMessage, record_delivery
from profiles.ratelimit import campaign_send_wait
from profiles.settings import get_settings

log = logging.getLogger(__name__)

_lock = threading.Lock()
_huey: Huey | None = None
_tasks: dict[str, Any] = {}
SYSTEM = "system:campaign-worker"


def get_queue() -> Huey:
    """The process's huey instance (created on first use, never at import) with the campaign tasks registered."""
    global _huey
    if _huey is None:
        with _lock:
            if _huey is None:
                s = get_settings()
                if s.redis_url:
                    huey: Huey = RedisHuey(s.campaign_queue_name, url=s.redis_url)
                else:
                    private_sqlite_file(s.campaign_queue_file)  # its jobs name customers: owner-only
                    huey = SqliteHuey(s.campaign_queue_name, filename=str(s.campaign_queue_file))
                _tasks["plan"] = huey.task(name="campaign_plan", retries=3, retry_delay=10)(plan_and_queue)
                _tasks["send"] = huey.task(name="campaign_send", retries=3, retry_delay=10)(send_batch)
                _tasks["sweep"] = huey.periodic_task(crontab(minute="*"), name="campaign_sweep")(sweep)
                _huey = huey
    return _huey


def reset_queue() -> None:
    """Forget the huey instance (tests, after changing settings)."""
    global _huey
    with _lock:
        _huey = None
        _tasks.clear()


def _task(name: str) -> Any:
    get_queue()
    return _tasks[name]  # type: ignore[no-any-return]


def enqueue_plan(campaign_id: int) -> None:
    """Queue the planning of a campaign (the worker plans and fans out)."""
    _task("plan")(campaign_id)


def enqueue_batches(campaign_id: int, step: int, batches: tuple[int, ...] | list[int],
                    eta: datetime | None = None) -> None:
    """Queue one ``campaign_send`` per batch (at ``eta`` when given)."""
    send = _task("send")
    for batch in batches:
        if eta is None:
            send(campaign_id, step, batch)
        else:
            send.schedule(args=(campaign_id, step, batch), eta=eta)


def plan_and_queue(campaign_id: int, now: datetime | None = None) -> int:
    """Plan the campaign (idempotent; a recurring one: its due occurrence) and queue its batches; returns how
    many batches were queued."""
    try:
        if load_spec(campaign_id).schedule.kind == "trigger":  # the daily trigger sweep: many occurrences at once
            run = plan_trigger_run(campaign_id, actor=SYSTEM, now=now, audience_filter=_propensity(now))
            for step, batch in run.sends:
                enqueue_batches(campaign_id, step, [batch])
            if run.ran:
                log.info("campaign %s trigger run: %s enrolled (%s control) over %s event days, %s batches",
                         campaign_id, run.enrolled, run.control, run.occurrences, len(run.sends))
            return len(run.sends)
        plan = plan_campaign(campaign_id, actor=SYSTEM, now=now, audience_filter=_propensity(now))
    except (NotFound, Conflict) as exc:
        log.info("campaign %s not planned: %s", campaign_id, exc.user_message)
        return 0
    if plan.step < 0:
        return 0  # a recurring campaign with no occurrence due
    enqueue_batches(campaign_id, plan.step, plan.batches)
    log.info("campaign %s planned: %s treated, %s control, %s batches", campaign_id, plan.treated, plan.control,
             len(plan.batches))
    return len(plan.batches)


def _propensity(now: datetime | None) -> Any:
    """The recommender's propensity filter for planning at ``now`` (``api.campaign_gates.propensity_filter``)."""
    return lambda spec, ids: propensity_filter(spec, ids, now=now)


def _name_for(customer_id: int, spec_field: str, first_name: str | None) -> str | None:
    if spec_field == "first_name":
        return first_name
    return get_customer(customer_id).last_name


def _send_rasa(client: httpx.Client, spec: CampaignSpec, recipient: delivery.Recipient, gate: Any,
               message: Any) -> tuple[str, str | None]:
    push = PushMessage(kind=message.kind, campaign=spec.name, template=message.template, product=message.product)
    name = _name_for(recipient.customer_id, message.fields.get("push_name", "first_name"), gate.first_name)
    decision = PushDecision(recipient.customer_id, "allowed", "campaign", gate.channel, gate.sender_id, name or "")
    status, reason, text = trigger(client, decision, push)
    pushed = status if status in ("delivered", "no_channel", "invalid") else "channel_error"
    record_delivery(push, recipient.customer_id, pushed, actor=SYSTEM, channel=gate.channel,
                    sender_id=gate.sender_id, reason=reason, text=text)
    return status, reason


def send_one(spec: CampaignSpec, recipient: delivery.Recipient, *, client: httpx.Client | None,
             now: datetime) -> str:
    """Check, claim and send one recipient; returns its status after this attempt (``skipped`` when another
    worker had it)."""
    variant = next(v for v in spec.variants if v.name == recipient.variant)
    gate = send_time_check(recipient.customer_id, variant.message,
                           marketing_consent=spec.audience.consent == "marketing",
                           exempt_quiet_hours=spec.schedule.exempt_quiet_hours, now=now)
    message = variant.message_for(gate.channel)
    if gate.status == "held":
        assert gate.hold_until is not None
        return "held" if delivery.hold(recipient.id, gate.hold_until, gate.reason or "quiet hours", now=now) else "skipped"
    if gate.status != "allowed":
        return gate.status if delivery.skip(recipient.id, gate.status, gate.reason, channel=gate.channel,
                                            now=now) else "skipped"
    wait = campaign_send_wait(gate.channel)
    if wait > 0:  # the channel's send rate is used up (across workers): throttled, sent when the window allows
        until = now + timedelta(seconds=wait)
        why = f"send rate of {gate.channel} reached: sent when the window allows"
        return "throttled" if delivery.throttle(recipient.id, until, why, channel=gate.channel, now=now) else "skipped"
    record_only = get_settings().campaign_sender == "record"
    claimed = delivery.claim(recipient.id, recipient.customer_id, gate.channel, record_only=record_only, now=now)
    if claimed != "sending":
        return claimed or "skipped"
    assert client is not None
    status, reason = _send_rasa(client, spec, recipient, gate, message)
    return delivery.finish(recipient.id, status, reason, recipient.attempts + 1)


def send_batch(campaign_id: int, step: int, batch: int) -> dict[str, int]:
    """Send the due recipients of one batch (module docstring); returns status -> count of this run."""
    if delivery.campaign_state(campaign_id) != "running":
        return {}
    spec = load_spec(campaign_id)
    now = utcnow()
    done: dict[str, int] = {}
    recipients = delivery.due_recipients(campaign_id, step, batch, now)
    client = None if get_settings().campaign_sender == "record" else httpx.Client(timeout=TIMEOUT_S)
    try:
        for recipient in recipients:
            if delivery.campaign_state(campaign_id) != "running":  # paused mid-batch: stop here
                break
            moment = utcnow()
            status = send_one(spec, recipient, client=client, now=moment)
            done[status] = done.get(status, 0) + 1
            if status == "throttled":  # the rest of the batch waits too: the same task again when there is room
                enqueue_batches(campaign_id, step, [batch], eta=delivery.next_attempt(recipient.id) or moment)
                break
    finally:
        if client is not None:
            client.close()
    log.info("campaign %s batch %s: %s", campaign_id, batch, done)  # held/retried rows: the sweeper, when due
    _finish_if_complete(campaign_id)
    return done


def _finish_if_complete(campaign_id: int) -> None:
    """Finish a running campaign whose rows are all final; a recurring one only when no occurrence is left."""
    with session_scope() as session:
        row = session.execute(select(Campaign.spec, Campaign.scheduled_at).where(Campaign.id == campaign_id)).first()
    if row is None or (_recurring(row.spec) and row.scheduled_at is not None):
        return
    if delivery.unfinished(campaign_id) == 0:
        with suppress(Conflict):  # paused, or another worker finished it
            transition(campaign_id, "finish", actor=SYSTEM, detail="every recipient has a final status")


def _recurring(spec: Any) -> bool:
    """A schedule of occurrences: ``recurring``, or ``trigger`` (its daily sweep)."""
    return isinstance(spec, dict) and (spec.get("schedule") or {}).get("kind") in ("recurring", "trigger")


def sweep(min_age_minutes: float | None = None, *, now: datetime | None = None) -> dict[str, int]:
    """One pass of the sweeper (module docstring); returns what it did (counts)."""
    now = now or utcnow()
    stale = get_settings().campaign_stale_minutes if min_age_minutes is None else min_age_minutes
    with session_scope() as session:
        candidates = session.execute(select(Campaign.id, Campaign.state, Campaign.spec).where(
            Campaign.state.in_(("scheduled", "running")),
            (Campaign.scheduled_at.is_(None)) | (Campaign.scheduled_at <= now))).all()
        running = list(session.scalars(select(Campaign.id).where(Campaign.state == "running")))
    # scheduled campaigns whose time came, and recurring ones (scheduled or running) with an occurrence due
    due = [c.id for c in candidates if _recurring(c.spec) or c.state == "scheduled"]
    for campaign_id in due:
        plan_and_queue(campaign_id, now=now)
    expired = delivery.expire_sending(now)
    batches = delivery.pending_batches(now, min_age_minutes=stale)
    for campaign_id, step, batch in batches:
        enqueue_batches(campaign_id, step, [batch])
    for campaign_id in running:
        _finish_if_complete(campaign_id)
    return {"planned": len(due), "expired": expired, "requeued": len(batches)}
