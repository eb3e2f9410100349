"""A marketing manager in a real browser (Chromium via Playwright) builds a campaign for a segment with a 10%
control group and an A/B split, previews it (dry run), saves and schedules it; the real worker process
(``python -m api.campaign_worker``) sends it, and the campaign page shows the delivery log, the funnel and the
uplift with its interval. The site's sender is ``record`` (tests/browser/conftest.py: no messenger cloud here;
a delivery writes its row after the same send-time checks)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from profiles.campaigns.models import Campaign
from profiles.db import session_scope
from profiles.models import CustomerScore, MessengerLink
from tests.browser.conftest import ARTIFACTS, ROOT, StaffSite
from tests.browser.test_staff_pages_browser import sign_in


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
    control = round(size * 0.1)
    assert counts == {"control": control, "delivered": size - control}, counts
    assert page.locator("#funnel tbody tr").count() == 3  # A, B, control
    assert "95% CI" in page.locator("#uplift").inner_text()
    assert page.locator("figure img").evaluate("img => img.complete && img.naturalWidth > 300")
    audit = page.locator("#audit").inner_text()
    assert "staff:marta · created" in audit and "staff:marta · schedule" in audit and "finish → done" in audit
    page.screenshot(path=str(ARTIFACTS / "campaign-done.png"), full_page=True)
