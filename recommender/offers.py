"""Next best offer: at most one product to suggest to a customer, with a one-sentence reason.

Each rule has one home: marketing consent, products held and offer history are read from ``profiles``;
eligibility and scores from :mod:`recommender.scoring`; thresholds from :mod:`recommender.catalogue`; the
frequency rules (how soon a product, or any product, may be suggested again) are :func:`in_cooloff` and
:func:`recently_suggested`, side by side below.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import profiles
from profiles.schemas import AccountView
from profiles.settings import get_settings
from recommender.catalogue import get_product
from recommender.explain import reason_for
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
    """

    product: str
    title: str
    propensity: float
    reason: str


# --- Frequency rules: the one place that decides how often a customer hears a suggestion. -----------------
#   * a product the customer answered (accepted: a lead exists; or declined) is not offered again for
#     settings.offer_cooloff_days (30) days;
#   * a product merely shown (no answer) is not shown again for settings.offer_reshow_days (1) day;
#   * any offer event within settings.offer_reshow_days blocks every product: at most one suggestion per
#     customer per day, across conversations and channels.


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def in_cooloff(
    last: tuple[str, datetime] | None, now: datetime, *, cooloff_days: int, reshow_days: int
) -> bool:
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


def suggest_offer(customer_id: int, *, now: datetime | None = None) -> Offer | None:
    """The one product to suggest to ``customer_id`` now, or ``None``.

    ``None`` when the customer has not consented to marketing, when the customer had any suggestion within
    ``settings.offer_reshow_days`` (``recently_suggested`` on ``profiles.latest_offer_event``), or when no
    product passes all of: eligible (``scoring.is_eligible``), not already held (``profiles.products_held``),
    score at or above the catalogue threshold, and not cooling off (``in_cooloff`` on
    ``profiles.last_offer_outcome``: accepted or declined within ``settings.offer_cooloff_days``, shown within
    ``settings.offer_reshow_days``). Otherwise the passing product with the highest score. Read-only:
    recording that the offer was shown is the caller's job (``profiles.record_offer``).

    Args:
        customer_id: a verified customer's id.
        now: the current time for the frequency rules (default: now, UTC); tests pass a later time.

    Raises:
        profiles.errors.NotFound: no such customer.
    """
    if not profiles.has_marketing_consent(customer_id):
        return None
    now = now or datetime.now(UTC)
    customer = profiles.get_customer(customer_id)  # NotFound for an unknown customer
    settings = get_settings()
    if recently_suggested(profiles.latest_offer_event(customer_id), now, reshow_days=settings.offer_reshow_days):
        return None
    balance = total_balance(profiles.list_accounts(customer_id))
    held = profiles.products_held(customer_id)
    for score in score_products(customer, balance, exclude=held):
        if not score.passes:  # thresholds differ per product: a lower score may still pass its own
            continue
        last = profiles.last_offer_outcome(customer_id, score.product)
        if in_cooloff(
            last, now, cooloff_days=settings.offer_cooloff_days, reshow_days=settings.offer_reshow_days
        ):
            continue
        return Offer(
            product=score.product,
            title=get_product(score.product).title,
            propensity=round(score.score, 4),
            reason=reason_for(score.product, customer, balance),
        )
    return None
