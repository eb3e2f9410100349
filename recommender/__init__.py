"""Product recommender: term-deposit propensity model, rule scores, eligibility and the next best offer.

Public API: :func:`suggest_offer` and :class:`Offer`. Training: ``python -m recommender.train``; registry:
``python -m recommender.registry list|promote VERSION``. Reads profiles/ and nothing else of ours.
"""

from recommender.offers import Offer, suggest_offer

__all__ = ["Offer", "suggest_offer"]
