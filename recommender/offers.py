"""Next best offers: the eligible products a customer does not hold, ranked by expected value, with reasons.

Each rule has one home: marketing consent on a channel (``profiles.consent.decide_consent``), products held,
offer history and the credit band are read through ``profiles`` services; eligibility and scores from
:mod:`recommender.scoring`; thresholds and values from :mod:`recommender.catalogue`; the reason from
:mod:`recommender.explain`; the frequency rules (how soon a product, or any product, may be suggested again)
are :func:`in_cooloff` and :func:`recently_suggested`, side by side below.

:func:`offer_gate` (customer, product, channel, now -> eligible or the reason) is the one offer gate: the bot's
suggestion, the life-event reply, the push API and campaigns ask it. :func:`next_best_offers` ranks the
products that pass the same gate and their propensity threshold; :func:`suggest_offer` (the bot) is its first item.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from profiles.accounts import load_accounts
from profiles.consent import ALL_CHANNELS, MARKETING, ConsentDecision, decide_consent
from profiles.customers import customer_view, load_credit_band, load_customer, load_products_held
from profiles.db import session_scope
from profiles.offers import OfferHistory, load_offer_history
from profiles.schemas import AccountView
from profiles.settings import get_settings
from recommender.catalogue import get_product
from recommender.explain import explain
from recommender.features import CustomerContext
from recommender.scoring import ineligibility, score_products

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


def customer_context(customer_id: int, *, now: datetime | None = None) -> CustomerContext:
    """Everything the recommender reads about one customer, in one read-only database session.

    The profile (``profiles.customers.customer_view``), the EUR balance of the accounts
    (``profiles.accounts.load_accounts``), the products held (``load_products_held``), the latest offer event
    (``profiles.offers.load_offer_history``) and the credit band (``load_credit_band``): the same services
    ``profiles.get_customer``, ``list_accounts``, ``products_held`` and ``latest_offer_event`` use
    (``tests/recommender/test_offers_db.py`` holds them equal), in one session instead of five: the action
    server's latency budget.

    Raises:
        profiles.errors.NotFound: no such customer.
    """
    return _read(customer_id, ALL_CHANNELS, now=now).ctx


@dataclass(frozen=True)
class _Snapshot:
    ctx: CustomerContext
    history: OfferHistory
    consent: ConsentDecision


def _read(customer_id: int, channel: str | None, *, now: datetime | None = None) -> _Snapshot:
    now = _aware(now or datetime.now(UTC))
    settings = get_settings()
    window = timedelta(days=max(settings.offer_cooloff_days, settings.offer_reshow_days) + 1)
    with session_scope() as session:
        customer = customer_view(load_customer(session, customer_id))  # NotFound for an unknown customer
        balance = total_balance(load_accounts(session, customer_id))
        held = load_products_held(session, customer_id)
        consent = decide_consent(session, customer_id, MARKETING, channel)
        history = load_offer_history(session, customer_id, now - window)
        band = load_credit_band(session, customer_id)  # last: it may end the transaction
    ctx = CustomerContext(customer=customer, total_balance=balance, held=held, last_offer=history.latest,
                          credit_band=band, now=now)
    return _Snapshot(ctx, history, consent)


def _refusal(product: str, snap: _Snapshot, *, frequency_cap: bool) -> str | None:
    """The gate's rules in order (consent, eligibility, cool-off, daily cap); the first that refuses, or None."""
    ctx = snap.ctx
    if not snap.consent.granted:
        return snap.consent.reason
    why = ineligibility(product, ctx.customer, consent=True, held=ctx.held, credit_band=ctx.credit_band)
    if why is not None:
        return why
    settings = get_settings()
    last = snap.history.by_product.get(product)
    if in_cooloff(last, ctx.now, cooloff_days=settings.offer_cooloff_days, reshow_days=settings.offer_reshow_days):
        assert last is not None
        return f"{last[0]} on {last[1]:%Y-%m-%d}, cooling off"
    if frequency_cap and recently_suggested(ctx.last_offer, ctx.now, reshow_days=settings.offer_reshow_days):
        assert ctx.last_offer is not None
        return f"{ctx.last_offer[0]} {ctx.last_offer[1]} on {ctx.last_offer[2]:%Y-%m-%d}: at most one offer a day"
    return None


@dataclass(frozen=True)
class Eligibility:
    """The offer gate's answer for one customer, product and channel.

    Attributes:
        customer_id: the customer.
        product: the catalogue id asked about.
        channel: the consent channel the answer is for (``profiles.consent.consent_channel``).
        reason: None when the product may be offered now; else why not, for staff (``no marketing consent on
            telegram``, ``already held``, ``credit record not known to be clean``, ``credit band E``, ``declined
            on 2025-01-02, cooling off``, ``... at most one offer a day``).
    """

    customer_id: int
    product: str
    channel: str
    reason: str | None

    @property
    def eligible(self) -> bool:
        """True when the product may be offered now."""
        return self.reason is None


def offer_gate(
    customer_id: int, product: str, channel: str | None = ALL_CHANNELS, *, now: datetime | None = None,
    frequency_cap: bool = True,
) -> Eligibility:
    """May ``product`` be offered to ``customer_id`` on ``channel`` at ``now``? The one offer gate, in order:

    1. marketing consent on that channel (``profiles.consent.decide_consent``: the channel's row overrides
       ``all``); ``channel`` as Rasa names it (``socketio``, ``telegram`` ...) or a consent channel;
    2. eligibility (``scoring.ineligibility``: not held, age, credit record and band, required products);
    3. the product's cool-off (:func:`in_cooloff`: accepted/declined within ``offer_cooloff_days``, shown
       within ``offer_reshow_days``);
    4. with ``frequency_cap`` (the bot's suggestion and pushes): no offer event of any product within
       ``offer_reshow_days`` (:func:`recently_suggested`: at most one offer a day).

    The propensity threshold is not part of it: it chooses *which* product to suggest (:func:`next_best_offers`),
    not whether one named product may be offered. Read-only; one database session.

    Raises:
        profiles.errors.NotFound: no such customer.
        KeyError: a product outside the catalogue.
    """
    get_product(product)
    snap = _read(customer_id, channel, now=now)
    return Eligibility(customer_id, product, snap.consent.channel, _refusal(product, snap, frequency_cap=frequency_cap))


def next_best_offers(
    customer_id: int, k: int = 3, *, channel: str | None = ALL_CHANNELS, now: datetime | None = None,
    frequency_cap: bool = True,
) -> list[Offer]:
    """Up to ``k`` products to offer ``customer_id``, best expected value (propensity × value) first.

    A product is listed when it passes :func:`offer_gate` on ``channel`` (marketing consent on that channel,
    eligibility, cool-off and, with ``frequency_cap``, the one-offer-a-day rule) and its propensity reaches the
    catalogue threshold. With ``frequency_cap`` (the default, as the bot uses it) the list is empty when the
    customer had any suggestion within ``settings.offer_reshow_days``. Missing profile attributes are imputed
    (``recommender.features``); they never raise. Read-only.

    Args:
        customer_id: a verified customer's id.
        k: how many offers at most (≥ 1).
        channel: where the offer would be made (consent is per channel; default ``all``, the customer-wide
            choice): a Rasa channel name (``telegram``, ``socketio`` ...) or a ``profiles.consent`` channel.
        now: the current time for the frequency rules (default: now, UTC).
        frequency_cap: apply the one-suggestion-a-day rule (staff views may pass ``False``).

    Raises:
        profiles.errors.NotFound: no such customer.
        ValueError: ``k`` < 1.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    snap = _read(customer_id, channel, now=now)  # NotFound for an unknown customer
    ctx = snap.ctx
    if not snap.consent.granted:
        return []
    settings = get_settings()
    if frequency_cap and recently_suggested(ctx.last_offer, ctx.now, reshow_days=settings.offer_reshow_days):
        return []
    offers: list[Offer] = []
    for score in score_products(ctx, consent=True):
        if not score.passes:  # thresholds differ per product: a lower score may still pass its own
            continue
        if _refusal(score.product, snap, frequency_cap=False) is not None:  # the daily cap was checked above
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


def suggest_offer(
    customer_id: int, *, channel: str | None = ALL_CHANNELS, now: datetime | None = None
) -> Offer | None:
    """The one product to suggest to ``customer_id`` on ``channel`` now (the first of :func:`next_best_offers`),
    or ``None``.

    ``None`` without marketing consent on that channel, within a day of any suggestion, or when no product
    passes every rule.
    Read-only: recording that the offer was shown is the caller's job (``profiles.record_offer``).

    Raises:
        profiles.errors.NotFound: no such customer.
    """
    offers = next_best_offers(customer_id, 1, channel=channel, now=now)
    return offers[0] if offers else None
