"""Product recommender: term-deposit propensity model, rule scores, eligibility and the next best offer.

Public API: :func:`suggest_offer` and :class:`Offer` (defined in :mod:`recommender.offers`). Training:
``python -m recommender.train``; registry: ``python -m recommender.registry list|promote VERSION``.
Reads profiles/ and nothing else of ours.

The two names are resolved on first use, so ``python -m recommender.registry`` / ``recommender.train`` and
``from recommender import registry`` do not import the CRM store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recommender.offers import Offer, suggest_offer

__all__ = ["Offer", "suggest_offer"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from recommender import offers

        return getattr(offers, name)
    raise AttributeError(f"module 'recommender' has no attribute {name!r}")
