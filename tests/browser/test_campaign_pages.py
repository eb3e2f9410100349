"""A marketing manager in a real browser (Chromium via Playwright) builds a campaign for a segment with a 10%
control group and an A/B split, previews it (dry run), saves and schedules it; the real worker process
(``python -m api.campaign_worker``) sends it, and the campaign page shows the delivery log, the funnel and the
uplift with its interval. The site's sender is ``record`` (tests/browser/conftest.py: no messenger cloud here;
a delivery writes its row after the same send-time checks). On a 390 px phone the build form offers event-triggered
schedules (card expiry, deposit maturity, payment due, churn crossing) and the propensity filter."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from api.campaign_preview import dry_run
from profiles.campaigns.models import Campaign
from profiles.campaigns.spec import CampaignSpec
from profiles.customers import holds_product_sql
from profiles.db import session_scope
from profiles.models import Account, Consent, Customer, CustomerScore, MessengerLink, utcnow
from tests.browser.conftest import ARTIFACTS, ROOT, StaffSite
from tests.browser.test_staff_pages_browser import sign_in

PHONE = {"width": 390, "height": 844}


def _link_segment() -> tuple[str, int]:
    """Link a Telegram account to every customer of the largest segment (a channel to send on)."""
    with session_scope() as s:
        rows = s.execute(select(CustomerScore.customer_id, CustomerScore.segment)).all()
        sizes: dict[str, list[int]] = {}
        for cid, seg in rows:
            sizes.setdefault(str(seg), []).append(int(cid))
        segment = max(sizes, key=lambda k: len(sizes[k]))
        linked = set(s.scalars(select(MessengerLink.customer_id)))
        new = [c for c in sizes[segment] if c not in linked]
        if new:
            s.execute(insert(MessengerLink), [{"customer_id": c, "channel": "telegram", "external_id": f"tg-page-{c}"}
                                              for c in new])
    return segment, len(sizes[segment])


def test_marketing_manager_builds_previews_schedules_and_reads_the_uplift(page: Any, staff_site: StaffSite) -> None:
    segment, size = _link_segment()
    sign_in(page, staff_site, "marketing", "marta")
    page.goto(f"{staff_site.base_url}/staff/campaigns")
    assert page.get_by_role("heading", level=1).inner_text() == "Campaigns"
    page.get_by_label("Name").fill("statement-reminder-browser")
    page.get_by_label("Segment").select_option(segment)
    page.get_by_label("Variant A: template or product").select_option("statement_ready")
    page.get_by_label("Variant B (optional)").select_option("payment_due")
    page.get_by_label("Control group %").fill("10")
    page.get_by_label("Conversion").select_option("profile_updated")
    page.get_by_role("button", name="Preview (dry run)").click()
    page.wait_for_load_state("load")
    assert page.locator("#preview-audience").inner_text() == str(size)
    assert page.locator("#preview").get_by_text("would_send").count() == 1
    assert re.search(r"Hi \w+, a reminder from Atlantic Bank", page.locator("ul.messages").inner_text())
    page.screenshot(path=str(ARTIFACTS / "campaign-preview.png"), full_page=True)
    with session_scope() as s:
        assert s.scalar(select(Campaign.id)) is None  # the dry run wrote nothing

    page.get_by_role("button", name="Save as draft").click()
    page.wait_for_load_state("load")
    assert re.search(r"/staff/campaigns/\d+$", page.url), page.url
    campaign_id = int(page.url.rsplit("/", 1)[1])
    assert page.locator("#state").inner_text() == "draft"
    page.get_by_role("button", name="Schedule").click()
    page.wait_for_load_state("load")
    assert page.locator("#state").inner_text() == "scheduled"

    env = {**os.environ, "DATABASE_URL": staff_site.database_url, "CAMPAIGN_SENDER": "record",
           "CAMPAIGN_QUEUE_FILE": str(Path(staff_site.database_url.removeprefix("sqlite:///")).parent
                                      / "campaign_queue.db"),
           "QUIET_HOURS_START": "0", "QUIET_HOURS_END": "0"}
    env.pop("REDIS_URL", None)
    log = staff_site.log.parent / "worker.log"
    with log.open("ab") as out:
        worker = subprocess.Popen([sys.executable, "-m", "api.campaign_worker"], cwd=ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            with session_scope() as s:
                state = s.scalar(select(Campaign.state).where(Campaign.id == campaign_id))
            if state == "done":
                break
            assert worker.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"campaign {state}; worker log:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)
    finally:
        os.killpg(worker.pid, signal.SIGINT)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
    page.reload()
    assert page.locator("#state").inner_text() == "done"
    counts = {row.locator("td").nth(0).inner_text(): int(row.locator("td").nth(1).inner_text())
              for row in page.locator("#counts tbody tr").all()}
    control = counts.get("control", 0)
    assert size // 10 <= control <= -(-size // 10)  # 10%, a fraction rounded up or down (plan._share)
    assert counts == {"control": control, "delivered": size - control}, counts
    assert page.locator("#funnel tbody tr").count() == 3  # A, B, control
    assert "95% CI" in page.locator("#uplift").inner_text()
    assert page.locator("figure img").evaluate("img => img.complete && img.naturalWidth > 300")
    audit = page.locator("#audit").inner_text()
    assert "staff:marta · created" in audit and "staff:marta · schedule" in audit and "finish → done" in audit
    page.screenshot(path=str(ARTIFACTS / "campaign-done.png"), full_page=True)


def _savings_prospects(segment: str, n: int) -> list[int]:
    """Make up to ``n`` customers of ``segment`` without a savings account savings-account prospects (marketing
    consent, a current account with EUR 2,000: the recommender's rule scores 0.20); returns their ids (at least
    one: the seeded segment has customers without a savings account)."""
    with session_scope() as s:
        savers = select(Account.customer_id).where(Account.kind == "savings")
        chosen = sorted(int(c) for c in s.scalars(select(CustomerScore.customer_id).where(
            CustomerScore.segment == segment, CustomerScore.customer_id.not_in(savers))))[:n]
        assert chosen, f"every customer of {segment} holds a savings account"
        s.execute(update(Customer).where(Customer.id.in_(chosen)).values(marketing_consent=True))
        s.execute(update(Consent).where(Consent.customer_id.in_(chosen), Consent.purpose == "marketing")
                  .values(granted=True))
        for cid in chosen:
            s.execute(insert(Account).values(customer_id=cid, kind="current", name="Current", balance=Decimal("2000"),
                                             number=f"PT50{uuid.uuid4().int % 10**21:021d}"))
    return chosen


def _fits(tab: Any, width: int = PHONE["width"]) -> None:
    """Nothing on the page is wider than the phone (no sideways scrolling)."""
    scroll = tab.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"page is {scroll} px wide at {width} px"


def test_on_a_phone_a_marketing_manager_builds_event_triggered_campaigns_with_a_propensity_filter(
        browser: Any, staff_site: StaffSite) -> None:
    segment, _ = _link_segment()
    savers = _savings_prospects(segment, 3)
    phone = browser.new_context(viewport=PHONE, is_mobile=True)
    try:
        tab = phone.new_page()
        sign_in(tab, staff_site, "marketing", "marta")
        tab.goto(f"{staff_site.base_url}/staff/campaigns")
        _fits(tab)
        # a churn-crossing retention offer, to customers the recommender may offer a savings account to
        tab.get_by_label("Name").fill("churn-crossing-phone")
        tab.get_by_label("Segment").select_option(segment)
        tab.get_by_label("Propensity for").select_option("savings_account")
        tab.get_by_label("Minimum propensity").fill("0.1")
        tab.get_by_label("Kind").select_option("offer")
        tab.get_by_label("Variant A: template or product").select_option("savings_account")
        tab.get_by_label("Conversion").select_option("offer_accepted")
        tab.get_by_label("triggered by an event").check()
        tab.get_by_label("Event", exact=True).select_option("churn_crossing")
        tab.get_by_label("Churn threshold").fill("0.6")
        tab.get_by_role("button", name="Preview (dry run)").click()
        tab.wait_for_load_state("load")
        assert tab.locator("#form-errors").count() == 0
        assert tab.locator("#preview").is_visible()
        previewed = int(tab.locator("#preview-audience").inner_text().replace(",", ""))
        assert previewed >= len(savers) >= 1, previewed  # the prospects, and any other eligible one scoring 0.1+
        assert tab.get_by_label("triggered by an event").is_checked()  # the form keeps its choices
        assert tab.get_by_label("Churn threshold").input_value() == "0.6"
        _fits(tab)
        tab.screenshot(path=str(ARTIFACTS / "campaign-trigger-preview-390.png"), full_page=True)

        tab.get_by_role("button", name="Save as draft").click()
        tab.wait_for_load_state("load")
        assert re.search(r"/staff/campaigns/\d+$", tab.url), tab.url
        campaign_id = int(tab.url.rsplit("/", 1)[1])
        trigger = tab.locator("#trigger").inner_text()
        assert "churn score crossing a threshold (threshold 0.6)" in trigger and "0 9 * * *" in trigger, trigger
        assert "propensity for savings_account from 0.1 to 1.0" in tab.locator("#propensity").inner_text()
        _fits(tab)
        tab.screenshot(path=str(ARTIFACTS / "campaign-trigger-detail-390.png"), full_page=True)
        with session_scope() as s:
            spec = s.scalar(select(Campaign.spec).where(Campaign.id == campaign_id))
        assert spec is not None
        assert {k: spec["schedule"][k] for k in ("kind", "event", "threshold")} == {
            "kind": "trigger", "event": "churn_crossing", "threshold": 0.6}
        assert spec["audience"]["propensity"] == {"product": "savings_account", "min": 0.1, "max": 1.0}
        # the page's dry run applied the filter as planning does: the same audience as the dry run of the stored spec
        stored = CampaignSpec.model_validate(spec, context={"stored": True})
        assert previewed == dry_run(stored, now=utcnow())["audience"]

        # the date events take their days before; a bad value comes back naming the field, nothing saved
        for event, days in (("card_expiry", "30"), ("deposit_maturity", "14"), ("payment_due", "120")):
            tab.goto(f"{staff_site.base_url}/staff/campaigns")
            tab.get_by_label("Name").fill(f"{event}-phone")
            tab.get_by_label("Segment").select_option(segment)
            tab.get_by_label("Variant A: template or product").select_option("statement_ready")
            tab.get_by_label("triggered by an event").check()
            tab.get_by_label("Event", exact=True).select_option(event)
            tab.get_by_label("Days before the event").fill(days)
            tab.get_by_role("button", name="Save as draft").click()
            tab.wait_for_load_state("load")
            if days == "120":
                assert "schedule.days_before" in tab.locator("#form-errors").inner_text()
                _fits(tab)
                continue
            assert f"({days} days before)" in tab.locator("#trigger").inner_text()
        with session_scope() as s:
            names = set(s.scalars(select(Campaign.name)))
        assert {"card_expiry-phone", "deposit_maturity-phone"} <= names and "payment_due-phone" not in names
    finally:
        phone.close()


def _term_deposit_holders(segment: str, at_least: int = 2) -> int:
    """Give term deposits to customers of ``segment`` until at least ``at_least`` hold one; returns how many of
    the segment hold one (the one "holds" rule, ``holds_product_sql``)."""
    def holders(s: Any) -> list[int]:
        return [int(c) for c in s.scalars(select(CustomerScore.customer_id).where(
            CustomerScore.segment == segment, holds_product_sql("term_deposit", CustomerScore.customer_id)))]

    with session_scope() as s:
        have = holders(s)
        others = sorted(int(c) for c in s.scalars(select(CustomerScore.customer_id).where(
            CustomerScore.segment == segment, CustomerScore.customer_id.not_in(have))))
        for cid in others[:max(0, at_least - len(have))]:
            s.execute(insert(Account).values(customer_id=cid, kind="term_deposit", name="Term deposit",
                                             balance=Decimal("5000"), number=f"PT50{uuid.uuid4().int % 10**21:021d}"))
    with session_scope() as s:
        return len(holders(s))


def test_on_a_phone_a_marketing_manager_targets_customers_without_a_term_deposit_with_a_text_per_channel(
        browser: Any, staff_site: StaffSite) -> None:
    segment, size = _link_segment()
    holders = _term_deposit_holders(segment)
    assert 0 < holders < size
    phone = browser.new_context(viewport=PHONE, is_mobile=True)
    try:
        tab = phone.new_page()
        sign_in(tab, staff_site, "marketing", "marta")
        tab.goto(f"{staff_site.base_url}/staff/campaigns")
        _fits(tab)
        tab.get_by_label("Name").fill("no-term-deposit-phone")
        tab.get_by_label("Segment").select_option(segment)
        tab.get_by_label("Variant A: template or product").select_option("statement_ready")
        tab.get_by_role("button", name="Preview (dry run)").click()
        tab.wait_for_load_state("load")
        assert tab.locator("#preview-audience").inner_text() == str(size)

        # "customers who don't have a term deposit yet", a different text on Telegram and on the web chat
        tab.get_by_role("group", name=re.compile("Has none of these products")).get_by_label("term deposit").check()
        tab.get_by_label("Variant A on Telegram", exact=True).select_option("update_contact")
        tab.get_by_label("Variant A on Telegram: greeting uses").select_option("last_name")
        tab.get_by_label("Variant A on the web chat", exact=True).select_option("payment_due")
        tab.get_by_role("button", name="Preview (dry run)").click()
        tab.wait_for_load_state("load")
        assert tab.locator("#form-errors").count() == 0
        assert tab.locator("#preview-audience").inner_text() == str(size - holders)  # narrowed by lacks
        assert "update_contact via telegram" in tab.locator("ul.messages").inner_text()  # the Telegram text
        assert tab.get_by_role("group", name=re.compile("Has none of these products")).get_by_label(
            "term deposit").is_checked()  # the form keeps its choices
        _fits(tab)
        tab.screenshot(path=str(ARTIFACTS / "campaign-lacks-preview-390.png"), full_page=True)

        # a card-expiry reminder checked daily at 07:30, with a propensity range; a bad maximum is shown by its field
        tab.get_by_label("triggered by an event").check()
        tab.get_by_label("Event", exact=True).select_option("card_expiry")
        tab.get_by_label("Check every day at").fill("07:30")
        tab.get_by_label("Propensity for").select_option("term_deposit")
        tab.get_by_label("Maximum propensity").fill("2")
        tab.get_by_role("button", name="Save as draft").click()
        tab.wait_for_load_state("load")
        error = tab.locator("#propensity_max-error")
        assert error.is_visible() and "audience.propensity.max" in error.inner_text()
        assert tab.get_by_label("Maximum propensity").get_attribute("aria-invalid") == "true"
        _fits(tab)
        tab.screenshot(path=str(ARTIFACTS / "campaign-field-error-390.png"), full_page=True)
        with session_scope() as s:
            assert s.scalar(select(Campaign.id).where(Campaign.name == "no-term-deposit-phone")) is None
        tab.get_by_label("Maximum propensity").fill("0.9")
        tab.get_by_role("button", name="Save as draft").click()
        tab.wait_for_load_state("load")
        assert re.search(r"/staff/campaigns/\d+$", tab.url), tab.url
        assert "has none of term_deposit" in tab.locator("#products").inner_text()
        messages = tab.locator("#messages").inner_text()
        assert "on Telegram: reminder update_contact (greeting: last name)" in messages, messages
        assert "on the web chat: reminder payment_due" in messages, messages
        assert "30 7 * * *" in tab.locator("#trigger").inner_text()
        _fits(tab)
        with session_scope() as s:
            spec = s.scalar(select(Campaign.spec).where(Campaign.name == "no-term-deposit-phone"))
        assert spec is not None
        assert spec["audience"]["lacks"] == ["term_deposit"] and spec["audience"]["holds"] == []
        assert spec["audience"]["propensity"] == {"product": "term_deposit", "min": 0.0, "max": 0.9}
        assert {ch: m["template"] for ch, m in spec["variants"][0]["messages"].items()} == {
            "telegram": "update_contact", "socketio": "payment_due"}
        assert spec["variants"][0]["messages"]["telegram"]["fields"] == {"push_name": "last_name"}
        assert spec["schedule"]["rule"] == "30 7 * * *" and spec["schedule"]["event"] == "card_expiry"
    finally:
        phone.close()


def _facebook_and_clv(segment: str) -> tuple[float, float, int]:
    """Link Facebook to every other customer of ``segment`` (by id) and choose a CLV range around the segment's
    middle half; returns (low, high, how many of the segment are on Facebook with a CLV in that range)."""
    with session_scope() as s:
        rows = sorted((int(c), float(v or 0)) for c, v in s.execute(select(CustomerScore.customer_id, CustomerScore.clv)
                                                              .where(CustomerScore.segment == segment,
                                                                     CustomerScore.clv.is_not(None))))
        assert len(rows) >= 4, rows
        on_facebook = set(s.scalars(select(MessengerLink.customer_id).where(MessengerLink.channel == "facebook")))
        new = [c for c, _ in rows[::2] if c not in on_facebook]
        if new:
            s.execute(insert(MessengerLink), [{"customer_id": c, "channel": "facebook", "external_id": f"fb-page-{c}"}
                                              for c in new])
        on_facebook |= set(new)
    clvs = sorted(v for _, v in rows)
    low, high = round(clvs[len(clvs) // 4] - 0.005, 2), round(clvs[3 * len(clvs) // 4] + 0.005, 2)
    expected = sum(1 for c, v in rows if c in on_facebook and low <= v <= high)
    return low, high, expected


def test_on_a_phone_a_marketing_manager_targets_facebook_customers_in_a_clv_range_with_three_variants(
        browser: Any, staff_site: StaffSite) -> None:
    segment, size = _link_segment()
    low, high, expected = _facebook_and_clv(segment)
    assert 0 < expected < size, (expected, size)
    phone = browser.new_context(viewport=PHONE, is_mobile=True)
    try:
        tab = phone.new_page()
        sign_in(tab, staff_site, "marketing", "marta")
        tab.goto(f"{staff_site.base_url}/staff/campaigns")
        _fits(tab)
        tab.get_by_label("Name").fill("facebook-clv-abc-phone")
        tab.get_by_label("Segment").select_option(segment)
        tab.get_by_label("Reachable on").select_option("facebook")
        tab.get_by_label("CLV from (EUR)").fill(f"{low:.2f}")
        tab.get_by_label("CLV to (EUR)").fill(f"{high:.2f}")
        tab.get_by_label("Variant A: template or product").select_option("statement_ready")
        tab.get_by_label("Variant B (optional)").select_option("payment_due")
        assert tab.get_by_label("Variant C (optional)").count() == 0
        tab.get_by_role("button", name=re.compile("Add a variant")).click()
        tab.wait_for_load_state("load")
        third = tab.get_by_label("Variant C (optional)")
        assert third.is_visible() and third.evaluate("el => el === document.activeElement")  # focus on the new one
        assert tab.get_by_label("Reachable on").input_value() == "facebook"  # the form kept what was filled
        assert tab.get_by_label("CLV from (EUR)").input_value() == f"{low:.2f}"
        _fits(tab)
        third.select_option("update_contact")
        tab.get_by_label("Variant C on Telegram", exact=True).select_option("card_expiry")
        tab.get_by_label("Split: % to A").fill("40")
        tab.get_by_label("Split: % to B").fill("30")
        tab.get_by_label("Split: % to C").fill("40")
        tab.get_by_role("button", name="Preview (dry run)").click()
        tab.wait_for_load_state("load")
        # 40 + 30 + 40: shown by the splits, next to the variants; nothing previewed
        error = tab.locator("#splits-error")
        assert error.is_visible() and "must sum to 100" in error.inner_text(), error.inner_text()
        assert tab.get_by_role("group", name=re.compile("Split between the variants")).get_attribute(
            "aria-invalid") == "true"
        assert tab.locator("#preview").count() == 0
        _fits(tab)
        tab.screenshot(path=str(ARTIFACTS / "campaign-splits-error-390.png"), full_page=True)

        tab.get_by_label("Split: % to C").fill("")  # the rest: 30
        tab.get_by_role("button", name="Preview (dry run)").click()
        tab.wait_for_load_state("load")
        assert tab.locator("#form-errors").count() == 0
        assert tab.locator("#preview-audience").inner_text() == str(expected)  # narrowed by channel and CLV
        assert "in variant C" in tab.locator("#preview").inner_text()
        assert tab.get_by_label("Variant C (optional)").input_value() == "update_contact"
        _fits(tab)
        tab.screenshot(path=str(ARTIFACTS / "campaign-three-variants-preview-390.png"), full_page=True)
        with session_scope() as s:
            assert s.scalar(select(Campaign.id).where(Campaign.name == "facebook-clv-abc-phone")) is None

        tab.get_by_role("button", name="Save as draft").click()
        tab.wait_for_load_state("load")
        assert re.search(r"/staff/campaigns/\d+$", tab.url), tab.url
        filters = tab.locator("#filters").inner_text()
        assert "reachable on Facebook" in filters and f"CLV from {low:g} to {high:g} EUR" in filters, filters
        messages = tab.locator("#messages").inner_text()
        assert "Variant C (30%): reminder update_contact" in messages and "on Telegram: reminder card_expiry" in messages
        _fits(tab)
        with session_scope() as s:
            campaign = s.scalars(select(Campaign).where(Campaign.name == "facebook-clv-abc-phone")).one()
            spec, audience_size = campaign.spec, campaign.audience_size
        assert audience_size == expected
        assert (spec["audience"]["channel"], spec["audience"]["min_clv"], spec["audience"]["max_clv"]) == (
            "facebook", low, high)
        assert [(v["name"], v["split"]) for v in spec["variants"]] == [("A", 40), ("B", 30), ("C", 30)]
        assert spec["variants"][2]["messages"]["telegram"]["template"] == "card_expiry"
    finally:
        phone.close()


def test_on_a_phone_a_finished_campaign_page_fits_with_its_funnel_uplift_and_recipients(
        browser: Any, staff_site: StaffSite, override_settings: Any, tmp_path: Path) -> None:
    """A campaign that has run (A/B and control: the funnel, the per-variant uplift, the per-recipient log, the
    plot) read on a 390 px phone: nothing is wider than the screen (the funnel table was 521 px wide and pushed
    the whole page sideways; the header with its Campaigns link 393 px). Wide tables scroll inside themselves."""
    from api.campaign_queue import reset_queue, sweep
    from profiles.campaigns.store import create_campaign, transition
    from tests.browser.test_campaign_done_when_browser import work

    override_settings(campaign_sender="record", quiet_hours_start=0, quiet_hours_end=0,
                      campaign_queue_file=tmp_path / "q.db", campaign_queue_name=f"ph-{uuid.uuid4().hex[:8]}",
                      campaign_rate_telegram="", campaign_rate_facebook="", campaign_rate_web="")
    reset_queue()
    segment, _ = _link_segment()
    spec = CampaignSpec.model_validate({
        "name": "funnel-on-a-phone", "goal": {"conversion": "profile_updated"}, "audience": {"segment": segment},
        "variants": [{"name": "A", "split": 50, "message": {"kind": "reminder", "template": "statement_ready"}},
                     {"name": "B", "split": 50, "message": {"kind": "reminder", "template": "payment_due"}}],
        "control_pct": 10})
    cid = create_campaign(spec, actor="staff:marta").id
    transition(cid, "schedule", actor="staff:marta")
    work(utcnow())
    sweep(min_age_minutes=0)
    phone = browser.new_context(viewport=PHONE, is_mobile=True)
    try:
        tab = phone.new_page()
        sign_in(tab, staff_site, "marketing", "marta-with-a-long-name")
        tab.goto(f"{staff_site.base_url}/staff/campaigns/{cid}")
        assert tab.locator("#state").inner_text() == "done"
        assert tab.locator("#funnel tbody tr").count() == 3 and tab.locator("#variant-uplift tbody tr").count() == 2
        assert tab.locator("#recipients tbody tr").count() > 0
        tab.screenshot(path=str(ARTIFACTS / "campaign-done-390.png"), full_page=True)
        _fits(tab)
    finally:
        phone.close()
        reset_queue()
