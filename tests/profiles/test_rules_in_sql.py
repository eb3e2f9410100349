"""The business rules that also exist as SQL (for queries over many customers: a campaign's audience, its
uplift) agree with their Python form on every case (issue 10): consent (``profiles.consent.decide_consent`` vs
``consent_granted_sql``) and products held (``profiles.customers.load_products_held`` vs ``holds_product_sql``).
And a campaign's audience uses them: consent per channel, not the customer-wide flag. Both backends.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine, select

from profiles.campaigns.spec import CampaignSpec
from profiles.campaigns.store import audience_select
from profiles.consent import CONSENT_PURPOSES, consent_granted_sql, decide_consent
from profiles.customers import holds_product_sql, load_products_held
from profiles.db import session_scope
from profiles.models import Account, Card, Consent, Customer, Loan, MessengerLink, utcnow
from profiles.schemas import PRODUCT_IDS
from tests.profiles.conftest import build_customer

STATES = (None, True, False)  # no row, granted, withdrawn
ROW_CHANNELS = ("all", "telegram", "web")
ASKED = ("all", "telegram", "web", "facebook", "socketio", "rest", None)


def _consents(cid: int, rows: dict[str, bool | None], purpose: str = "marketing") -> None:
    with session_scope(write=True) as s:
        s.query(Consent).filter(Consent.customer_id == cid, Consent.purpose == purpose).delete()
        for channel, granted in rows.items():
            if granted is not None:
                s.add(Consent(customer_id=cid, purpose=purpose, channel=channel, granted=granted, source="test",
                              updated_at=utcnow()))


def test_consent_in_sql_and_in_python_agree_on_every_combination(db: Engine) -> None:
    cases: dict[int, tuple[bool | None, ...]] = {}
    for states in itertools.product(STATES, repeat=len(ROW_CHANNELS)):
        cid = build_customer().customer_id
        _consents(cid, dict(zip(ROW_CHANNELS, states, strict=True)))
        # another purpose's rows, the opposite way, must not matter
        _consents(cid, {c: (None if g is None else not g) for c, g in zip(ROW_CHANNELS, states, strict=True)},
                  purpose="profiling")
        cases[cid] = states
    with session_scope() as s:
        for purpose, channel in itertools.product(CONSENT_PURPOSES, ASKED):
            python = {cid: decide_consent(s, cid, purpose, channel).granted for cid in cases}
            one_by_one = {cid: bool(s.scalar(select(consent_granted_sql(cid, purpose, channel)))) for cid in cases}
            as_filter = set(s.scalars(select(Customer.id).where(Customer.id.in_(cases),
                                                               consent_granted_sql(Customer.id, purpose, channel))))
            assert one_by_one == python, (purpose, channel)
            assert as_filter == {cid for cid, granted in python.items() if granted}, (purpose, channel)
    # the rule itself, spelled out for Telegram: its own row wins both ways, else "all", else no
    with session_scope() as s:
        for cid, (all_, telegram, _web) in cases.items():
            expected = telegram if telegram is not None else bool(all_)
            assert decide_consent(s, cid, "marketing", "telegram").granted is expected


def _holdings(cid: int, account_id: int, *, extra_accounts: tuple[str, ...], cards: tuple[tuple[str, str], ...],
              loans: tuple[str, ...], n: int) -> None:
    with session_scope(write=True) as s:
        for i, kind in enumerate(extra_accounts):
            s.add(Account(customer_id=cid, kind=kind, name=kind, number=f"PT50777700{n:08d}{i:03d}",
                          balance=Decimal("1.00")))
        for i, (kind, status) in enumerate(cards):
            s.add(Card(customer_id=cid, account_id=account_id, kind=kind, number=f"48888888{n:05d}{i:03d}",
                       status=status))
        for kind in loans:
            s.add(Loan(customer_id=cid, kind=kind, principal=Decimal("1000.00"), outstanding=Decimal("900.00")))


def test_products_held_in_sql_and_in_python_agree(db: Engine) -> None:
    variants = [
        ((), (), ()),
        (("term_deposit",), (), ()),
        ((), (("credit", "active"),), ()),
        ((), (("credit", "blocked"),), ("mortgage",)),  # a blocked credit card is still held
        (("term_deposit",), (("debit", "active"),), ("personal_loan", "mortgage")),
    ]
    built = []
    for n, (accounts, cards, loans) in enumerate(variants):
        b = build_customer()  # a current and a savings account, a debit card
        _holdings(b.customer_id, b.current_id, extra_accounts=accounts, cards=cards, loans=loans,
                  n=b.customer_id * 10 + n)
        built.append(b.customer_id)
    with session_scope() as s:
        held = {cid: load_products_held(s, cid) for cid in built}
        for product in PRODUCT_IDS:
            in_sql = set(s.scalars(select(Customer.id).where(Customer.id.in_(built),
                                                            holds_product_sql(product, Customer.id))))
            assert in_sql == {cid for cid in built if product in held[cid]}, product
        # opened in a window: everything was opened just now
        now = utcnow()
        for product in PRODUCT_IDS:
            later = set(s.scalars(select(Customer.id).where(
                Customer.id.in_(built), holds_product_sql(product, Customer.id, opened_from=now + timedelta(hours=1)))))
            assert later == set(), product
    assert held[built[0]] == {"current_account", "savings_account"}
    assert held[built[3]] == {"current_account", "savings_account", "credit_card", "mortgage"}
    assert held[built[4]] == {"current_account", "savings_account", "term_deposit", "personal_loan", "mortgage"}


def _audience(channel: str) -> set[int]:
    spec = CampaignSpec.model_validate({
        "name": f"consent-{channel}", "goal": {"conversion": "profile_updated"},
        "audience": {"holds": ["current_account"], "channel": channel, "consent": "marketing"},
        "variants": [{"name": "A", "split": 100, "message": {"kind": "reminder", "template": "update_contact"}}],
        "control_pct": 0})
    with session_scope() as s:
        return {row[0] for row in s.execute(audience_select(spec))}


def test_a_campaign_audience_uses_the_consent_of_its_channel(db: Engine) -> None:
    def customer(all_: bool, telegram: bool | None) -> int:
        cid = build_customer(consent=all_).customer_id  # its (marketing, all) row and the customer-wide flag
        _consents(cid, {"all": all_, "telegram": telegram})
        with session_scope(write=True) as s:
            s.add(MessengerLink(customer_id=cid, channel="telegram", external_id=f"tg-rules-{cid}"))
        return cid

    telegram_only = customer(False, True)  # "all" withdrawn, Telegram granted
    not_on_telegram = customer(True, False)  # "all" granted, Telegram withdrawn
    everywhere = customer(True, None)
    nowhere = customer(False, None)

    assert _audience("telegram") == {telegram_only, everywhere}
    # any channel: granted on at least one channel a campaign can send on (the send-time check decides on the
    # channel actually used)
    assert _audience("any") == {telegram_only, not_on_telegram, everywhere}
    assert nowhere not in _audience("any")
