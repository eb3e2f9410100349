"""Next-best-offer engine: calibrated per-product propensity models, eligibility, ranking and explanations.

Public API (defined in :mod:`recommender.offers`): :func:`offer_gate` (may this product be offered to this
customer on this channel now, or why not: the bot, the life-event reply, push and campaigns), :func:`suggest_offer`
(the bot's one suggestion), :func:`next_best_offers` (a ranked list, for staff and campaigns), :class:`Offer`
and :class:`Eligibility`. Training:
``python -m recommender.train``; evaluation: ``python -m recommender.evaluate``; registry:
``python -m recommender.registry list|promote VERSION|rollback|check``. Reads profiles/ and nothing else of ours.

The two names are resolved on first use, so ``python -m recommender.registry`` / ``recommender.train`` and
``from recommender import registry`` do not import the CRM store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recommender.offers import Eligibility, Offer, next_best_offers, offer_gate, suggest_offer

__all__ = ["Eligibility", "Offer", "next_best_offers", "offer_gate", "suggest_offer"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from recommender import offers

        return getattr(offers, name)
    raise AttributeError(f"module 'recommender' has no attribute {name!r}")
