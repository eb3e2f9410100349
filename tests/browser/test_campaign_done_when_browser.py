"""Issue 14's done-when, in one go, in real Chromium against the real API (``staff_site``: seeded, scored SQLite),
in simulated time.

A marketing manager builds a term-deposit offer for a segment with a 10% control group, previews it (dry run),
saves it and schedules it for 22:30 tomorrow (bank time), then watches it send: at 22:31 every treated message is
``held`` by quiet hours (21:00-08:00 on each customer's clock); at 08:01 Lisbon the mainland customers' messages go
out, the Azores customer's still waits (07:01 there); at 09:01 Lisbon it goes too and the campaign is ``done``.
Three days later (conversions: half of the offered customers accept a term deposit two days after the send, no one
of the control group) the campaign page shows the funnel and the uplift with its 95% interval, the same numbers as
the report. (The audit keeps the real time of each step: only the worker's clock is simulated.)

The clock is the API tests' one (tests/api/test_marketing_campaigns.py, test_campaign_triggers.py): the worker's
own functions take ``now`` — ``sweep(now=…)`` plans what is due and ``send_one(…, now=…)`` sends each due
recipient through the same send-time checks — so this test is the worker, run at 22:31, 08:01 and 09:01 without
sleeping (its queued tasks go to a private queue file that no process runs). The API process serves the pages in
real time (its dry run sees no quiet hours: tests/browser/conftest.py); the worker here has the bank's 21-8.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from api.campaign_queue import reset_queue, send_one, sweep
from profiles.campaigns import delivery
from profiles.campaigns.models import Campaign, CampaignDelivery
from profiles.campaigns.store import load_spec
from profiles.campaigns.uplift import report
from profiles.db import session_scope
from profiles.models import Consent, Customer, CustomerScore, MessengerLink, OfferEvent, utcnow
from profiles.push import push_timezone
from tests.browser.conftest import ARTIFACTS, StaffSite
from tests.browser.test_staff_pages_browser import sign_in

AZORES = "Atlantic/Azores"


def _segment_on_telegram() -> tuple[str, list[int], list[int]]:
    """The largest segment, every customer with a Telegram account linked; three of those with marketing consent
    live in the Azores (so at least one is treated: the control group of 10% has two). Returns the segment, its
    customers and the Azores ones."""
    with session_scope() as s:
        rows = s.execute(select(CustomerScore.customer_id, CustomerScore.segment)).all()
        sizes: dict[str, list[int]] = {}
        for cid, seg in rows:
            sizes.setdefault(str(seg), []).append(int(cid))
        segment = max(sizes, key=lambda k: len(sizes[k]))
        ids = sorted(sizes[segment])
        linked = set(s.scalars(select(MessengerLink.customer_id)))
        s.execute(insert(MessengerLink), [{"customer_id": c, "channel": "telegram", "external_id": f"tg-dw-{c}"}
                                          for c in ids if c not in linked])
        consenting = sorted(int(c) for c in s.scalars(select(Consent.customer_id).where(
            Consent.customer_id.in_(ids), Consent.purpose == "marketing", Consent.channel == "all",
            Consent.granted.is_(True))))
        azores = consenting[:3]
        assert len(azores) == 3, consenting
        s.execute(update(Customer).where(Customer.id.in_(ids)).values(time_zone=None))
        s.execute(update(Customer).where(Customer.id.in_(azores)).values(time_zone=AZORES))
    return segment, ids, azores


def work(now: datetime) -> None:
    """The campaign worker at the simulated time ``now``: its sweep (plans what is due, finishes what is
    complete) and a send of every due recipient of every pending batch, as its ``campaign_send`` task does."""
    sweep(min_age_minutes=0, now=now)
    for campaign_id, step, batch in delivery.pending_batches(now, min_age_minutes=0):
        spec = load_spec(campaign_id)
        for recipient in delivery.due_recipients(campaign_id, step, batch, now):
            send_one(spec, recipient, client=None, now=now)
    sweep(min_age_minutes=0, now=now)


def rows(campaign_id: int) -> dict[int, tuple[str, str, datetime | None]]:
    """customer -> (variant, status, sent_at) of the campaign's delivery log."""
    with session_scope() as s:
        out = s.execute(select(CampaignDelivery.customer_id, CampaignDelivery.variant, CampaignDelivery.status,
                               CampaignDelivery.sent_at).where(CampaignDelivery.campaign_id == campaign_id)).all()
    return {int(c): (str(v), str(st), at) for c, v, st, at in out}


def counts_on_page(page: Any) -> dict[str, int]:
    """The campaign page's delivery counts table: status -> recipients."""
    return {row.locator("td").nth(0).inner_text(): int(row.locator("td").nth(1).inner_text().replace(",", ""))
            for row in page.locator("#counts tbody tr").all()}


def test_a_term_deposit_offer_is_built_held_by_quiet_hours_sent_when_the_window_opens_and_its_uplift_read(
        page: Any, staff_site: StaffSite, override_settings: Callable[..., None], tmp_path: Path) -> None:
    # this process is the worker: the bank's quiet hours, record-only sends, a private queue nobody runs
    override_settings(campaign_sender="record", quiet_hours_start=21, quiet_hours_end=8, push_timezone="Europe/Lisbon",
                      campaign_queue_file=tmp_path / "worker-queue.db", campaign_queue_name=f"dw-{uuid.uuid4().hex[:8]}",
                      campaign_rate_telegram="", campaign_rate_facebook="", campaign_rate_web="")
    reset_queue()
    segment, ids, azores = _segment_on_telegram()
    lisbon = push_timezone()
    send_at = (utcnow().astimezone(lisbon) + timedelta(days=1)).replace(hour=22, minute=30, second=0, microsecond=0)

    # build, preview, save, schedule: in the browser
    sign_in(page, staff_site, "marketing", "marta")
    page.goto(f"{staff_site.base_url}/staff/campaigns")
    page.get_by_label("Name").fill("term-deposit-done-when")
    page.get_by_label("Segment").select_option(segment)
    page.get_by_label("Kind").select_option("offer")
    page.get_by_label("Variant A: template or product").select_option("term_deposit")
    page.get_by_label("Control group %").fill("10")
    page.get_by_label("Conversion").select_option("offer_accepted")
    page.get_by_label("Goal product").select_option("term_deposit")
    page.get_by_label("Window (days)").fill("14")
    page.get_by_label("at", exact=True).check()
    page.get_by_label("send at (bank time)").fill(send_at.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Preview (dry run)").click()
    page.wait_for_load_state("load")
    assert page.locator("#form-errors").count() == 0
    assert page.locator("#preview-audience").inner_text() == str(len(ids))
    control = int(page.locator("#preview-control").inner_text())
    assert len(ids) // 10 <= control <= -(-len(ids) // 10)  # 10%, a fraction rounded up or down (plan._share)
    assert re.search(r"term.deposit", page.locator("ul.messages").inner_text(), re.IGNORECASE)
    page.screenshot(path=str(ARTIFACTS / "campaign-done-when-1-preview.png"), full_page=True)
    page.get_by_role("button", name="Save as draft").click()
    page.wait_for_load_state("load")
    campaign_id = int(page.url.rsplit("/", 1)[1])
    page.get_by_role("button", name="Schedule").click()
    page.wait_for_load_state("load")
    assert page.locator("#state").inner_text() == "scheduled"
    assert f"sends at {send_at.strftime('%Y-%m-%d %H:%M')}" in page.locator("main").inner_text()

    # 22:29: not due yet; 22:31: planned and every treated message held by quiet hours
    work(send_at - timedelta(minutes=1))
    assert rows(campaign_id) == {}
    work(send_at + timedelta(minutes=1))
    log = rows(campaign_id)
    assert len(log) == len(ids) and sum(v == "control" for v, _, _ in log.values()) == control
    treated = [c for c, (v, _, _) in log.items() if v != "control"]
    held = [c for c in treated if log[c][1] == "held"]
    assert held and not any(log[c][1] == "delivered" for c in treated)
    page.reload()
    assert page.locator("#state").inner_text() == "running"
    on_page = counts_on_page(page)
    assert on_page["held"] == len(held) and on_page["control"] == control and "delivered" not in on_page
    page.screenshot(path=str(ARTIFACTS / "campaign-done-when-2-held.png"), full_page=True)

    # 08:01 Lisbon: the mainland's window has opened, the Azores' (07:01 there) has not
    opens = (send_at + timedelta(days=1)).replace(hour=8, minute=1)
    work(opens)
    log = rows(campaign_id)
    islanders = sorted(set(azores) & set(held))
    assert islanders and [c for c in treated if log[c][1] == "held"] == islanders
    mainland = [c for c in held if c not in azores]
    assert mainland and all(log[c][1] in ("delivered", "not_eligible", "no_consent", "capped") for c in mainland)
    assert any(log[c][1] == "delivered" for c in mainland)
    page.reload()
    assert counts_on_page(page).get("delivered", 0) == sum(log[c][1] == "delivered" for c in treated)
    page.screenshot(path=str(ARTIFACTS / "campaign-done-when-3-morning.png"), full_page=True)

    # 09:01 Lisbon (08:01 in the Azores): the last one goes; nothing pending, the campaign is done
    work(opens + timedelta(hours=1))
    log = rows(campaign_id)
    assert not [c for c in treated if log[c][1] in ("queued", "held", "throttled", "sending")]
    for c in treated:  # nothing went out in quiet hours on the customer's own clock
        if log[c][1] == "delivered":
            sent = log[c][2]
            assert sent is not None and sent.astimezone(lisbon) >= opens.astimezone(lisbon)
            assert sent == (opens + timedelta(hours=1) if c in azores else opens)
    page.reload()
    assert page.locator("#state").inner_text() == "done"

    # two days after the send, half of the customers who got the offer accept the term deposit, no one of the
    # control group does
    delivered = [c for c in treated if log[c][1] == "delivered"]
    converted_at = send_at + timedelta(days=2)
    with session_scope() as s:
        for c in delivered[: max(1, len(delivered) // 2)]:
            s.add(OfferEvent(customer_id=c, product="term_deposit", outcome="accepted", channel="telegram",
                             created_at=converted_at))

    # three days later the manager reads the uplift with its interval
    page.reload()
    expected = report(campaign_id)
    u = expected["uplift"]
    sentence = page.locator("#uplift").inner_text()
    assert f"Uplift {u['uplift'] * 100:+.1f} percentage points" in sentence, sentence
    assert f"95% CI {u['ci_low'] * 100:+.1f} to {u['ci_high'] * 100:+.1f}" in sentence, sentence
    assert u["x_treatment"] == max(1, len(delivered) // 2) and u["x_control"] == 0 and u["uplift"] > 0
    funnel = {r.locator("th").inner_text(): [int(td.inner_text()) for td in r.locator("td").all()]
              for r in page.locator("#funnel tbody tr").all()}
    assert funnel["control"][0] == control and funnel["control"][-1] == 0
    assert funnel["A"][-1] == u["x_treatment"] and funnel["A"][2] == len(delivered)
    assert page.locator("figure img").evaluate("img => img.complete && img.naturalWidth > 300")
    audit = page.locator("#audit").inner_text()
    assert "staff:marta · created" in audit and "staff:marta · schedule" in audit and "finish → done" in audit
    page.screenshot(path=str(ARTIFACTS / "campaign-done-when-4-uplift.png"), full_page=True)
    with session_scope() as s:
        assert s.scalar(select(Campaign.state).where(Campaign.id == campaign_id)) == "done"
