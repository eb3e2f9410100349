"""Next best offer: at most one product to suggest to a customer, with a one-sentence reason.

Each rule has one home: marketing consent, products held and offer history are read from ``profiles``;
eligibility and scores from :mod:`recommender.scoring`; thresholds from :mod:`recommender.catalogue`; the
cool-off (no re-offer within ``settings.offer_cooloff_days`` of a decline) is :func:`in_cooloff`.
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


def in_cooloff(last: tuple[str, datetime] | None, now: datetime, days: int) -> bool:
    """Whether an offer is still cooling off: its last outcome is "declined", less than ``days`` days before ``now``.

    Args:
        last: ``profiles.last_offer_outcome(...)``: ``(outcome, when)`` or ``None`` if never offered. A naive
            ``when`` is taken as UTC.
        now: the current time (aware; naive is taken as UTC).
        days: the cool-off length in days (``settings.offer_cooloff_days``).
    """
    if last is None or last[0] != "declined":
        return False
    when = last[1] if last[1].tzinfo else last[1].replace(tzinfo=UTC)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    return now - when < timedelta(days=days)


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

    ``None`` when the customer has not consented to marketing, or when no product passes all of: eligible
    (``scoring.is_eligible``), not already held (``profiles.products_held``), score at or above the catalogue
    threshold, and not declined within ``settings.offer_cooloff_days`` days (``profiles.last_offer_outcome``).
    Otherwise the passing product with the highest score. Read-only: recording that the offer was shown is the
    caller's job (``profiles.record_offer``).

    Args:
        customer_id: a verified customer's id.
        now: the current time for the cool-off (default: now, UTC); tests pass a later time.

    Raises:
        profiles.errors.NotFound: no such customer.
    """
    if not profiles.has_marketing_consent(customer_id):
        return None
    now = now or datetime.now(UTC)
    customer = profiles.get_customer(customer_id)
    balance = total_balance(profiles.list_accounts(customer_id))
    held = profiles.products_held(customer_id)
    cooloff_days = get_settings().offer_cooloff_days
    for score in score_products(customer, balance, exclude=held):
        if not score.passes:  # thresholds differ per product: a lower score may still pass its own
            continue
        if in_cooloff(profiles.last_offer_outcome(customer_id, score.product), now, cooloff_days):
            continue
        return Offer(
            product=score.product,
            title=get_product(score.product).title,
            propensity=round(score.score, 4),
            reason=reason_for(score.product, customer, balance),
        )
    return None
