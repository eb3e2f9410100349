"""Next best offers: the eligible products a customer does not hold, ranked by expected value, with reasons.

Each rule has one home: marketing consent, products held and offer history are read from ``profiles``;
eligibility and scores from :mod:`recommender.scoring`; thresholds and values from :mod:`recommender.catalogue`;
the reason from :mod:`recommender.explain`; the frequency rules (how soon a product, or any product, may be
suggested again) are :func:`in_cooloff` and :func:`recently_suggested`, side by side below.
:func:`next_best_offers` applies them all; :func:`suggest_offer` (the bot) is its first item.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from profiles.db import session_scope
from profiles.models import CustomerScore
from profiles.schemas import AccountView
from profiles.settings import get_settings
from recommender.catalogue import get_product
from recommender.explain import explain
from recommender.features import CustomerContext
from recommender.scoring import score_products

logger = logging.getLogger(__name__)

CURRENCY = "EUR"


@dataclass(frozen=True)
class Offer:
    """A product to suggest.

    Attributes:
        product: catalogue id (``recommender.catalogue.PRODUCT_IDS``).
        title: the product's display title.
        propensity: its score in [0, 1] (model probability for ``term_deposit``, rule score otherwise).
        reason: one plain sentence, built from the customer's own attributes, saying why it suits them.
        expected_value: propensity × the catalogue value, EUR (the ranking key).
        factors: the features named in ``reason``, most influential first.
    """

    product: str
    title: str
    propensity: float
    reason: str
    expected_value: float = 0.0
    factors: tuple[str, ...] = ()


# --- Frequency rules: the one place that decides how often a customer hears a suggestion. -----------------
#   * a product the customer answered (accepted: a lead exists; or declined) is not offered again for
#     settings.offer_cooloff_days (30) days;
#   * a product merely shown (no answer) is not shown again for settings.offer_reshow_days (1) day;
#   * any offer event within settings.offer_reshow_days blocks every product: at most one suggestion per
#     customer per day, across conversations and channels.


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def in_cooloff(last: tuple[str, datetime] | None, now: datetime, *, cooloff_days: int, reshow_days: int) -> bool:
    """Whether one product may not be offered yet, from its latest offer event.

    Accepted or declined less than ``cooloff_days`` days before ``now``, or shown (no answer yet) less than
    ``reshow_days`` days before ``now``.

    Args:
        last: ``profiles.last_offer_outcome(...)``: ``(outcome, when)`` or ``None`` if never offered. A naive
            ``when`` is taken as UTC.
        now: the current time (aware; naive is taken as UTC).
        cooloff_days: ``settings.offer_cooloff_days``.
        reshow_days: ``settings.offer_reshow_days``.
    """
    if last is None:
        return False
    outcome, when = last
    days = reshow_days if outcome == "shown" else cooloff_days
    return _aware(now) - _aware(when) < timedelta(days=days)


def recently_suggested(latest: tuple[str, str, datetime] | None, now: datetime, *, reshow_days: int) -> bool:
    """Whether the customer had any suggestion (any product, any outcome) less than ``reshow_days`` days ago.

    Args:
        latest: ``profiles.latest_offer_event(...)``: ``(product, outcome, when)`` or ``None``. Naive = UTC.
        now: the current time (aware; naive is taken as UTC).
        reshow_days: ``settings.offer_reshow_days``.
    """
    if latest is None:
        return False
    return _aware(now) - _aware(latest[2]) < timedelta(days=reshow_days)


def total_balance(accounts: Iterable[AccountView]) -> Decimal:
    """Sum of the balances (EUR, may be negative) of the customer's EUR accounts; 0 with no accounts.

    Accounts in another currency are left out (not converted) and logged at debug level.
    """
    total = Decimal(0)
    for account in accounts:
        if account.currency.upper() == CURRENCY:
            total += account.balance
        else:
            logger.debug("account %s in %s left out of the balance feature", account.id, account.currency)
    return total


def credit_band(customer_id: int) -> str | None:
    """The CRM analyses' credit band of the customer (``CustomerScore.credit_band``), ``None`` if not scored.

    A read of one column; to move to a ``profiles`` service when one exposes it. A database without the
    scores table (created before the CRM analyses existed) reads as "not scored", with a warning.
    """
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with session_scope() as session:
            band: str | None = session.scalar(
                select(CustomerScore.credit_band).where(CustomerScore.customer_id == customer_id)
            )
    except SQLAlchemyError as exc:
        logger.warning("credit band not read (%s); credit products rely on the default flag", type(exc).__name__)
        return None
    return band


@dataclass(frozen=True)
class OfferHistory:
    """The offer events the frequency rules and the features read, from one database session.

    Attributes:
        latest: the latest event of any product, ``(product, outcome, when)`` (``profiles.latest_offer_event``),
            or ``None``.
        by_product: product → ``(outcome, when)`` of its latest event (``profiles.last_offer_outcome``), for
            the events since ``since`` only: an older latest event cools nothing off (:func:`in_cooloff`).
        credit_band: ``CustomerScore.credit_band`` (:func:`credit_band`), read in the same session.
    """

    latest: tuple[str, str, datetime] | None
    by_product: dict[str, tuple[str, datetime]]
    credit_band: str | None


def offer_history(customer_id: int, since: datetime) -> OfferHistory:
    """The customer's offer history and credit band in one read-only session (three indexed queries).

    The same rows ``profiles.latest_offer_event`` / ``profiles.last_offer_outcome`` / :func:`credit_band`
    read (``OfferEvent`` newest first, ties by id), in one session instead of one per product: the action
    server's latency budget. ``since`` must reach back at least ``max(offer_cooloff_days, offer_reshow_days)``.
    A database without the scores table reads as "no credit band" (warning in the log).
    """
    with session_scope() as session:
        return _offer_history(session, customer_id, since)


def _offer_history(session: Any, customer_id: int, since: datetime) -> OfferHistory:
    """:func:`offer_history` in the caller's session (its last statement: see the credit band below)."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from profiles.models import OfferEvent

    order = (OfferEvent.created_at.desc(), OfferEvent.id.desc())
    first = session.execute(
        select(OfferEvent.product, OfferEvent.outcome, OfferEvent.created_at)
        .where(OfferEvent.customer_id == customer_id)
        .order_by(*order)
        .limit(1)
    ).one_or_none()
    by_product: dict[str, tuple[str, datetime]] = {}
    if first is not None and _aware(first.created_at) >= _aware(since):
        for row in session.execute(
            select(OfferEvent.product, OfferEvent.outcome, OfferEvent.created_at)
            .where(OfferEvent.customer_id == customer_id, OfferEvent.created_at >= since)
            .order_by(*order)
        ):
            by_product.setdefault(row.product, (row.outcome, row.created_at))
    band: str | None = None
    try:  # last: on PostgreSQL a failed statement ends the transaction
        band = session.scalar(select(CustomerScore.credit_band).where(CustomerScore.customer_id == customer_id))
    except SQLAlchemyError as exc:
        session.rollback()
        logger.warning("credit band not read (%s); credit products rely on the default flag", type(exc).__name__)
    latest = (first.product, first.outcome, first.created_at) if first is not None else None
    return OfferHistory(latest, by_product, band)


def customer_context(customer_id: int, *, now: datetime | None = None) -> CustomerContext:
    """Everything the recommender reads about one customer, in one read-only database session.

    The profile (``profiles.customers.customer_view``), the EUR balance of the accounts
    (``profiles.accounts.account_view``), the products held, the latest offer event and the credit band: the
    same values as ``profiles.get_customer``, ``list_accounts``, ``products_held``, ``latest_offer_event`` and
    :func:`credit_band` (``tests/recommender/test_offers_db.py`` holds them equal), read in one session
    instead of five: the action server's latency budget.

    Raises:
        profiles.errors.NotFound: no such customer.
    """
    ctx, _history = _read(customer_id, now=now)
    return ctx


def _held(session: Any, customer_id: int, account_kinds: Iterable[str]) -> frozenset[str]:
    """``profiles.products_held`` in the caller's session (the same three rules: accounts, credit card, loans)."""
    from sqlalchemy import select

    from profiles.customers import ACCOUNT_PRODUCTS
    from profiles.models import Card, Loan

    held = {ACCOUNT_PRODUCTS[k] for k in account_kinds}
    has_credit = session.scalar(
        select(Card.id).where(Card.customer_id == customer_id, Card.kind == "credit").limit(1)
    )
    if has_credit is not None:
        held.add("credit_card")
    held.update(session.scalars(select(Loan.kind).where(Loan.customer_id == customer_id).distinct()))
    return frozenset(held)


def _read(customer_id: int, *, now: datetime | None = None) -> tuple[CustomerContext, OfferHistory]:
    from sqlalchemy import select

    from profiles.accounts import account_view
    from profiles.customers import customer_view, load_customer
    from profiles.models import Account

    now = _aware(now or datetime.now(UTC))
    settings = get_settings()
    window = timedelta(days=max(settings.offer_cooloff_days, settings.offer_reshow_days) + 1)
    with session_scope() as session:
        customer = customer_view(load_customer(session, customer_id))  # NotFound for an unknown customer
        accounts = list(session.scalars(select(Account).where(Account.customer_id == customer_id)))
        balance = total_balance(account_view(a) for a in accounts)
        held = _held(session, customer_id, {a.kind for a in accounts})
        history = _offer_history(session, customer_id, now - window)  # last: it may end the transaction
    ctx = CustomerContext(
        customer=customer,
        total_balance=balance,
        held=held,
        last_offer=history.latest,
        credit_band=history.credit_band,
        now=now,
    )
    return ctx, history


def next_best_offers(
    customer_id: int, k: int = 3, *, now: datetime | None = None, frequency_cap: bool = True
) -> list[Offer]:
    """Up to ``k`` products to offer ``customer_id``, best expected value (propensity × value) first.

    A product is listed when it is eligible (``scoring.is_eligible``: marketing consent, not held, age, credit
    record and band, required products), its propensity reaches the catalogue threshold and it is not cooling
    off (``in_cooloff`` on the product's latest offer event, :func:`offer_history`: accepted or declined within
    ``settings.offer_cooloff_days``, shown within ``settings.offer_reshow_days``). With ``frequency_cap`` (the
    default, as the bot uses it) the list is empty when the customer had any suggestion within
    ``settings.offer_reshow_days`` (``recently_suggested``): at most one suggestion a day. Missing profile
    attributes are imputed (``recommender.features``); they never raise. Read-only.

    Args:
        customer_id: a verified customer's id.
        k: how many offers at most (≥ 1).
        now: the current time for the frequency rules (default: now, UTC).
        frequency_cap: apply the one-suggestion-a-day rule (staff views may pass ``False``).

    Raises:
        profiles.errors.NotFound: no such customer.
        ValueError: ``k`` < 1.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    ctx, history = _read(customer_id, now=now)  # NotFound for an unknown customer
    consent = bool(getattr(ctx.customer, "marketing_consent", False))  # the flag profiles.has_marketing_consent reads
    if not consent:
        return []
    settings = get_settings()
    if frequency_cap and recently_suggested(ctx.last_offer, ctx.now, reshow_days=settings.offer_reshow_days):
        return []
    offers: list[Offer] = []
    for score in score_products(ctx, consent=consent):
        if not score.passes:  # thresholds differ per product: a lower score may still pass its own
            continue
        last = history.by_product.get(score.product)
        if in_cooloff(last, ctx.now, cooloff_days=settings.offer_cooloff_days, reshow_days=settings.offer_reshow_days):
            continue
        why = explain(score.product, ctx)
        offers.append(
            Offer(
                product=score.product,
                title=get_product(score.product).title,
                propensity=round(score.score, 4),
                reason=why.sentence,
                expected_value=round(score.expected_value, 2),
                factors=why.factors,
            )
        )
        if len(offers) == k:
            break
    return offers


def suggest_offer(customer_id: int, *, now: datetime | None = None) -> Offer | None:
    """The one product to suggest to ``customer_id`` now (the first of :func:`next_best_offers`), or ``None``.

    ``None`` without marketing consent, within a day of any suggestion, or when no product passes every rule.
    Read-only: recording that the offer was shown is the caller's job (``profiles.record_offer``).

    Raises:
        profiles.errors.NotFound: no such customer.
    """
    offers = next_best_offers(customer_id, 1, now=now)
    return offers[0] if offers else None
