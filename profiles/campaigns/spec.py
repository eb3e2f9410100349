"""A campaign's definition, validated (pydantic): what the API accepts and ``campaigns.spec`` stores.

Shape (JSON)::

    {"name": "term-deposit-june",
     "goal": {"conversion": "offer_accepted", "product": "term_deposit", "window_days": 14},
     "audience": {"segment": "affluent", "min_churn": 0.2, "max_churn": 0.9, "holds": ["current_account"],
                  "lacks": ["term_deposit"], "channel": "any", "consent": "marketing", "limit": 100000},
     "variants": [{"name": "A", "split": 50, "message": {"kind": "offer", "product": "term_deposit"}},
                  {"name": "B", "split": 50, "message": {...}, "messages": {"telegram": {...}}}],
     "control_pct": 10,
     "schedule": {"kind": "now"} | {"kind": "at", "at": "2026-12-24T09:00:00Z"}
                 | {"kind": "recurring", "rule": "0 9 * * 1", "until": "2027-06-30T00:00:00Z"}
                 | {"kind": "trigger", "event": "card_expiry", "days_before": 30, "rule": "0 9 * * *"}
                 | {"kind": "trigger", "event": "churn_crossing", "threshold": 0.6}}

A message is one of the bot's templates (``domain.yml`` ``utter_push_reminder``/``utter_push_offer``: never
free text) and the profile fields that fill its placeholders (``fields``: placeholder -> profile field, only
``push_name`` today, from ``PROFILE_FIELDS``). ``message`` is the default for every channel; ``messages`` may
override it per channel (telegram, facebook, socketio). Checks that need the database (the segment exists, the
audience is not empty) are ``store.create_campaign``'s. A refused value raises pydantic's ``ValidationError``
whose ``loc`` names the field; the API answers 422 and writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from profiles.campaigns.recurrence import next_run, parse_rule
from profiles.push import REMINDER_TEMPLATES
from profiles.schemas import PRODUCT_IDS

CONVERSIONS: Final = ("offer_accepted", "product_opened", "profile_updated")
CHANNELS: Final = ("telegram", "facebook", "socketio")
PLACEHOLDERS: Final = ("push_name",)  # the placeholders of the push responses in domain.yml
PROFILE_FIELDS: Final = ("first_name", "last_name")  # profile fields a placeholder may take
VARIANT_NAME: Final = r"^[A-Za-z0-9_-]{1,20}$"
MAX_VARIANTS: Final = 5  # A/B(/C...) arms of one campaign
DAILY_TRIGGER_RULE: Final = "0 9 * * *"  # a trigger campaign's sweep: every day at 09:00, the bank's time zone


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Goal(_Strict):
    """Which conversion counts for uplift, within ``window_days`` days of the send."""

    conversion: Literal["offer_accepted", "product_opened", "profile_updated"]
    product: str | None = Field(None, description="for offer_accepted/product_opened: the catalogue product")
    window_days: int = Field(14, ge=1, le=90)

    @model_validator(mode="after")
    def _product(self) -> Goal:
        if self.product is not None and self.product not in PRODUCT_IDS:
            raise ValueError(f"product must be one of {', '.join(sorted(PRODUCT_IDS))}")
        return self


class Propensity(_Strict):
    """The recommender's propensity for ``product`` in [``min``, ``max``], among customers its one offer gate
    finds eligible (applied at planning by ``api.campaign_gates.propensity_filter``: profiles/ may not import the
    recommender)."""

    product: str
    min: float = Field(0.0, ge=0, le=1)
    max: float = Field(1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _range(self) -> Propensity:
        if self.product not in PRODUCT_IDS:
            raise ValueError(f"product must be one of {', '.join(sorted(PRODUCT_IDS))}")
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class Audience(_Strict):
    """Who is targeted: filters over the latest scores (as ``profiles.search``), products held or not held,
    a reachable channel, a consent; at least one filter."""

    segment: str | None = Field(None, max_length=40)
    min_churn: float | None = Field(None, ge=0, le=1)
    max_churn: float | None = Field(None, ge=0, le=1)
    min_clv: float | None = None
    max_clv: float | None = None
    min_loyalty: float | None = None
    max_loyalty: float | None = None
    holds: list[str] = Field(default_factory=list, max_length=10, description="products every customer holds")
    lacks: list[str] = Field(default_factory=list, max_length=10, description="products no customer holds")
    channel: Literal["any", "telegram", "facebook"] = "any"
    consent: Literal["none", "marketing"] = "none"
    limit: int = Field(100_000, ge=1, le=100_000)
    propensity: Propensity | None = Field(None, description="the recommender's score range for a product")

    @field_validator("holds", "lacks")
    @classmethod
    def _products(cls, value: list[str]) -> list[str]:
        unknown = [p for p in value if p not in PRODUCT_IDS]
        if unknown:
            raise ValueError(f"unknown product {unknown[0]!r}")
        return value

    @model_validator(mode="after")
    def _some_filter(self) -> Audience:
        filters = (self.segment, self.min_churn, self.max_churn, self.min_clv, self.max_clv, self.min_loyalty,
                   self.max_loyalty)
        if all(f is None for f in filters) and not self.holds and not self.lacks and self.propensity is None:
            raise ValueError("choose the audience: a segment, a score range or products held")
        return self


class Message(_Strict):
    """One bot template: a reminder ``template`` or an ``offer`` of ``product``; ``fields`` fill placeholders."""

    kind: Literal["reminder", "offer"]
    template: str | None = None
    product: str | None = None
    fields: dict[str, str] = Field(default_factory=lambda: {"push_name": "first_name"})

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        for placeholder, field in value.items():
            if placeholder not in PLACEHOLDERS:
                raise ValueError(f"unknown placeholder {placeholder!r} (the templates have {', '.join(PLACEHOLDERS)})")
            if field not in PROFILE_FIELDS:
                raise ValueError(f"unknown profile field {field!r} (one of {', '.join(PROFILE_FIELDS)})")
        return value

    @model_validator(mode="after")
    def _template(self) -> Message:
        if self.kind == "reminder":
            if self.template not in REMINDER_TEMPLATES:
                raise ValueError(f"template must be one of {', '.join(REMINDER_TEMPLATES)}")
            if self.product is not None:
                raise ValueError("a reminder takes no product")
        else:
            if self.product not in PRODUCT_IDS:
                raise ValueError(f"product must be one of {', '.join(sorted(PRODUCT_IDS))}")
            if self.template not in (None, "product_offer"):
                raise ValueError("an offer's template is product_offer")
            self.template = "product_offer"
        return self


class Variant(_Strict):
    """An A/B arm: ``split`` percent of the treated customers get its message."""

    name: str = Field(pattern=VARIANT_NAME)
    split: int = Field(ge=1, le=100)
    message: Message
    messages: dict[Literal["telegram", "facebook", "socketio"], Message] = Field(default_factory=dict)

    def message_for(self, channel: str | None) -> Message:
        """The message for ``channel`` (its override, else the default)."""
        return self.messages.get(channel, self.message) if channel else self.message  # type: ignore[call-overload]


class Schedule(_Strict):
    """When the campaign is planned and sent: ``now``, ``at`` a future time (timezone-aware, UTC stored), or
    ``recurring`` by a cron-like ``rule`` (``profiles.campaigns.recurrence``: five fields, the bank's time zone)
    until the optional ``until`` (each occurrence is a new step of the delivery log)."""

    kind: Literal["now", "at", "recurring", "trigger"] = "now"
    at: datetime | None = None
    rule: str | None = Field(None, max_length=100, description="recurring: 'minute hour day month day_of_week'; "
                             "trigger: when the daily sweep runs (default '0 9 * * *')")
    until: datetime | None = Field(None, description="recurring/trigger: no occurrence after this time")
    exempt_quiet_hours: bool = Field(False, description="transactional reminders may go out in quiet hours")
    event: Literal["card_expiry", "deposit_maturity", "payment_due", "churn_crossing"] | None = Field(
        None, description="trigger: the CRM date (or churn_crossing: the churn score crossing ``threshold`` in a "
        "batch scoring run) that enrols a customer (profiles.campaigns.triggers)")
    days_before: int = Field(30, ge=0, le=90, description="trigger: enrol when the event is at most this many "
                             "days ahead (0: on its day)")
    threshold: float | None = Field(None, gt=0, le=1, description="churn_crossing: the churn probability (0, 1] "
                                    "a customer's score rises to or above from below, in one batch run")

    @field_validator("rule")
    @classmethod
    def _rule(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = " ".join(value.split())
        try:
            parse_rule(value)
        except ValueError as exc:
            raise ValueError(f"invalid rule: {exc}") from None
        return value

    @field_validator("until")
    @classmethod
    def _until(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None:
            return None
        until = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        stored = bool(info.context and info.context.get("stored"))
        if until <= datetime.now(UTC) and not stored:
            raise ValueError("the end date is in the past")
        return until

    @model_validator(mode="after")
    def _at(self, info: ValidationInfo) -> Schedule:
        stored = bool(info.context and info.context.get("stored"))  # read back: its time may have passed
        if self.kind == "trigger":
            if self.event is None:
                raise ValueError("a 'trigger' schedule needs its event: card_expiry, deposit_maturity or payment_due")
            self.rule = self.rule or DAILY_TRIGGER_RULE
            if self.event == "churn_crossing" and self.threshold is None:
                raise ValueError("a 'churn_crossing' trigger needs its threshold, a churn probability in (0, 1]")
            if self.event != "churn_crossing" and self.threshold is not None:
                raise ValueError("only a 'churn_crossing' trigger takes a threshold")
        elif self.event is not None or self.threshold is not None:
            raise ValueError("only a 'trigger' schedule takes an event (and a threshold)")
        if self.kind not in ("recurring", "trigger") and (self.rule is not None or self.until is not None):
            raise ValueError("only a 'recurring' or 'trigger' schedule takes a rule and an end date")
        if self.kind == "at":
            if self.at is None:
                raise ValueError("a schedule 'at' needs the time 'at'")
            at = self.at if self.at.tzinfo else self.at.replace(tzinfo=UTC)
            if at <= datetime.now(UTC) and not stored:
                raise ValueError("the schedule time is in the past")
            self.at = at.astimezone(UTC)
        elif self.kind in ("recurring", "trigger"):
            if self.at is not None:
                raise ValueError("a 'recurring' schedule takes a rule, not a time 'at'")
            if self.rule is None:
                raise ValueError("a 'recurring' schedule needs its rule, e.g. '0 9 * * 1'")
            if not stored and next_run(self.rule, datetime.now(UTC), until=self.until) is None:
                raise ValueError("the rule has no occurrence before the end date (or in five years)")
        elif self.at is not None:
            raise ValueError("a schedule 'now' takes no time")
        return self

    @property
    def repeats(self) -> bool:
        """A schedule of occurrences (``recurring`` or ``trigger``: the daily trigger sweep), not a single send."""
        return self.kind in ("recurring", "trigger")

    def next_run(self, after: datetime) -> datetime | None:
        """A recurring (or trigger) schedule's first occurrence after ``after`` (None: none left, or neither)."""
        if not self.repeats or self.rule is None:
            return None
        return next_run(self.rule, after, until=self.until)


def offer_places(variants: list[Variant] | list[dict[str, Any]]) -> list[str]:
    """Where ``variants`` (models, or their form dicts) send an offer: ``["variant A", "variant B on telegram"]``.
    An offer is marketing: it never takes the quiet-hours exemption (:class:`CampaignSpec`; the build page asks
    the same)."""
    out = []
    for v in variants:
        d = v.model_dump() if isinstance(v, Variant) else v
        if (d.get("message") or {}).get("kind") == "offer":
            out.append(f"variant {d.get('name')}")
        out += [f"variant {d.get('name')} on {ch}" for ch, m in (d.get("messages") or {}).items()
                if (m or {}).get("kind") == "offer"]
    return out


class CampaignSpec(_Strict):
    """The whole definition (module docstring)."""

    # no control characters, and none that hide or reorder text on staff pages (zero-width, bidi overrides)
    name: str = Field(min_length=1, max_length=80, pattern=r"^[^\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]+$")
    goal: Goal
    audience: Audience
    variants: list[Variant] = Field(min_length=1, max_length=MAX_VARIANTS)
    control_pct: int = Field(10, ge=0, le=50, description="percent of the audience held out (get nothing)")
    schedule: Schedule = Field(default_factory=lambda: Schedule.model_validate({}))

    @field_validator("schedule")
    @classmethod
    def _exemption(cls, value: Schedule, info: ValidationInfo) -> Schedule:
        variants = info.data.get("variants") or []
        stored = bool(info.context and info.context.get("stored"))  # read back: saved before this rule existed
        if value.exempt_quiet_hours and not stored and (offers := offer_places(variants)):
            raise ValueError(f"only transactional reminders may go out in quiet hours: {offers[0]} is an offer")
        return value

    @field_validator("variants")
    @classmethod
    def _splits(cls, value: list[Variant]) -> list[Variant]:
        if sum(v.split for v in value) != 100:
            raise ValueError("the variants' splits must sum to 100")
        if len({v.name for v in value}) != len(value):
            raise ValueError("variant names must differ")
        if any(v.name == "control" for v in value):
            raise ValueError("'control' is the control group's name")
        return value
