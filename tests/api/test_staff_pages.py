"""Staff pages over HTTP (/staff...): sign-in cookie, roles, the dashboard's aggregates and a customer's 360,
on both database backends. Scores are written as the batch scorer writes them (``customer_scores`` rows)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from api.main import app
from profiles import issue_staff_token, issue_token
from profiles.db import session_scope
from profiles.identity import ALGORITHM, ISSUER
from profiles.models import AccessLog, Account, Customer, CustomerScore, Interaction, utcnow
from profiles.reports import CHURN_BINS, churn_distribution, dashboard, segment_profiles
from profiles.seed import seed
from profiles.settings import get_settings

N = 12
SEGMENTS = ("Established savers", "Young digitals", "Borrowers")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _scores() -> dict[int, dict[str, object]]:
    """Deterministic scores: customer i gets churn (i - 1) / 12, segment by i % 3, CLV 100 * i."""
    rows: dict[int, dict[str, object]] = {}
    for cid in range(1, N + 1):
        p = (cid - 1) / N
        rows[cid] = {
            "customer_id": cid, "clv": 100.0 * cid, "churn_probability": p,
            "churn_band": "high" if p >= 0.6 else "medium" if p >= 0.3 else "low",
            "segment": SEGMENTS[cid % 3], "product_count": 1 + cid % 4, "credit_band": "B",
            "credit_default_probability": 0.07, "loyalty_score": 0.4, "loyalty_tier": "silver",
            "interactions_90d": 2, "recency_days": 3, "channel_mix": {"rest": 1.0},
            "model_versions": {"churn": "churn-gb-test", "clv": "clv-rule-1", "segments": "kmeans-test",
                               "credit": "credit-test", "loyalty": "loyalty-rule-1", "behaviour": "behaviour-1"},
        }
    return rows


@pytest.fixture
def client(db: Engine) -> Iterator[TestClient]:
    seed(N, progress=False)
    with session_scope(write=True) as session:
        for row in _scores().values():
            session.add(CustomerScore(**row, computed_at=utcnow()))
        session.add(Interaction(customer_id=2, kind="chat_message", channel="rest", direction="inbound",
                                summary="how much is in my savings?", actor="customer:2", occurred_at=utcnow()))
        session.add(Interaction(customer_id=2, kind="offer", channel="rest", direction="outbound",
                                summary="Offered a credit card: declined", actor="bot",
                                occurred_at=utcnow() - timedelta(days=2)))
    with TestClient(app) as c:
        yield c


def bearer(role: str, user: str = "ana") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_staff_token(user, role)}"}


def access_rows() -> list[tuple[str, str, int | None, str]]:
    with session_scope() as session:
        return [(r.staff, r.role, r.customer_id, r.action) for r in session.scalars(select(AccessLog).order_by(AccessLog.id))]


# --------------------------------------------------------------------------------------------------- sign-in


def test_no_token_goes_to_the_sign_in_page(client: TestClient) -> None:
    response = client.get("/staff/customers/3", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/sign-in?next=%2Fstaff%2Fcustomers%2F3"
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert '<label for="token">Staff token</label>' in page.text
    assert 'name="next" value="/staff/customers/3"' in page.text
    assert access_rows() == []


def test_sign_in_sets_a_strict_http_only_cookie_that_opens_the_pages(client: TestClient) -> None:
    token = issue_staff_token("ana", "staff")
    response = client.post("/staff/sign-in", content=f"token={token}&next=%2Fstaff%2Fcustomers%2F2", headers=FORM,
                           follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/customers/2"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"nova_staff={token};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/staff" in cookie
    page = client.get("/staff/customers/2")  # the client keeps the cookie
    assert page.status_code == 200
    assert "<h2 id=\"timeline-heading\">Timeline</h2>" in page.text
    out = client.post("/staff/sign-out", headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert out.status_code == 303 and 'nova_staff=""' in out.headers["set-cookie"]
    client.cookies.clear()
    assert client.get("/staff", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("body", "status"),
    [("token=not-a-token", 401), ("token=", 422), ("next=/staff", 422), ("customer", 401), ("token=" + "x" * 5000, 413)],
    ids=["garbage", "empty", "missing", "customer-token", "too-long"],
)
def test_a_bad_sign_in_sets_no_cookie(client: TestClient, body: str, status: int) -> None:
    if body == "customer":
        body = f"token={issue_token(1)}"
    response = client.post("/staff/sign-in", content=body, headers=FORM, follow_redirects=False)
    assert response.status_code == status
    assert "set-cookie" not in response.headers
    assert 'role="alert"' in response.text


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"}],
                         ids=["other-origin", "opaque-origin", "cross-site-fetch"])
def test_sign_in_from_another_site_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    token = issue_staff_token("ana", "staff")
    response = client.post("/staff/sign-in", content=f"token={token}", headers={**FORM, **headers},
                           follow_redirects=False)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


def test_sign_in_from_the_own_page_is_accepted(client: TestClient) -> None:
    token = issue_staff_token("ana", "staff")
    headers = {**FORM, "Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    response = client.post("/staff/sign-in", content=f"token={token}", headers=headers, follow_redirects=False)
    assert response.status_code == 303 and response.headers["set-cookie"].startswith("nova_staff=")


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"},
                                     {"Referer": "https://evil.example/page"}, {}],
                         ids=["other-origin", "opaque-origin", "cross-site-fetch", "other-referer", "no-origin"])
def test_sign_out_from_another_site_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    """A cross-site form could sign staff out (CSRF); SameSite=Strict alone left posts without a cookie check."""
    client.cookies.set("nova_staff", issue_staff_token("ana", "staff"), path="/staff")
    response = client.post("/staff/sign-out", headers=headers, follow_redirects=False)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers  # still signed in
    assert client.get("/staff", follow_redirects=False).status_code == 200


@pytest.mark.parametrize("headers", [{"Origin": "http://testserver"}, {"Sec-Fetch-Site": "same-origin"},
                                     {"Referer": "http://testserver/staff"}], ids=["origin", "fetch-site", "referer"])
def test_sign_out_from_the_own_pages_is_accepted(client: TestClient, headers: dict[str, str]) -> None:
    client.cookies.set("nova_staff", issue_staff_token("ana", "staff"), path="/staff")
    response = client.post("/staff/sign-out", headers=headers, follow_redirects=False)
    assert response.status_code == 303 and 'nova_staff=""' in response.headers["set-cookie"]


def test_sign_in_with_a_cookie_and_no_origin_is_refused(client: TestClient) -> None:
    client.cookies.set("nova_staff", issue_staff_token("ana", "staff"), path="/staff")
    token = issue_staff_token("eve", "admin")
    response = client.post("/staff/sign-in", content=f"token={token}", headers=FORM, follow_redirects=False)
    assert response.status_code == 403 and "set-cookie" not in response.headers


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/staff", "/docs", "/staff\\@evil"])
def test_sign_in_never_redirects_off_the_staff_pages(client: TestClient, target: str) -> None:
    token = issue_staff_token("ana", "admin")
    response = client.post("/staff/sign-in", data={"token": token, "next": target}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/staff"


def test_an_expired_cookie_goes_back_to_sign_in_and_is_cleared(client: TestClient) -> None:
    now = utcnow()
    claims = {"sub": "ana", "role": "staff", "aud": "staff", "iss": ISSUER, "iat": now - timedelta(hours=9),
              "exp": now - timedelta(hours=1)}
    client.cookies.set("nova_staff", jwt.encode(claims, get_settings().jwt_secret, algorithm=ALGORITHM), path="/staff")
    response = client.get("/staff", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/staff/sign-in?next=%2Fstaff&expired=1")
    assert 'nova_staff=""' in response.headers["set-cookie"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [({"Authorization": "Bearer garbage"}, 401), ("customer", 401), ("forged", 401)],
    ids=["garbage", "customer-token", "forged"],
)
def test_a_bad_bearer_token_is_401(client: TestClient, headers: object, status: int) -> None:
    if headers == "customer":
        headers = {"Authorization": f"Bearer {issue_token(1)}"}
    elif headers == "forged":
        claims = {"sub": "eve", "role": "admin", "aud": "staff", "iss": ISSUER, "exp": 4102444800}
        headers = {"Authorization": f"Bearer {jwt.encode(claims, 'not-the-secret-but-long-enough-000000', algorithm='HS256')}"}
    response = client.get("/staff/customers/1", headers=headers)  # type: ignore[arg-type]
    assert response.status_code == status
    assert response.headers["www-authenticate"] == "Bearer"
    assert "@example.com" not in response.text
    assert access_rows() == []


# ------------------------------------------------------------------------------------------------- dashboard


def test_dashboard_shows_the_aggregates_of_the_scores(client: TestClient) -> None:
    response = client.get("/staff", headers=bearer("staff"))
    assert response.status_code == 200
    text = response.text
    alts = re.findall(r'<img src="data:image/png;base64,[^"]+" alt="([^"]*)"', text)
    assert len(alts) == 4  # sizes, profiles, CLV, churn: each with alt text
    assert all(len(alt) > 40 for alt in alts)
    # segment sizes: 12 customers, i % 3 -> 4 each
    for name in SEGMENTS:
        assert re.search(rf'<th scope="row">{name}</th><td>4</td><td>33.3%</td>', text)
    # churn bands: p = 0/12 .. 11/12 -> low 0..3 (4), medium 4..7 (4), high 8..11 (4)
    band_table = text[text.index('id="band-table"'):]
    assert re.search(r'<th scope="row">low</th><td>4</td><td>12.5%</td>', band_table)
    assert re.search(r'<th scope="row">high</th><td>4</td><td>79.2%</td>', band_table)
    assert "churn-gb-test" in text
    # the highest churn risk list links to the customer with the highest probability first, and is logged
    risk = text[text.index('id="risk-table"'):]
    assert risk.index('href="/staff/customers/12"') < risk.index('href="/staff/customers/11"')
    logged = access_rows()
    assert len(logged) == 10 and logged[0] == ("ana", "staff", 12, "staff_page")
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_marketing_sees_aggregates_only(client: TestClient) -> None:
    response = client.get("/staff", headers=bearer("marketing", "mia"))
    assert response.status_code == 200
    assert "Segment sizes and profiles" in response.text
    assert 'id="risk-table"' not in response.text and 'action="/staff/customers"' not in response.text
    assert "@example.com" not in response.text and "/staff/customers/" not in response.text
    assert access_rows() == []


def test_dashboard_before_any_scoring_says_so(client: TestClient) -> None:
    with session_scope(write=True) as session:
        session.query(CustomerScore).delete()
    response = client.get("/staff", headers=bearer("admin"))
    assert response.status_code == 200
    assert "No scores yet" in response.text
    assert "0 of 12 customers scored" in response.text
    assert "data:image/png" not in response.text


def test_report_queries_match_the_rows(client: TestClient) -> None:
    """Segment means and the churn histogram from SQL equal the same figures computed row by row."""
    scores = _scores()
    with session_scope() as session:
        ages = {c.id: c.age for c in session.scalars(select(Customer))}
        balance: dict[int, Decimal] = {}
        for a in session.scalars(select(Account)):
            balance[a.customer_id] = balance.get(a.customer_id, Decimal("0")) + a.balance
        profiles = {p.segment: p for p in segment_profiles(session)}
        bins, bands = churn_distribution(session)
    for name in SEGMENTS:
        members = [cid for cid, row in scores.items() if row["segment"] == name]
        p = profiles[name]
        assert p.customers == len(members)
        assert p.mean_age == pytest.approx(sum(ages[c] for c in members) / len(members))
        expected_balance = (sum((balance[c] for c in members), Decimal(0)) / len(members)).quantize(Decimal("0.01"))
        assert abs(p.mean_balance - expected_balance) <= Decimal("0.01")  # type: ignore[operator]
        assert p.total_clv == pytest.approx(sum(100.0 * c for c in members))
        assert p.mean_products == pytest.approx(sum(1 + c % 4 for c in members) / len(members))
    per_bin: dict[float, int] = {}
    for b in bins:
        per_bin[round(b.lower, 2)] = per_bin.get(round(b.lower, 2), 0) + b.customers
    expected: dict[float, int] = {}
    for row in scores.values():
        index = min(int(float(row["churn_probability"]) * CHURN_BINS + 1e-9), CHURN_BINS - 1)  # type: ignore[arg-type]
        lower = round(index / CHURN_BINS, 2)
        expected[lower] = expected.get(lower, 0) + 1
    assert per_bin == expected
    assert [b.band for b in bands] == ["low", "medium", "high"]
    assert dashboard().status.scored == N


# ----------------------------------------------------------------------------------------- customer 360 page


def test_customer_page_shows_the_360_and_logs_the_view(client: TestClient) -> None:
    response = client.get("/staff/customers/2", headers=bearer("staff"))
    assert response.status_code == 200
    text = response.text
    with session_scope() as session:
        customer = session.get(Customer, 2)
        assert customer is not None
        numbers = list(session.scalars(select(Account.number).where(Account.customer_id == 2)))
        name, email = f"{customer.first_name} {customer.last_name}", customer.email
    assert f"<h1>{name} " in text and email in text
    assert all(n not in text and f"•••• {n[-4:]}" in text for n in numbers)  # masked, last 4 digits only
    assert '<th scope="row">marketing</th><td>all</td>' in text
    assert "churn-gb-test" in text and "kmeans-test" in text
    timeline = text[text.index('id="timeline"'):]
    assert timeline.index("how much is in my savings?") < timeline.index("Offered a credit card: declined")
    assert access_rows() == [("ana", "staff", 2, "read_360")]


@pytest.mark.parametrize(("size", "children", "shown"), [
    (None, None, "not known"), (None, 1, "size not known, 1 child"), (3, 2, "3 people, 2 children"),
    (1, 0, "1 person, no children"), (2, None, "2 people, children not known"),
])
def test_customer_page_household_wording(client: TestClient, size: int | None, children: int | None,
                                         shown: str) -> None:
    with session_scope(write=True) as session:
        customer = session.get(Customer, 2)
        assert customer is not None
        customer.household_size, customer.children = size, children
    text = client.get("/staff/customers/2", headers=bearer("staff")).text
    assert f"<dt>Household</dt><dd>{shown}</dd>" in text


def test_marketing_cannot_open_a_customer_page(client: TestClient) -> None:
    response = client.get("/staff/customers/2", headers=bearer("marketing", "mia"))
    assert response.status_code == 403
    assert "<h1>Not allowed</h1>" in response.text
    assert "@example.com" not in response.text and "savings?" not in response.text
    assert access_rows() == []
    assert client.get("/staff/customers?id=2", headers=bearer("marketing", "mia")).status_code == 403


@pytest.mark.parametrize("ident", ["999", "0", "abc", "1e3", "99999999999999999999999"])
def test_unknown_customer_is_404_and_nothing_logged(client: TestClient, ident: str) -> None:
    response = client.get(f"/staff/customers/{ident}", headers=bearer("admin"))
    assert response.status_code == 404
    assert "<h1>No such customer</h1>" in response.text
    assert access_rows() == []


def test_lookup_form_redirects_to_the_customer(client: TestClient) -> None:
    response = client.get("/staff/customers?id=7", headers=bearer("staff"), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/staff/customers/7"
    assert client.get("/staff/customers?id=seven", headers=bearer("staff")).status_code == 404


def test_stylesheet_is_public(client: TestClient) -> None:
    response = client.get("/staff/static/staff.css")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")


def test_dashboard_follows_a_new_scoring_run(client: TestClient) -> None:
    """The cached aggregates are recomputed as soon as scores change (new computed_at)."""
    assert re.search(r'<th scope="row">Borrowers</th><td>4</td>', client.get("/staff", headers=bearer("marketing")).text)
    with session_scope(write=True) as session:
        row = session.get(CustomerScore, 1)
        assert row is not None
        row.segment, row.computed_at = "Borrowers" if row.segment != "Borrowers" else "Young digitals", utcnow()
    text = client.get("/staff", headers=bearer("marketing")).text
    assert re.search(r'<th scope="row">Borrowers</th><td>(5|3)</td>', text)
