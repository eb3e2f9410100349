"""The customer 360 view, the timeline and staff notes, consent per purpose/channel and the access log (both
database backends)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from profiles.access import list_access, record_access, record_accesses
from profiles.consent import has_consent, has_marketing_consent, list_consents, set_consent, set_marketing_consent
from profiles.customer360 import add_staff_note, get_customer_360, list_timeline
from profiles.db import session_scope
from profiles.errors import Conflict, InvalidInput, NotFound
from profiles.models import AuditLog, Customer, Interaction, utcnow
from tests.profiles.conftest import audit_rows, build_customer, snapshot
from tests.profiles.rich_customer import build_rich_customer


def test_360_gathers_every_part_of_the_profile(db: Engine) -> None:
    rich = build_rich_customer()
    view = get_customer_360(rich.built.customer_id)

    assert view.id == rich.built.customer_id and view.full_name.startswith("Test Customer")
    assert view.version == 1
    assert view.age == 40 and view.job == "technician" and view.region == "Área Metropolitana de Lisboa"
    # products, with opened/closed dates; numbers masked
    products = view.products
    assert [a.kind for a in products.accounts] == ["current", "savings"]
    assert products.accounts[0].masked_number == "•••• " + rich.built.current_number[-4:]
    assert [(c.kind, c.closed_at is not None) for c in products.cards] == [("debit", False), ("credit", True)]
    assert products.cards[1].masked_number == "•••• " + rich.credit_card_number[-4:]
    assert [(loan.kind, str(loan.outstanding)) for loan in products.loans] == [("mortgage", "90000.00")]
    assert products.insurance[0].kind == "home" and products.insurance[0].closed_at is not None
    # the closed credit card and the closed insurance are not "held"
    assert products.held == ("current_account", "mortgage", "savings_account")
    assert rich.built.current_number not in repr(view) and rich.credit_card_number not in repr(view)
    # channels: most recently seen first
    assert [p.channel for p in view.contact_points] == ["rest", "telegram"]
    assert [(c.purpose, c.channel, c.granted) for c in view.consents] == [("marketing", "all", True)]
    assert view.scores is not None and view.scores.segment == "affluent savers"
    assert view.scores.model_versions == {"churn": "churn-v1", "clv": "clv-rule-1"}
    # newest first
    assert [i.id for i in view.recent_interactions] == list(reversed(rich.interaction_ids))


def test_360_of_an_unscored_customer_has_no_scores(db: Engine) -> None:
    rich = build_rich_customer(scored=False)
    assert get_customer_360(rich.built.customer_id).scores is None


def test_360_of_unknown_customer(db: Engine) -> None:
    with pytest.raises(NotFound):
        get_customer_360(999)


def test_timeline_pages_newest_first_with_a_stable_cursor(db: Engine) -> None:
    rich = build_rich_customer()
    cid = rich.built.customer_id
    first = list_timeline(cid, limit=3)
    assert [i.id for i in first.items] == list(reversed(rich.interaction_ids))[:3]
    assert first.next_cursor is not None
    # a new interaction arriving between pages does not shift the next page
    add_staff_note(cid, "called the customer", staff="ana")
    second = list_timeline(cid, limit=3, cursor=first.next_cursor)
    assert [i.id for i in second.items] == [rich.interaction_ids[0]]
    assert second.next_cursor is None
    assert [i.kind for i in list_timeline(cid, kinds=["life_event", "offer"]).items] == ["life_event", "offer"]


def test_timeline_orders_by_time_then_id(db: Engine) -> None:
    built = build_customer()
    at = utcnow() - timedelta(minutes=1)
    with session_scope() as s:
        rows = [Interaction(customer_id=built.customer_id, kind="campaign_message", channel="email",
                            direction="outbound", summary=f"m{n}", actor="campaign", occurred_at=at) for n in range(5)]
        s.add_all(rows)
        s.flush()
        ids = [r.id for r in rows]
    seen: list[int] = []
    cursor = None
    while True:
        page = list_timeline(built.customer_id, limit=2, cursor=cursor)
        seen += [i.id for i in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(ids, reverse=True)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"kinds": ["gossip"]}, "kind"),
     ({"cursor": "not-a-cursor"}, "cursor"), ({"cursor": "MjAyNnwx"}, "cursor")],
)
def test_timeline_bad_input_names_the_field(db: Engine, kwargs: dict[str, object], field: str) -> None:
    built = build_customer()
    with pytest.raises(InvalidInput) as err:
        list_timeline(built.customer_id, **kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_timeline_of_unknown_customer(db: Engine) -> None:
    with pytest.raises(NotFound):
        list_timeline(999)


def test_staff_note_is_an_internal_interaction_with_an_audit_row(db: Engine) -> None:
    built = build_customer()
    note = add_staff_note(built.customer_id, "  Customer read card 4999 1234 5678 9012 to me  ", staff="ana")
    assert (note.kind, note.direction, note.actor, note.channel) == ("staff_note", "internal", "ana", "staff_api")
    assert note.summary == "Customer read card •••• 9012 to me"
    assert [(a.entity, a.entity_id, a.field, a.actor) for a in audit_rows(built.customer_id)] == [
        ("interaction", note.id, "staff_note", "staff:ana")]
    assert list_timeline(built.customer_id).items[0] == note


@pytest.mark.parametrize("text", ["", "   ", "x" * 2001])
def test_bad_staff_note_writes_nothing(db: Engine, text: str) -> None:
    built = build_customer()
    before = snapshot()
    with pytest.raises(InvalidInput) as err:
        add_staff_note(built.customer_id, text, staff="ana")
    assert err.value.field == "text"
    assert snapshot() == before


def test_note_for_unknown_customer(db: Engine) -> None:
    with pytest.raises(NotFound):
        add_staff_note(999, "hello", staff="ana")


# --- consent per purpose and channel ---------------------------------------------------------------------------

def test_consent_per_channel_overrides_all(db: Engine) -> None:
    built = build_customer(consent=True)
    cid = built.customer_id
    assert has_consent(cid, "marketing", "email") is True  # from the "all" row
    view = set_consent(cid, "marketing", "email", False, source="branch", actor="staff:ana")
    assert (view.purpose, view.channel, view.granted, view.source) == ("marketing", "email", False, "branch")
    assert has_consent(cid, "marketing", "email") is False
    assert has_consent(cid, "marketing", "sms") is True
    assert has_marketing_consent(cid) is True  # the all-channel flag is untouched
    assert has_consent(cid, "profiling") is False  # never recorded = no consent
    assert [(c.purpose, c.channel, c.granted) for c in list_consents(cid)] == [
        ("marketing", "all", True), ("marketing", "email", False)]
    audit = audit_rows(cid)[-1]
    assert (audit.entity, audit.field, audit.old_value, audit.new_value, audit.channel, audit.actor) == (
        "consent", "marketing:email", None, "false", "branch", "staff:ana")


def test_marketing_all_keeps_the_profile_flag_in_step(db: Engine) -> None:
    built = build_customer(consent=False)
    cid = built.customer_id
    set_consent(cid, "marketing", "all", True, source="staff_api", actor="staff:ana")
    assert has_marketing_consent(cid) is True
    # and the bot's path still agrees
    assert set_marketing_consent(cid, False, channel="telegram", actor=f"customer:{cid}") is False
    marketing_all = [c for c in list_consents(cid) if c.channel == "all"][0]
    assert (marketing_all.granted, marketing_all.source) == (False, "telegram")
    assert has_consent(cid, "marketing", "email") is False


def test_staff_setting_the_consent_in_force_records_a_reconfirmation(db: Engine) -> None:
    built = build_customer(consent=True)
    cid = built.customer_id
    [seeded] = [c for c in list_consents(cid) if (c.purpose, c.channel) == ("marketing", "all")]
    view = set_consent(cid, "marketing", "all", True, source="branch", actor="staff:ana")
    assert (view.granted, view.source) == (True, "branch") and view.updated_at > seeded.updated_at
    assert list_consents(cid) == [view]
    last = audit_rows(cid)[-1]
    assert (last.entity, last.field, last.old_value, last.new_value, last.channel, last.actor) == (
        "consent", "marketing", "true", "true", "branch", "staff:ana")  # old == new: the re-confirmation
    assert "re-confirmed" in list_timeline(cid, kinds=["consent"]).items[0].summary
    with session_scope() as s:
        assert s.get(Customer, cid).version == 2  # type: ignore[union-attr]


def test_the_bot_setting_the_marketing_consent_in_force_writes_nothing(db: Engine) -> None:
    built = build_customer(consent=True)
    before = snapshot()
    assert set_marketing_consent(built.customer_id, True, channel="telegram", actor="customer") is True
    assert snapshot() == before


def test_consent_change_moves_the_version_and_checks_the_expected_one(db: Engine) -> None:
    built = build_customer()
    cid = built.customer_id
    set_consent(cid, "profiling", "all", True, source="staff_api", actor="staff:ana", expected_version=1)
    with session_scope() as s:
        assert s.get(Customer, cid).version == 2  # type: ignore[union-attr]
    before = snapshot()
    with pytest.raises(Conflict):
        set_consent(cid, "profiling", "all", False, source="staff_api", actor="staff:ana", expected_version=1)
    assert snapshot() == before


@pytest.mark.parametrize(("purpose", "channel", "field"), [("spam", "all", "purpose"), ("marketing", "pigeon", "channel")])
def test_unknown_purpose_or_channel_writes_nothing(db: Engine, purpose: str, channel: str, field: str) -> None:
    built = build_customer()
    before = snapshot()
    with pytest.raises(InvalidInput) as err:
        set_consent(built.customer_id, purpose, channel, True, source="staff_api", actor="staff:ana")
    assert err.value.field == field
    assert snapshot() == before


def test_consent_of_unknown_customer(db: Engine) -> None:
    with pytest.raises(NotFound):
        list_consents(999)
    with pytest.raises(NotFound):
        set_consent(999, "marketing", "all", True, source="staff_api", actor="staff:ana")


# --- access log ------------------------------------------------------------------------------------------------

def test_access_log_records_reads(db: Engine) -> None:
    first = record_access("ana", "staff", 7, "read_360")
    assert (first.staff, first.role, first.customer_id, first.action, first.detail) == ("ana", "staff", 7, "read_360", None)
    assert record_accesses("mia", "marketing", [3, 4, 3], "search", "filters: segment") == 2
    assert record_accesses("mia", "marketing", [], "search") == 0
    assert [(r.customer_id, r.action) for r in list_access(7)] == [(7, "read_360")]
    assert sorted(r.customer_id or 0 for r in list_access(staff="mia")) == [3, 4]
    long = record_access("ana", "staff", None, "search", "x" * 500)
    assert long.detail == "x" * 200


@pytest.mark.parametrize(("staff", "role", "action", "field"),
                         [("", "staff", "read_360", "staff"), ("ana", "", "read_360", "role"), ("ana", "staff", " ", "action")])
def test_access_log_refuses_empty_values(db: Engine, staff: str, role: str, action: str, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        record_access(staff, role, 1, action)
    assert err.value.field == field
    with session_scope() as s:
        assert s.scalars(select(AuditLog)).first() is None
    assert list_access() == []
