"""Next best offers for one customer, for staff and marketing: ``GET /customers/{id}/recommendations``.

The same engine as the bot's proactive suggestion (``recommender.next_best_offers``; the bot takes its first item
through ``suggest_offer``): the one offer gate (``recommender.offer_gate``: marketing consent on ``channel``,
products held, age, credit record and band, the cool-off after an answer), the calibrated propensity models of
the promoted registry version, ranking by expected value. ``channel`` (default ``all``: the customer-wide
choice) is the channel the offer would be made on: consent is per channel (``profiles.consent``), so the answer
for ``channel=telegram`` is the bot's and the push API's on Telegram. The staff view skips only the
one-suggestion-a-day frequency cap (``frequency_cap=False``). Read-only;
the read of the customer's record is written to the access log (``profiles.access``, action
``recommendations``), as every customer read of this API.

Roles: staff, marketing and admin (``api/deps.py`` ``SalesDep``). Errors: 401/403 token, 404 no such customer,
422 a bad ``k``, an unknown ``product`` or ``channel``, or a ``version`` that is not the promoted one (the message lists the
valid values).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.deps import SalesDep
from api.schemas import ErrorOut, ValidationErrorOut
from profiles.access import record_access
from profiles.consent import ALL_CHANNELS, CONSENT_CHANNELS, MARKETING, check_purpose_channel, has_marketing_consent
from profiles.errors import InvalidInput
from recommender import next_best_offers, registry
from recommender.catalogue import CATALOGUE, PRODUCT_IDS
from recommender.tasks import PRODUCT_TASK

router = APIRouter(prefix="/customers", tags=["recommendations"])

MAX_ID = 2**31 - 1  # ids are INTEGER columns
MAX_K = len(CATALOGUE)
CURRENCY = "EUR"


class RecommendationOut(BaseModel):
    """One product to offer, best expected value first."""

    product: str = Field(description="catalogue id", examples=["term_deposit"])
    title: str = Field(examples=["Term deposit"])
    propensity: float = Field(ge=0, le=1, description="calibrated probability (model) or rule score, in [0, 1]")
    expected_value: float = Field(description="propensity × the product's value, EUR (the ranking key)")
    currency: str = Field(default=CURRENCY)
    reason: str = Field(description="one plain sentence: why it suits the customer")
    factors: list[str] = Field(description="the features the reason names, most influential first")
    scored_by: str = Field(description="'model' (a promoted propensity model) or 'rule' (a hand-set rule)")
    model: str | None = Field(description="the registry model that scored it (None for a rule)")
    model_version: str | None = Field(description="its promoted version (None for a rule)")


class RecommendationsOut(BaseModel):
    """The customer's next best offers (empty without marketing consent or when nothing passes every rule)."""

    customer_id: int
    k: int
    channel: str = Field(description="the consent channel the answer is for (all, web, telegram, facebook ...)")
    marketing_consent: bool = Field(description="marketing consent on that channel (its own row, else 'all')")
    recommendations: list[RecommendationOut]


_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no, malformed, expired or forged staff token"},
    403: {"model": ErrorOut, "description": "the token's role may not do this"},
    404: {"model": ErrorOut, "description": "no such customer"},
    422: {"model": ValidationErrorOut, "description": "bad k, unknown product or not the promoted model version"},
}


def _promoted_versions() -> dict[str, str | None]:
    """Registry model → promoted version, for the models that score a catalogue product."""
    return {task: registry.promoted_version(task) for task in PRODUCT_TASK.values()}


def _check_version(version: str) -> None:
    promoted = {v for v in _promoted_versions().values() if v is not None}
    if version not in promoted:
        known = sorted({v for task in PRODUCT_TASK.values() for v in registry.list_versions(task)})
        raise InvalidInput(
            f"Model version {version!r} is not the one serving. Promoted: {', '.join(sorted(promoted)) or 'none'}; "
            f"known: {', '.join(known) or 'none'} (promote one with `python -m recommender.registry promote VERSION`).",
            field="version",
        )


@router.get("/{customer_id}/recommendations", response_model=RecommendationsOut, responses=_RESPONSES)
def recommendations(
    staff: SalesDep,
    customer_id: Annotated[int, Path(ge=1, le=MAX_ID, description="customer id")],
    k: Annotated[int, Query(ge=1, le=MAX_K, description=f"how many offers at most (1-{MAX_K})")] = 3,
    product: Annotated[
        str | None, Query(max_length=40, description=f"only this product: one of {', '.join(PRODUCT_IDS)}")
    ] = None,
    version: Annotated[
        str | None, Query(max_length=40, description="the model version you expect (422 unless it is promoted)")
    ] = None,
    channel: Annotated[
        str, Query(max_length=20, description=f"where the offer would be made: one of {', '.join(CONSENT_CHANNELS)}")
    ] = ALL_CHANNELS,
) -> RecommendationsOut:
    """Up to ``k`` products to offer the customer now, best expected value first, each with its reason."""
    if product is not None and product not in CATALOGUE:
        raise InvalidInput(f"Unknown product {product!r}; valid: {', '.join(PRODUCT_IDS)}.", field="product")
    _, channel = check_purpose_channel(MARKETING, channel)  # 422 names the field
    if version is not None:
        _check_version(version)
    offers = next_best_offers(customer_id, MAX_K if product else k, channel=channel,
                              frequency_cap=False)  # NotFound -> 404
    if product is not None:
        offers = [o for o in offers if o.product == product][:k]
    consent = has_marketing_consent(customer_id, channel)
    versions = _promoted_versions()
    record_access(staff.username, staff.role, customer_id, "recommendations", f"k={k}" + (f" product={product}" if product else ""))
    return RecommendationsOut(
        customer_id=customer_id,
        k=k,
        channel=channel,
        marketing_consent=consent,
        recommendations=[
            RecommendationOut(
                product=o.product,
                title=o.title,
                propensity=o.propensity,
                expected_value=o.expected_value,
                reason=o.reason,
                factors=list(o.factors),
                scored_by="model" if o.product in PRODUCT_TASK else "rule",
                model=PRODUCT_TASK.get(o.product),
                model_version=versions.get(PRODUCT_TASK[o.product]) if o.product in PRODUCT_TASK else None,
            )
            for o in offers
        ],
    )
