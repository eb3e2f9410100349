"""Staff updates of a customer profile: validated, optimistic-locked, audited.

``update_profile(cid, {"email": ..., "household_size": 3}, expected_version=7, actor="ana")`` changes the
allowed fields in one transaction, or nothing at all:

- every value is validated first (contact fields by ``profiles.contact.normalise_contact``, the same rules the
  bot applies; an email another customer already has, in any case, is refused); any invalid value raises
  ``InvalidInput`` naming the field and nothing is written;
- ``expected_version`` is the profile version the caller read (``Customer360.version``, the API's ETag); the
  row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and a different
  current version raises ``Conflict``. A writer that did not lock (the chat's ``update_contact``) and lost the
  race gets ``StaleDataError`` from the version column, also turned into ``Conflict``: no write is lost silently;
- each changed field gets an audit row (old, new, channel, actor ``staff:<username>``) and the timeline an
  internal ``profile_update`` item naming the fields (not the values).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from profiles.audit import record_audit, require_text
from profiles.contact import normalise_contact
from profiles.customers import load_customer
from profiles.db import session_scope
from profiles.errors import Conflict, InvalidInput
from profiles.models import Customer, Interaction, utcnow
from profiles.schemas import EDUCATION, JOBS, MARITAL, REGIONS

log = logging.getLogger(__name__)

AGE_RANGE: Final = (18, 120)
HOUSEHOLD_MAX: Final = 20
INCOME_MAX: Final = Decimal("100000000.00")  # EUR per year, sanity bound
NULLABLE: Final = ("household_size", "children", "annual_income")


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One changed field with its old and new value (as stored: Decimal for income, int for counts)."""

    field: str
    old_value: Any
    new_value: Any


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    """Result of ``update_profile``: the fields that changed (empty when nothing did) and the profile version now
    in force (pass it as ``expected_version`` next time)."""

    customer_id: int
    version: int
    changes: tuple[FieldChange, ...]


def _integer(field: str, low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(f"{field} must be a whole number from {low} to {high}.", field=field)
        return value
    return check


def _choice(field: str, allowed: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = value.strip() if isinstance(value, str) else value
        if text not in allowed:
            raise InvalidInput(f"{field} must be one of: {', '.join(allowed)}.", field=field)
        return str(text)
    return check


def _contact(field: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidInput(f"{field} must be text.", field=field)
        return normalise_contact(field, value)
    return check


def _income(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal, float)):
        raise InvalidInput("annual_income must be an amount in EUR.", field="annual_income")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput("annual_income must be an amount in EUR.", field="annual_income") from None
    if not amount.is_finite() or amount < 0 or amount > INCOME_MAX or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidInput(f"annual_income must be 0..{INCOME_MAX} EUR with at most 2 decimals.",
                           field="annual_income")
    return amount.quantize(Decimal("0.01"))


VALIDATORS: Final[dict[str, Callable[[Any], Any]]] = {
    "email": _contact("email"),
    "phone": _contact("phone"),
    "address": _contact("address"),
    "region": _choice("region", REGIONS),
    "age": _integer("age", *AGE_RANGE),
    "job": _choice("job", JOBS),
    "marital": _choice("marital", MARITAL),
    "education": _choice("education", EDUCATION),
    "household_size": _integer("household_size", 1, HOUSEHOLD_MAX),
    "children": _integer("children", 0, HOUSEHOLD_MAX - 1),
    "annual_income": _income,
}
UPDATABLE_FIELDS: Final = tuple(VALIDATORS)


def validate_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check and normalise every change (no database access). ``None`` clears household_size, children or
    annual_income (not known); the other fields cannot be cleared.

    Raises:
        InvalidInput: no change given (field ``body``), a field that cannot be updated or an invalid value
            (field = its name).
    """
    if not changes:
        raise InvalidInput("Give at least one field to change.", field="body")
    clean: dict[str, Any] = {}
    for field, value in changes.items():
        if field not in VALIDATORS:
            raise InvalidInput(f"{field} cannot be updated here (allowed: {', '.join(UPDATABLE_FIELDS)}).",
                               field=field)
        if value is None:
            if field not in NULLABLE:
                raise InvalidInput(f"{field} cannot be empty.", field=field)
            clean[field] = None
        else:
            clean[field] = VALIDATORS[field](value)
    return clean


def _audit_text(value: Any) -> str | None:
    return None if value is None else str(value)


def update_profile(
    customer_id: int, changes: Mapping[str, Any], *, expected_version: int, actor: str,
    channel: str = "staff_api",
) -> ProfileUpdate:
    """Apply ``changes`` (field -> new value, fields in ``UPDATABLE_FIELDS``) if the profile is still at
    ``expected_version``; see the module docstring. Values equal to the stored ones are not changes; when
    nothing changes nothing is written and the version stays. ``actor`` is the staff username (audited as
    ``staff:<username>``), ``channel`` where the change came from.

    Raises:
        InvalidInput: see ``validate_changes``; children >= household_size (field ``children``); an email
            another customer's profile already holds, in any case (field ``email``); empty actor.
        NotFound: no such customer.
        Conflict: the profile is not at ``expected_version`` any more, or changed concurrently.
    """
    clean = validate_changes(changes)
    actor = require_text(actor, "actor", 74)
    channel = require_text(channel, "channel", 30)
    try:
        with session_scope(write=True) as session:
            customer = load_customer(session, customer_id, lock=True)
            if customer.version != expected_version:
                raise Conflict(f"The profile changed since you read it (version {customer.version} now, "
                               f"{expected_version} read); read it again.",
                               detail=f"customer {customer_id} is at version {customer.version}, "
                                      f"not {expected_version}")
            household = clean.get("household_size", customer.household_size)
            children = clean.get("children", customer.children)
            if household is not None and children is not None and children >= household:
                raise InvalidInput("children must be fewer than household_size (the household includes the "
                                   "customer).", field="children")
            email = clean.get("email")
            if email is not None and session.scalar(
                    select(Customer.id).where(func.lower(Customer.email) == email.lower(),
                                              Customer.id != customer_id).limit(1)) is not None:
                raise InvalidInput("That email address is already used by another customer profile.", field="email")
            done: list[FieldChange] = []
            for field, new in clean.items():
                old = getattr(customer, field)
                if old == new:
                    continue
                setattr(customer, field, new)
                done.append(FieldChange(field, old, new))
                record_audit(session, customer_id=customer_id, entity="customer", entity_id=customer_id,
                             field=field, old_value=_audit_text(old), new_value=_audit_text(new),
                             channel=channel, actor=f"staff:{actor}")
            if done:
                now = utcnow()
                customer.updated_at = now
                names = [c.field for c in done]
                session.add(Interaction(
                    customer_id=customer_id, kind="profile_update", channel=channel, direction="internal",
                    summary=f"Profile updated: {', '.join(names)}", actor=actor, details={"fields": names},
                    occurred_at=now,
                ))
                session.flush()
            version = customer.version
    except StaleDataError:
        raise Conflict("The profile was changed by someone else at the same moment; read it again.",
                       detail=f"customer {customer_id} changed concurrently") from None
    if done:
        log.info("customer %s profile updated (%s) by %s", customer_id, ", ".join(c.field for c in done), actor)
    return ProfileUpdate(customer_id=customer_id, version=version, changes=tuple(done))
