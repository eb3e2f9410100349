"""Marketing pages (/staff/campaigns) over a real database: roles, Origin checks on every state-changing form
(foreign, null or missing Origin -> 403, nothing written), preview writes nothing, create, the detail page with
funnel and uplift, and the actions."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, case, delete, func, insert, select, update

from api.campaign_queue import get_queue, reset_queue
from api.main import app
from profiles.campaigns.models import Campaign, CampaignDelivery
from profiles.db import session_scope
from profiles.models import Account, Consent, CustomerScore, MessengerLink
from profiles.staff import issue_staff_token
from tests.profiles.campaign_data import bulk_customers

ORIGIN = {"Origin": "http://testserver"}

NO_SEND_RATE = {"campaign_rate_telegram": "", "campaign_rate_facebook": "", "campaign_rate_web": ""}  # not these tests' subject


@pytest.fixture
def client(sqlite_db: Engine, override_settings: Callable[..., None], tmp_path: Path) -> Iterator[TestClient]:
    override_settings(**NO_SEND_RATE, campaign_sender="record", quiet_hours_start=0, quiet_hours_end=0,
                      campaign_queue_file=tmp_path / "q.db", campaign_queue_name=f"p-{uuid.uuid4().hex[:8]}")
    reset_queue()
    get_queue().immediate = True
    bulk_customers(30)
    with TestClient(app, follow_redirects=False) as c:
        yield c
    reset_queue()


def auth(role: str = "marketing") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_staff_token(f'{role}-user', role)}"}


def form(**over: str | list[str]) -> dict[str, str | list[str]]:
    """The build form's fields (a list: several ticked boxes of one name), ``over`` replacing the defaults."""
    return {"name": f"page-{uuid.uuid4().hex[:6]}", "segment": "affluent", "kind": "reminder",
            "content_a": "statement_ready", "content_b": "payment_due", "split_a": "50", "control_pct": "10",
            "conversion": "profile_updated", "window_days": "7", "when": "now", "do": "create"} | over


def stored() -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(Campaign)) or 0)


@pytest.mark.parametrize("origin", [None, "null", "http://evil.example", "http://testserver.evil.example"])
def test_forms_refuse_a_foreign_or_missing_origin(client: TestClient, origin: str | None) -> None:
    headers = auth() | ({"Origin": origin} if origin else {})
    assert client.post("/staff/campaigns", data=form(), headers=headers).status_code == 403
    assert stored() == 0
    created = client.post("/staff/campaigns", data=form(), headers=auth() | ORIGIN)
    assert created.status_code == 303
    cid = created.headers["location"].rsplit("/", 1)[1]
    assert client.post(f"/staff/campaigns/{cid}/schedule", headers=headers).status_code == 403
    with session_scope() as s:
        assert s.scalar(select(Campaign.state)) == "draft"


def test_roles(client: TestClient) -> None:
    assert client.get("/staff/campaigns", headers=auth("staff")).status_code == 403
    assert client.get("/staff/campaigns", headers=auth("marketing")).status_code == 200
    assert client.get("/staff/campaigns").status_code == 303  # to the sign-in page
    assert client.post("/staff/campaigns", data=form(), headers=auth("staff") | ORIGIN).status_code == 403
    assert stored() == 0


def test_preview_writes_nothing_and_errors_name_the_field(client: TestClient) -> None:
    page = client.post("/staff/campaigns", data=form(do="preview"), headers=auth() | ORIGIN)
    assert page.status_code == 200 and "Dry run" in page.text
    assert 'id="preview-audience">10<' in page.text and 'id="preview-control">1<' in page.text
    bad = client.post("/staff/campaigns", data=form(split_a="150"), headers=auth() | ORIGIN)
    assert bad.status_code == 422 and "variants" in bad.text
    past = client.post("/staff/campaigns", data=form(when="at", at="2020-01-01T09:00"), headers=auth() | ORIGIN)
    assert past.status_code == 422 and "schedule" in past.text and "past" in past.text
    assert stored() == 0


def test_create_schedule_and_read_the_funnel(client: TestClient) -> None:
    cid = client.post("/staff/campaigns", data=form(), headers=auth() | ORIGIN).headers["location"].rsplit("/", 1)[1]
    assert client.post(f"/staff/campaigns/{cid}/schedule", headers=auth() | ORIGIN).status_code == 303
    page = client.get(f"/staff/campaigns/{cid}", headers=auth())
    assert page.status_code == 200
    assert 'id="state">done<' in page.text
    assert "<td>delivered</td><td>9</td>" in page.text and "<td>control</td><td>1</td>" in page.text
    assert 'id="uplift"' in page.text and "95% CI" in page.text and "data:image/png;base64," in page.text
    # each variant against the control group, with its interval and test
    assert 'id="variant-uplift"' in page.text and ">A</th>" in page.text and ">B</th>" in page.text
    assert "staff:marketing-user · schedule" in page.text
    assert "/pause" not in page.text and "/schedule" not in page.text  # only the moves its state allows
    again = client.post(f"/staff/campaigns/{cid}/pause", headers=auth() | ORIGIN)
    assert again.status_code == 409
    assert client.get("/staff/campaigns/424242", headers=auth()).status_code == 404


def test_recurring_rule_from_the_build_form(client: TestClient) -> None:
    foreign = client.post("/staff/campaigns", data=form(when="recurring", rule="0 9 * * 1"),
                          headers=auth() | {"Origin": "http://evil.example"})
    assert foreign.status_code == 403 and stored() == 0
    bad = client.post("/staff/campaigns", data=form(when="recurring", rule="0 99 * * 1"), headers=auth() | ORIGIN)
    assert bad.status_code == 422 and "schedule.rule" in bad.text and stored() == 0
    bad_end = client.post("/staff/campaigns", data=form(when="recurring", rule="0 9 * * 1", until="2020-01-01T00:00"),
                          headers=auth() | ORIGIN)
    assert bad_end.status_code == 422 and "schedule.until" in bad_end.text and stored() == 0
    made = client.post("/staff/campaigns", data=form(when="recurring", rule="0 9 * * 1"), headers=auth() | ORIGIN)
    assert made.status_code == 303
    page = client.get(made.headers["location"], headers=auth())
    assert 'id="recurring"' in page.text and "<code>0 9 * * 1</code>" in page.text and "next run" in page.text


@pytest.mark.parametrize(("fields", "expected"), [
    ({"event": "card_expiry", "days_before": "21"},
     {"kind": "trigger", "event": "card_expiry", "days_before": 21, "threshold": None}),
    ({"event": "deposit_maturity", "days_before": "", "threshold": "0.4"},  # a threshold a date event ignores
     {"kind": "trigger", "event": "deposit_maturity", "days_before": 30, "threshold": None}),
    ({"event": "payment_due", "days_before": "5"},
     {"kind": "trigger", "event": "payment_due", "days_before": 5, "threshold": None}),
    ({"event": "churn_crossing", "threshold": "0.6", "days_before": "30"},
     {"kind": "trigger", "event": "churn_crossing", "threshold": 0.6}),
])
def test_a_trigger_schedule_from_the_build_form(client: TestClient, fields: dict[str, str],
                                                expected: dict[str, object]) -> None:
    made = client.post("/staff/campaigns", data=form(when="trigger", **fields), headers=auth() | ORIGIN)
    assert made.status_code == 303, made.text
    with session_scope() as s:
        schedule = s.scalars(select(Campaign.spec)).one()["schedule"]
    assert {k: schedule[k] for k in expected} == expected and schedule["rule"] == "0 9 * * *"
    page = client.get(made.headers["location"], headers=auth())
    assert 'id="trigger"' in page.text and "next check" in page.text
    assert ("(threshold 0.6)" if fields["event"] == "churn_crossing" else "days before)") in page.text


@pytest.mark.parametrize(("fields", "loc"), [
    ({"when": "trigger", "event": "churn_crossing", "threshold": ""}, "schedule: "),
    ({"when": "trigger", "event": "churn_crossing", "threshold": "1.5"}, "schedule.threshold"),
    ({"when": "trigger", "event": "churn_crossing", "threshold": "high"}, "schedule.threshold"),
    ({"when": "trigger", "event": "card_expiry", "days_before": "120"}, "schedule.days_before"),
    ({"when": "trigger", "event": "birthday"}, "schedule.event"),
    ({"propensity_product": "savings_account", "propensity_min": "2"}, "audience.propensity.min"),
    ({"propensity_min": "0.3"}, "audience.propensity.product"),  # a minimum without a product
])
def test_a_bad_trigger_or_propensity_on_the_form_is_422_naming_the_field(
        client: TestClient, fields: dict[str, str], loc: str) -> None:
    bad = client.post("/staff/campaigns", data=form(**fields), headers=auth() | ORIGIN)
    assert bad.status_code == 422 and loc in bad.text, bad.text[-2000:]
    assert stored() == 0


def test_the_propensity_filter_from_the_build_form(client: TestClient) -> None:
    for cid, balance in ((3, "6000.00"), (6, "6000.00"), (9, "1500.00")):  # affluent customers (bulk: id % 3 == 0)
        with session_scope() as s:
            s.execute(insert(Account).values(customer_id=cid, kind="current", name="current", balance=Decimal(balance),
                                             number=f"PT50{uuid.uuid4().int % 10**21:021d}"))
    preview = client.post("/staff/campaigns", data=form(do="preview", propensity_product="savings_account",
                                                        propensity_min="0.99"), headers=auth() | ORIGIN)
    # the recommender's savings-account rule: 0.10 + 0.15 x balance / 3,000 (capped), for current-account holders
    assert preview.status_code == 200 and 'id="preview-audience">0<' in preview.text
    preview = client.post("/staff/campaigns", data=form(do="preview", propensity_product="savings_account",
                                                        propensity_min="0.2"), headers=auth() | ORIGIN)
    assert 'id="preview-audience">2<' in preview.text  # the two with EUR 6,000 (0.25), not EUR 1,500 (0.175)
    made = client.post("/staff/campaigns", data=form(propensity_product="savings_account", propensity_min="0.1"),
                       headers=auth() | ORIGIN)
    assert made.status_code == 303
    with session_scope() as s:
        audience = s.scalars(select(Campaign.spec)).one()["audience"]
    assert audience["propensity"] == {"product": "savings_account", "min": 0.1, "max": 1.0}
    page = client.get(made.headers["location"], headers=auth())
    assert 'id="propensity"' in page.text and "propensity for savings_account from 0.1 to 1.0" in page.text


def _account(cid: int, kind: str) -> None:
    with session_scope() as s:
        s.execute(insert(Account).values(customer_id=cid, kind=kind, name=kind, balance=Decimal("100.00"),
                                         number=f"PT50{uuid.uuid4().int % 10**21:021d}"))


def _field_error(page: str, field_id: str) -> str:
    """The error shown next to the form element ``field_id`` (empty when none)."""
    found = re.search(rf'<p class="field-error" id="{field_id}-error">(.*?)</p>', page, re.S)
    return found[1] if found else ""


def test_products_held_and_not_held_per_channel_messages_and_the_check_time_from_the_build_form(
        client: TestClient) -> None:
    # affluent customers (bulk: id % 3 == 0) 3, 6, ..., 30; 3 and 6 already have a term deposit, 3, 6, 9 a current account
    for cid in (3, 6):
        _account(cid, "term_deposit")
    for cid in (3, 6, 9):
        _account(cid, "current")
    preview = client.post("/staff/campaigns", data=form(do="preview", lacks=["term_deposit"]), headers=auth() | ORIGIN)
    assert preview.status_code == 200 and 'id="preview-audience">8<' in preview.text  # 10 affluent, 2 hold one
    both = client.post("/staff/campaigns", data=form(do="preview", holds=["current_account"], lacks=["term_deposit"]),
                       headers=auth() | ORIGIN)
    assert 'id="preview-audience">1<' in both.text  # only customer 9
    assert re.search(r'value="current_account" checked>', both.text)  # the form keeps the ticked boxes
    assert stored() == 0

    made = client.post("/staff/campaigns", data=form(
        lacks=["term_deposit", "mortgage"], holds=["current_account"], propensity_product="term_deposit",
        propensity_min="0.1", propensity_max="0.9", field_a="last_name", msg_a_socketio="payment_due",
        msg_a_telegram="update_contact", field_a_telegram="last_name", msg_b_facebook="term_deposit",
        when="trigger", event="card_expiry", days_before="14", trigger_time="07:30"), headers=auth() | ORIGIN)
    assert made.status_code == 303, _field_error(made.text, "form") or made.text[-2000:]
    with session_scope() as s:
        spec = s.scalars(select(Campaign.spec)).one()
    audience = spec["audience"]
    assert audience["holds"] == ["current_account"] and audience["lacks"] == ["term_deposit", "mortgage"]
    assert audience["propensity"] == {"product": "term_deposit", "min": 0.1, "max": 0.9}
    a, b = spec["variants"]
    assert a["message"] == {"kind": "reminder", "template": "statement_ready", "product": None,
                            "fields": {"push_name": "last_name"}}
    assert a["messages"] == {
        "socketio": {"kind": "reminder", "template": "payment_due", "product": None, "fields": {"push_name": "first_name"}},
        "telegram": {"kind": "reminder", "template": "update_contact", "product": None,
                     "fields": {"push_name": "last_name"}}}
    assert b["message"]["fields"] == {"push_name": "first_name"}
    assert b["messages"] == {"facebook": {"kind": "offer", "template": "product_offer", "product": "term_deposit",
                                          "fields": {"push_name": "first_name"}}}
    assert spec["schedule"]["rule"] == "30 7 * * *" and spec["schedule"]["days_before"] == 14
    page = client.get(made.headers["location"], headers=auth())
    assert "holds current_account; has none of term_deposit, mortgage" in page.text
    assert "propensity for term_deposit from 0.1 to 0.9" in page.text
    messages = re.search(r'<ul id="messages">(.*?)</ul>', page.text, re.S)
    assert messages and "on the web chat: reminder payment_due" in messages[1]
    assert "on Telegram: reminder update_contact (greeting: last name)" in messages[1]
    assert "on Facebook: offer of term_deposit" in messages[1]
    assert "<code>30 7 * * *</code>" in page.text

    # the advanced rule replaces the daily time
    made = client.post("/staff/campaigns", data=form(when="trigger", event="payment_due", trigger_time="07:30",
                                                     trigger_rule=" 0  8 * * 1-5 "), headers=auth() | ORIGIN)
    assert made.status_code == 303
    with session_scope() as s:
        rules = set(s.scalars(select(Campaign.spec["schedule"]["rule"].as_string())))
    assert rules == {"30 7 * * *", "0 8 * * 1-5"}


@pytest.mark.parametrize(("fields", "loc", "field_id"), [
    ({"lacks": ["term_deposit", "gold_bars"]}, "audience.lacks", "lacks"),
    ({"holds": ["savings"]}, "audience.holds", "holds"),
    ({"segment": "", "holds": ["term_deposit"], "lacks": ["term_deposit"]}, "audience", "audience"),  # nobody
    ({"propensity_product": "savings_account", "propensity_min": "0.5", "propensity_max": "0.2"},
     "audience.propensity", "propensity_max"),
    ({"propensity_product": "savings_account", "propensity_max": "2"}, "audience.propensity.max", "propensity_max"),
    ({"propensity_max": "0.5"}, "audience.propensity.product", "propensity_product"),  # a maximum without a product
    ({"field_a": "email"}, "variants.0.message.fields", "field_a"),
    ({"msg_a_telegram": "free text"}, "variants.0.messages.telegram", "msg_a_telegram"),
    ({"msg_a_socketio": "payment_due", "field_a_socketio": "middle_name"}, "variants.0.messages.socketio.fields",
     "field_a_socketio"),
    ({"msg_b_facebook": "gold_bars"}, "variants.1.messages.facebook", "msg_b_facebook"),
    ({"content_b": "", "msg_b_telegram": "payment_due"}, "variants.1", "content_b"),  # no variant B
    ({"when": "trigger", "event": "card_expiry", "trigger_time": "25:00"}, "schedule.rule", "trigger_time"),
    ({"when": "trigger", "event": "card_expiry", "trigger_rule": "0 99 * * *"}, "schedule.rule", "trigger_rule"),
    ({"when": "trigger", "event": "card_expiry", "trigger_rule": "0 9 31 2 *"}, "schedule", "schedule"),  # never
    ({"when": "recurring", "rule": "0 99 * * 1", "trigger_rule": "0 9 * * *"}, "schedule.rule", "rule"),
    # the audience's channel, consent, score ranges and limit
    ({"channel": "pigeon"}, "audience.channel", "channel"),
    ({"consent": "sms"}, "audience.consent", "consent"),
    ({"min_churn": "2"}, "audience.min_churn", "min_churn"),
    ({"min_clv": "lots"}, "audience.min_clv", "min_clv"),
    ({"min_clv": "2000", "max_clv": "1000"}, "audience.min_clv", "min_clv"),  # the API names the minimum
    ({"max_clv": "inf"}, "audience.max_clv", "max_clv"),
    ({"max_loyalty": "high"}, "audience.max_loyalty", "max_loyalty"),
    ({"min_loyalty": "0.9", "max_loyalty": "0.1"}, "audience.min_loyalty", "min_loyalty"),
    ({"limit": "0"}, "audience.limit", "limit"),
    ({"limit": "2.5"}, "audience.limit", "limit"),
    ({"limit": "200000"}, "audience.limit", "limit"),
    # the quiet-hours exemption: transactional reminders only
    ({"exempt_quiet_hours": "maybe"}, "schedule.exempt_quiet_hours", "exempt_quiet_hours"),
    ({"kind": "offer", "content_a": "term_deposit", "content_b": "", "exempt_quiet_hours": "1"},
     "schedule.exempt_quiet_hours", "exempt_quiet_hours"),
    ({"msg_a_telegram": "term_deposit", "exempt_quiet_hours": "on"}, "schedule.exempt_quiet_hours",
     "exempt_quiet_hours"),  # an offer on one channel is an offer
    # three variants and their splits
    ({"content_c": "update_contact", "split_a": "50", "split_b": "30", "split_c": "30"}, "variants", "splits"),
    ({"content_c": "update_contact", "split_a": "50", "split_b": ""}, "variants.1.split", "split_b"),
    ({"content_c": "update_contact", "split_a": "50", "split_b": "50", "split_c": "0"}, "variants.2.split", "split_c"),
    ({"split_a": "12.5"}, "variants.0.split", "split_a"),
    ({"content_b": "", "content_c": "update_contact"}, "variants.1", "content_b"),  # C without B
    ({"msg_c_facebook": "payment_due"}, "variants.2", "content_c"),  # a message for C on a channel, no C
    ({"content_c": "update_contact", "msg_c_telegram": "gold_bars"}, "variants.2.messages.telegram", "msg_c_telegram"),
])
def test_a_bad_new_field_is_422_shown_next_to_the_field_it_names(
        client: TestClient, fields: dict[str, str | list[str]], loc: str, field_id: str) -> None:
    bad = client.post("/staff/campaigns", data=form(**fields), headers=auth() | ORIGIN)
    assert bad.status_code == 422, bad.text[-2000:]
    shown = _field_error(bad.text, field_id)
    assert shown.startswith(f"{loc}: "), (shown, bad.text[-3000:])
    assert re.search(rf'id="{field_id}"[^>]*aria-invalid="true" aria-describedby="{field_id}-error[ "]', bad.text)
    assert f'<a href="#{field_id}">{loc}: ' in bad.text  # the summary links to the field
    assert stored() == 0


def _scores_and_links() -> None:
    """Affluent customers (bulk: id % 3 == 0, ids 3..30, all on Telegram): CLV id x 100 EUR, loyalty id / 30;
    3, 6, 9 and 12 also on Facebook; 3 has withdrawn marketing consent."""
    with session_scope() as s:
        for cid in range(3, 31, 3):
            s.execute(update(CustomerScore).where(CustomerScore.customer_id == cid)
                      .values(clv=cid * 100.0, loyalty_score=cid / 30))
        s.execute(insert(MessengerLink), [{"customer_id": c, "channel": "facebook", "external_id": f"fb-page-{c}"}
                                          for c in (3, 6, 9, 12)])
        s.execute(update(Consent).where(Consent.customer_id == 3).values(granted=False))


def _audience(page: str) -> int:
    found = re.search(r'id="preview-audience">([\d,]+)<', page)
    assert found, page[-3000:]
    return int(found[1].replace(",", ""))


@pytest.mark.parametrize(("fields", "size"), [
    ({}, 10),
    ({"channel": "facebook"}, 4),  # reachable on Facebook
    ({"channel": "telegram"}, 10),
    ({"min_clv": "1000", "max_clv": "2000"}, 3),  # 1,200, 1,500 and 1,800 EUR (12, 15, 18)
    ({"min_loyalty": "0.5"}, 6),  # 15 .. 30
    ({"max_loyalty": "0.25"}, 2),  # 3, 6
    ({"consent": "marketing"}, 9),  # not 3
    ({"consent": "marketing", "channel": "facebook"}, 3),
    ({"limit": "4"}, 4),
    ({"channel": "facebook", "min_clv": "700"}, 2),  # 9, 12
])
def test_the_audience_channel_consent_ranges_and_limit_narrow_the_dry_run(
        client: TestClient, fields: dict[str, str], size: int) -> None:
    _scores_and_links()
    page = client.post("/staff/campaigns", data=form(do="preview", **fields), headers=auth() | ORIGIN)
    assert page.status_code == 200, page.text[-2000:]
    assert _audience(page.text) == size
    for key, value in fields.items():  # the form keeps its values
        assert (f'value="{value}" selected' if key == "channel" else
                'value="marketing" checked' if key == "consent" else f'value="{value}"') in page.text
    assert stored() == 0


def test_the_new_audience_fields_three_variants_and_the_quiet_hours_exemption_stored_from_the_build_form(
        client: TestClient) -> None:
    _scores_and_links()
    preview = client.post("/staff/campaigns", data=form(
        do="preview", content_c="update_contact", split_a="40", split_b="30", split_c=""), headers=auth() | ORIGIN)
    assert preview.status_code == 200, preview.text[-2000:]
    assert _audience(preview.text) == 10 and "in variant C" in preview.text  # C gets the rest, 30
    made = client.post("/staff/campaigns", data=form(
        channel="facebook", consent="marketing", min_clv="100", max_clv="2000.5", min_loyalty="0.1",
        max_loyalty="0.9", limit="50", content_c="update_contact", field_c="last_name", msg_c_telegram="payment_due",
        split_a="40", split_b="30", split_c="30", exempt_quiet_hours="1"), headers=auth() | ORIGIN)
    assert made.status_code == 303, made.text[-3000:]
    with session_scope() as s:
        spec = s.scalars(select(Campaign.spec)).one()
    audience = spec["audience"]
    assert {k: audience[k] for k in ("channel", "consent", "min_clv", "max_clv", "min_loyalty", "max_loyalty",
                                     "limit")} == {"channel": "facebook", "consent": "marketing", "min_clv": 100.0,
                                                   "max_clv": 2000.5, "min_loyalty": 0.1, "max_loyalty": 0.9,
                                                   "limit": 50}
    assert [(v["name"], v["split"], v["message"]["template"]) for v in spec["variants"]] == [
        ("A", 40, "statement_ready"), ("B", 30, "payment_due"), ("C", 30, "update_contact")]
    c = spec["variants"][2]
    assert c["message"]["fields"] == {"push_name": "last_name"}
    assert c["messages"] == {"telegram": {"kind": "reminder", "template": "payment_due", "product": None,
                                          "fields": {"push_name": "first_name"}}}
    assert spec["schedule"]["exempt_quiet_hours"] is True
    page = client.get(made.headers["location"], headers=auth())
    filters = re.search(r'<p id="filters">(.*?)</p>', page.text, re.S)
    assert filters and filters[1] == ("Audience: CLV from 100 to 2000.5 EUR; loyalty from 0.1 to 0.9; reachable on "
                                      "Facebook; with marketing consent; at most 50 customers.")
    assert 'id="quiet-hours"' in page.text
    assert "Variant C (30%): reminder update_contact (greeting: last name); on Telegram: reminder payment_due" in page.text

    # unticked, the exemption is off; the churn range and five variants of 20%
    made = client.post("/staff/campaigns", data=form(
        min_churn="0.1", max_churn="0.5", content_c="update_contact", content_d="card_expiry",
        content_e="statement_ready", **{f"split_{k}": "20" for k in "abcde"}), headers=auth() | ORIGIN)
    assert made.status_code == 303, made.text[-3000:]
    with session_scope() as s:
        spec = s.scalars(select(Campaign.spec).order_by(Campaign.id.desc())).first()
    assert spec is not None and spec["schedule"]["exempt_quiet_hours"] is False
    assert (spec["audience"]["min_churn"], spec["audience"]["max_churn"]) == (0.1, 0.5)
    assert [(v["name"], v["split"]) for v in spec["variants"]] == [(k, 20) for k in "ABCDE"]
    page = client.get(made.headers["location"], headers=auth())
    assert "Audience: churn from 0.1 to 0.5." in page.text and 'id="quiet-hours"' not in page.text


def test_add_a_variant_shows_the_form_again_with_one_more_up_to_five_and_writes_nothing(client: TestClient) -> None:
    page = client.get("/staff/campaigns", headers=auth())
    assert 'id="content_b"' in page.text and 'id="content_c"' not in page.text
    assert 'name="variants_shown" value="2"' in page.text and 'value="add_variant"' in page.text
    shown = 2
    fields = form(do="add_variant", name="", content_b="payment_due", split_a="40", min_clv="500")
    while shown < 5:
        page = client.post("/staff/campaigns", data=fields | {"variants_shown": str(shown)}, headers=auth() | ORIGIN)
        assert page.status_code == 200 and 'id="form-errors"' not in page.text  # nothing checked yet
        shown += 1
        key = "abcde"[shown - 1]
        assert re.search(rf'<select id="content_{key}" name="content_{key}" autofocus>', page.text)
        assert f'<label for="split_{key}">Split: % to {key.upper()}</label>' in page.text
        assert f'<label for="msg_{key}_telegram">Variant {key.upper()} on Telegram</label>' in page.text
        assert f'name="variants_shown" value="{shown}"' in page.text
        assert 'value="payment_due" selected' in page.text and 'id="min_clv" name="min_clv" size="7" ' \
            'inputmode="decimal" value="500"' in page.text  # the form keeps what was filled
    assert 'id="content_e"' in page.text and 'value="add_variant"' not in page.text  # five at most
    again = client.post("/staff/campaigns", data=fields | {"variants_shown": "5"}, headers=auth() | ORIGIN)
    assert again.status_code == 200 and 'id="content_f"' not in again.text
    foreign = client.post("/staff/campaigns", data=fields, headers=auth() | {"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert stored() == 0


@pytest.mark.parametrize("cid", ["0", "-1", "abc", "99999999999999999999", "2147483648"])
def test_a_campaign_page_of_a_bad_id_is_an_html_404(client: TestClient, cid: str) -> None:
    """An id no campaign can have (too large for the INTEGER column, not a number, not positive) is the same 404
    page as an unknown one, never a 500 (SQLite's OverflowError) nor a JSON 422, for the page and its actions."""
    page = client.get(f"/staff/campaigns/{cid}", headers=auth())
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html"), page.text[:200]
    action = client.post(f"/staff/campaigns/{cid}/pause", headers=auth() | ORIGIN)
    assert action.status_code == 404 and action.headers["content-type"].startswith("text/html"), action.text[:200]


def test_the_campaign_page_lists_each_recipient_with_status_and_reason(client: TestClient) -> None:
    """The per-recipient delivery log is on the campaign page (not only in the JSON API a browser cannot call with
    its sign-in cookie): customer number, group, status, reason, channel, attempts, sent at; filtered by status
    (the counts link to it) and paged. Customer numbers only: no name or contact detail reaches marketing."""
    ids = bulk_customers(90)  # 30 in "affluent"
    with session_scope() as s:  # half have no channel any more: skipped at send time, with the reason
        s.execute(delete(MessengerLink).where(MessengerLink.customer_id.in_(ids[::2])))
    body = form(segment="affluent", split_a="100", content_b="")
    cid = client.post("/staff/campaigns", data=body, headers=auth() | ORIGIN).headers["location"].rsplit("/", 1)[1]
    assert client.post(f"/staff/campaigns/{cid}/schedule", headers=auth() | ORIGIN).status_code == 303
    page = client.get(f"/staff/campaigns/{cid}", headers=auth())
    assert page.status_code == 200
    log = re.search(r'<table id="recipients"[^>]*>(.*?)</table>', page.text, re.S)
    assert log, page.text
    body_rows = re.findall(r"<tr>(.*?)</tr>", log.group(1).split("<tbody>")[1], re.S)
    assert len(body_rows) == 25  # the first page
    assert "no_channel" in log.group(1) and "no linked messenger account" in log.group(1)
    assert "delivered" in log.group(1) and "telegram" in log.group(1)
    assert "Ana" not in log.group(1) and "@example.com" not in log.group(1) and "Bulk" not in log.group(1)
    assert f'href="/staff/campaigns/{cid}?status=no_channel#recipients"' in page.text  # from the counts
    with session_scope() as s:
        total, control = s.execute(select(func.count(), func.sum(case((CampaignDelivery.status == "control", 1), else_=0)))
                                   .where(CampaignDelivery.campaign_id == int(cid))).one()
    assert total > 25 and f"1–25 of {total}" in page.text
    nxt = client.get(f"/staff/campaigns/{cid}?offset=25", headers=auth())
    assert len(re.findall(r"<tr>", nxt.text.split('id="recipients"')[1].split("</table>")[0])) == 1 + total - 25
    only = client.get(f"/staff/campaigns/{cid}?status=control", headers=auth())
    table = only.text.split('id="recipients"')[1].split("</table>")[0]
    assert len(re.findall(r"<tr>", table)) == 1 + control and "no_channel" not in table
    for bad in ("?status=%3Cscript%3E", "?offset=-1", "?offset=abc", "?offset=99999999999999999999"):
        assert client.get(f"/staff/campaigns/{cid}{bad}", headers=auth()).status_code == 200, bad


def test_signed_in_marketing_finds_the_campaigns_from_every_page(client: TestClient) -> None:
    """The staff header links to the campaigns for marketing and admin (a marketing manager signing in landed on
    the dashboard with no way to the campaign pages but typing the address); staff do not see the link."""
    link = '<a href="/staff/campaigns">Campaigns</a>'
    assert link in client.get("/staff", headers=auth("marketing")).text
    assert link in client.get("/staff", headers=auth("admin")).text
    assert link not in client.get("/staff", headers=auth("staff")).text
