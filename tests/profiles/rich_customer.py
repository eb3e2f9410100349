"""A customer with a row in every table that can reference one (for the 360, export and erasure tests).

``build_rich_customer()`` starts from ``conftest.build_customer`` (current + savings account, payee, debit card,
marketing consent row) and adds a closed credit card, a loan, a closed insurance policy, transactions, a
transfer, contact points, interactions, a linked conversation with transcript events (one before the link, with
no customer id), scores, offer events, a hand-off, audit rows, an access-log row, a linked Telegram account
with its link code and a push delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from profiles.db import session_scope
from profiles.models import (
    AccessLog,
    AuditLog,
    Card,
    ContactPoint,
    ConversationEvent,
    ConversationLink,
    CustomerScore,
    HandoffRequest,
    InsurancePolicy,
    Interaction,
    LinkCode,
    Loan,
    MessengerLink,
    OfferEvent,
    PushDelivery,
    Transaction,
    Transfer,
    utcnow,
)
from tests.profiles.conftest import Built, build_customer


@dataclass(frozen=True)
class Rich:
    built: Built
    sender_id: str
    messenger_id: str  # a linked Telegram account: its conversation's sender id
    credit_card_number: str
    interaction_ids: tuple[int, ...]  # oldest first


def build_rich_customer(*, scored: bool = True, tag: str = "") -> Rich:
    """Insert the customer (see the module docstring); ``tag`` keeps sender ids and card numbers unique."""
    built = build_customer(consent=True)
    cid = built.customer_id
    now = utcnow()
    sender = f"web-{cid}{tag}"
    credit_number = f"4999888{cid:06d}{len(tag):02d}7"[:16]
    with session_scope() as s:
        s.add(Card(customer_id=cid, account_id=built.current_id, kind="credit", number=credit_number,
                   status="active", created_at=now - timedelta(days=400), closed_at=now - timedelta(days=30)))
        s.add(Loan(customer_id=cid, kind="mortgage", principal=Decimal("150000.00"), outstanding=Decimal("90000.00"),
                   created_at=now - timedelta(days=3000)))
        s.add(InsurancePolicy(customer_id=cid, kind="home", monthly_premium=Decimal("21.50"),
                              created_at=now - timedelta(days=700), closed_at=now - timedelta(days=10)))
        transfer = Transfer(customer_id=cid, from_account_id=built.current_id, to_payee_id=built.payee_id,
                            amount=Decimal("25.00"), channel="rest", actor=f"customer:{cid}",
                            created_at=now - timedelta(days=2))
        s.add(transfer)
        s.flush()
        s.add_all([
            Transaction(account_id=built.current_id, booked_at=now - timedelta(days=2), amount=Decimal("-25.00"),
                        merchant=None, description="Transfer to payee", transfer_id=transfer.id),
            Transaction(account_id=built.savings_id, booked_at=now - timedelta(days=5), amount=Decimal("100.00"),
                        merchant=None, description="Deposit"),
        ])
        s.add_all([
            ContactPoint(customer_id=cid, channel="rest", address=None, message_count=7,
                         first_seen_at=now - timedelta(days=20), last_seen_at=now - timedelta(days=1)),
            ContactPoint(customer_id=cid, channel="telegram", address=f"tg{cid}{tag}", message_count=2,
                         first_seen_at=now - timedelta(days=9), last_seen_at=now - timedelta(days=3)),
        ])
        interactions = [
            Interaction(customer_id=cid, kind="chat_message", channel="rest", direction="inbound",
                        summary="what is my balance?", sender_id=sender, actor=f"customer:{cid}",
                        details={"intent": "check_balance"}, event_key=f"k1-{cid}{tag}",
                        occurred_at=now - timedelta(hours=5)),
            Interaction(customer_id=cid, kind="chat_message", channel="rest", direction="outbound",
                        summary="Your balance is 1,000.00 EUR", sender_id=sender, actor="bot",
                        event_key=f"k2-{cid}{tag}", occurred_at=now - timedelta(hours=4)),
            Interaction(customer_id=cid, kind="offer", channel="rest", direction="outbound",
                        summary="offered a credit card", sender_id=sender, actor="bot",
                        details={"product": "credit_card"}, occurred_at=now - timedelta(hours=3)),
            Interaction(customer_id=cid, kind="life_event", channel="rest", direction="inbound",
                        summary="we just had a baby", sender_id=sender, actor=f"customer:{cid}",
                        details={"life_event": "new_baby"}, occurred_at=now - timedelta(hours=2)),
        ]
        s.add_all(interactions)
        s.add(ConversationLink(sender_id=sender, customer_id=cid, channel="rest", linked_at=now - timedelta(hours=6)))
        s.add_all([
            ConversationEvent(event_key=f"e0-{cid}{tag}", sender_id=sender, customer_id=None, event_type="user",
                              timestamp=now - timedelta(hours=7), channel="rest", text="hello",
                              intent="greet", data={"event": "user", "text": "hello"}),
            ConversationEvent(event_key=f"e1-{cid}{tag}", sender_id=sender, customer_id=cid, event_type="user",
                              timestamp=now - timedelta(hours=5), channel="rest", text="what is my balance?",
                              intent="check_balance", data={"event": "user", "text": "what is my balance?"}),
        ])
        if scored:
            s.add(CustomerScore(customer_id=cid, clv=1234.5, credit_default_probability=0.04, credit_band="A",
                                churn_probability=0.12, churn_band="low", segment="affluent savers",
                                loyalty_score=0.8, loyalty_tier="gold", product_count=5, interactions_90d=9,
                                recency_days=0, channel_mix={"rest": 0.8, "telegram": 0.2},
                                model_versions={"churn": "churn-v1", "clv": "clv-rule-1"}, computed_at=now))
        s.add(OfferEvent(customer_id=cid, product="credit_card", outcome="shown", channel="rest", created_at=now))
        s.add(HandoffRequest(customer_id=cid, sender_id=sender, channel="rest", reason="talk to a human",
                             status="open", created_at=now))
        s.add(AuditLog(customer_id=cid, entity="customer", entity_id=cid, field="email", old_value="a@example.com",
                       new_value=f"test{cid}@example.com", channel="rest", actor=f"customer:{cid}", created_at=now))
        s.add(AccessLog(staff="ana", role="staff", customer_id=cid, action="read_360", detail=None, at=now))
        messenger = f"tg-{cid}{tag}"
        s.add(MessengerLink(customer_id=cid, channel="telegram", external_id=messenger, linked_at=now))
        s.add(LinkCode(customer_id=cid, code_hash=f"{cid:08d}{tag}".ljust(64, "0")[:64], expires_at=now,
                       used_at=now, used_by=f"telegram:{messenger}", created_at=now))
        s.add(PushDelivery(customer_id=cid, campaign="savings-reminder", channel="telegram", sender_id=messenger,
                           status="delivered", reason=None, actor="campaign", created_at=now))
        s.flush()
        ids = tuple(i.id for i in interactions)
    return Rich(built=built, sender_id=sender, messenger_id=messenger, credit_card_number=credit_number,
                interaction_ids=ids)
