"""Bot analytics over HTTP (GET /analytics/bot, GET /staff/analytics), both backends, on the hand-built events of
tests/profiles/test_bot_analytics.py: roles (marketing sees the aggregates, nobody unsigned), the date range, the
charts' alt text and the tables' numbers."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import app
from profiles import issue_staff_token
from tests.profiles.test_bot_analytics import events  # noqa: F401 - the fixture

RANGE = {"date_from": "2025-12-01", "date_to": "2025-12-02"}


@pytest.fixture
def client(events: None) -> Iterator[TestClient]:  # noqa: F811
    with TestClient(app) as c:
        yield c


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_staff_token('ana', role)}"}


def test_json_for_every_analytics_role(client: TestClient) -> None:
    for role in ("staff", "admin", "marketing"):
        body = client.get("/analytics/bot", params=RANGE, headers=bearer(role)).json()
        assert (body["conversations"], body["messages"]) == (3, 7), role
    assert body["containment"]["part"] == 2 and body["transfers"]["completed"] == 1
    assert body["handoff_wait"]["median_wait_s"] == 600
    assert body["csat"]["by_day"] == [{"day": "2025-12-01", "ratings": 1, "mean": 4},
                                      {"day": "2025-12-02", "ratings": 1, "mean": 2}]
    assert "conv-" not in str(body)
    assert client.get("/analytics/bot", params=RANGE).status_code == 401
    bad = client.get("/analytics/bot", params={"date_from": "2025-12-05", "date_to": "2025-12-01"}, headers=bearer("staff"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "date_from"]


def test_page_charts_and_tables(client: TestClient) -> None:
    page = client.get("/staff/analytics", params=RANGE, headers=bearer("marketing"))
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    html = page.text
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)"', html)
    assert len(images) == 4  # rates, channels, intents, CSAT
    assert all(base64.b64decode(data).startswith(b"\x89PNG") and len(alt) > 40 for data, alt in images)
    assert "containment 67%" in html and "telegram 1 conversations" in html
    summary = html.split('id="summary-table"')[1].split("</table>")[0]
    assert "2 of 3 conversations" in summary and "1 of 7 messages" in summary and "1 of 2 transfers started" in summary
    handoffs = html.split('id="handoff-table"')[1].split("</table>")[0]
    assert re.sub(r"\s+", "", handoffs).count("<td>10min</td>") == 2 and "15 min" in handoffs
    failing = html.split('id="failing-table"')[1].split("</table>")[0]
    assert failing.index("check_balance") < failing.index("transfer_money")
    assert "conv-a" not in html and "(transfer_money)" not in html  # no sender ids, no message texts


def test_page_roles_and_bad_range(client: TestClient) -> None:
    assert client.get("/staff/analytics", follow_redirects=False).status_code == 303
    bad = client.get("/staff/analytics", params={"date_from": "yesterday"}, headers=bearer("staff"))
    assert bad.status_code == 422 and "date_from must be a date" in bad.text
    empty = client.get("/staff/analytics", params={"date_from": "2024-01-01", "date_to": "2024-01-02"},
                       headers=bearer("admin"))
    assert empty.status_code == 200 and "No conversations in this range." in empty.text and "<img" not in empty.text
