"""Staff pages in a real browser (Chromium via Playwright) against the running API over seeded, scored data."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from profiles.customer360 import add_staff_note
from profiles.db import session_scope
from profiles.models import AccessLog
from profiles.staff import issue_staff_token
from tests.browser.conftest import ARTIFACTS, StaffSite


def sign_in(page: Any, site: StaffSite, role: str, user: str) -> None:
    """Open the dashboard, land on the sign-in page, paste a token and submit."""
    page.goto(f"{site.base_url}/staff")
    assert page.url.startswith(f"{site.base_url}/staff/sign-in")
    page.get_by_label("Staff token").fill(issue_staff_token(user, role))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")


def test_staff_member_signs_in_sees_the_charts_and_opens_a_customer_360(page: Any, staff_site: StaffSite) -> None:
    sign_in(page, staff_site, "staff", "ana")
    assert page.url == f"{staff_site.base_url}/staff"
    assert page.get_by_role("heading", level=1).inner_text() == "Customer analyses"
    status = page.locator("p.status").inner_text()
    assert re.search(r"\b40 of 40 customers scored", status), status

    # every chart is a loaded image with alt text
    charts = page.locator("figure img")
    assert charts.count() == 4
    for i in range(charts.count()):
        chart = charts.nth(i)
        assert chart.evaluate("img => img.complete && img.naturalWidth > 300")
        assert len(chart.get_attribute("alt") or "") > 40
    segments = page.locator("#segment-table tbody tr")
    assert segments.count() >= 2
    total = sum(int(segments.nth(i).locator("td").first.inner_text().replace(",", "")) for i in range(segments.count()))
    assert total == 40

    # the session cookie is HttpOnly and SameSite=Strict: scripts cannot read it
    cookies = page.context.cookies()
    assert [(c["name"], c["httpOnly"], c["sameSite"]) for c in cookies] == [("nova_staff", True, "Strict")]
    assert page.evaluate("document.cookie") == ""
    page.screenshot(path=str(ARTIFACTS / "dashboard-staff.png"), full_page=True)

    # open the customer with the highest churn risk; a staff note written meanwhile is on their timeline
    link = page.locator("#risk-table tbody a").first
    customer_id = int((link.get_attribute("href") or "").rsplit("/", 1)[1])
    add_staff_note(customer_id, "Called about a mortgage renewal; call back Friday.", staff="ana")
    name = link.inner_text().split(" (no.")[0]
    link.click()
    page.wait_for_load_state("load")
    assert page.url == f"{staff_site.base_url}/staff/customers/{customer_id}"
    assert name in page.get_by_role("heading", level=1).inner_text()
    timeline = page.locator("#timeline li")
    assert timeline.count() >= 1
    assert "Called about a mortgage renewal" in timeline.first.inner_text()
    assert page.locator("#scores-table").get_by_text("Churn risk").count() == 1
    assert page.locator("#products-table tbody tr").count() >= 2
    page.screenshot(path=str(ARTIFACTS / "customer-360.png"), full_page=True)

    with session_scope() as session:
        actions = [(r.staff, r.customer_id, r.action) for r in session.scalars(
            select(AccessLog).where(AccessLog.customer_id == customer_id).order_by(AccessLog.id))]
    assert actions[-1] == ("ana", customer_id, "read_360")


def test_marketing_sees_the_dashboard_but_not_a_customer_page(page: Any, staff_site: StaffSite) -> None:
    sign_in(page, staff_site, "marketing", "mia")
    assert page.get_by_role("heading", level=1).inner_text() == "Customer analyses"
    assert page.locator("figure img").count() == 4
    assert page.locator("#risk-table").count() == 0
    response = page.goto(f"{staff_site.base_url}/staff/customers/1")
    assert response is not None and response.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "Not allowed"
    assert "@example.com" not in page.content()
    page.screenshot(path=str(ARTIFACTS / "customer-403-marketing.png"), full_page=True)


def test_without_a_token_the_browser_gets_the_sign_in_page(page: Any, staff_site: StaffSite) -> None:
    response = page.goto(f"{staff_site.base_url}/staff/customers/1")
    assert response is not None and response.status == 200
    assert page.url == f"{staff_site.base_url}/staff/sign-in?next=%2Fstaff%2Fcustomers%2F1"
    assert page.get_by_role("heading", level=1).inner_text() == "Staff sign-in"
    assert page.get_by_label("Staff token").count() == 1
    # a wrong token is refused with a message and no cookie
    page.get_by_label("Staff token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")
    assert "not a valid staff token" in page.get_by_role("alert").inner_text()
    assert page.context.cookies() == []
    page.screenshot(path=str(ARTIFACTS / "sign-in-refused.png"), full_page=True)


def _foreign(requested: list[str], site: StaffSite) -> list[str]:
    """The requested http(s) URLs that are not on the API's own host."""
    host = urlsplit(site.base_url).netloc
    return [url for url in requested if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != host]


def test_swagger_ui_renders_offline_from_local_assets(page: Any, staff_site: StaffSite) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{staff_site.base_url}/docs")
    # Swagger UI builds the operation list from /openapi.json: it only appears when its script ran.
    page.locator(".opblock").first.wait_for(timeout=15_000)
    assert page.locator(".opblock").count() > 10
    assert any(path.startswith("/customers") for path in page.locator(".opblock-summary-path").all_inner_texts())
    page.screenshot(path=str(ARTIFACTS / "api_docs.png"))
    assert _foreign(requested, staff_site) == []
    assert any(url.endswith("/static/swagger/swagger-ui-bundle.js") for url in requested)

