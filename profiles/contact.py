"""Contact details: the one place that validates and normalises email, phone and address."""

from __future__ import annotations

import logging
import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm.exc import StaleDataError

from profiles.audit import record_audit, require_text
from profiles.customers import load_customer
from profiles.db import session_scope
from profiles.errors import Conflict, InvalidInput
from profiles.schemas import CONTACT_FIELDS, ContactChange

log = logging.getLogger(__name__)

PHONE_REGION = "PT"
ADDRESS_MIN = 8
ADDRESS_MAX = 200
ADDRESS_HINT = "Please give the full postal address, e.g. Rua Augusta 100, 1100-053 Lisboa."
_FIELD_ALIASES = {
    "e-mail": "email",
    "email address": "email",
    "mail": "email",
    "phone number": "phone",
    "mobile": "phone",
    "telephone": "phone",
    "postal address": "address",
}


def normalise_field(field: str) -> str:
    """Return the canonical contact field (``email``, ``phone`` or ``address``) for ``field`` or an alias.

    Raises:
        InvalidInput: (field ``field``) not a contact field.
    """
    key = (field or "").strip().lower()
    key = _FIELD_ALIASES.get(key, key)
    if key not in CONTACT_FIELDS:
        raise InvalidInput("I can update your email, phone number or address.", field="field")
    return key


def normalise_contact(field: str, value: str) -> str:
    """Validate ``value`` for the contact ``field`` and return its stored form.

    - email: syntax checked (no DNS look-up), normalised by ``email-validator``;
    - phone: parsed with default region PT, must be a valid number, returned as E.164 (``+351912345678``);
    - address: whitespace (line breaks, tabs) collapsed to single spaces; printable; 8..200 characters; at
      least two words, at least one letter (street, town) and at least one digit (house number or postal
      code). Refusals say what is expected (``ADDRESS_HINT``).

    Raises:
        InvalidInput: with ``field`` set to the (canonical) field name.
    """
    key = normalise_field(field)
    text = (value or "").strip()
    if key == "email":
        try:
            return validate_email(text, check_deliverability=False).normalized
        except EmailNotValidError:
            raise InvalidInput(
                "That doesn't look like a valid email address.", field="email"
            ) from None
    if key == "phone":
        try:
            number = phonenumbers.parse(text, PHONE_REGION)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            raise InvalidInput(
                "That doesn't look like a valid phone number (e.g. 912 345 678 or +351 912 345 678).",
                field="phone",
            )
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    address = re.sub(r"\s+", " ", text)  # line breaks and tabs of a pasted address become spaces
    if not address.isprintable():
        raise InvalidInput("The address can only contain printable characters.", field="address")
    if len(address) > ADDRESS_MAX:
        raise InvalidInput(f"The address is too long (at most {ADDRESS_MAX} characters).", field="address")
    words = [w for w in re.split(r"[\s,]+", address) if w]
    if (
        len(address) < ADDRESS_MIN
        or len(words) < 2
        or not any(c.isalpha() for c in address)
        or not any(c.isascii() and c.isdigit() for c in address)
    ):
        raise InvalidInput(ADDRESS_HINT, field="address")
    return address


def update_contact(customer_id: int, field: str, value: str, *, channel: str, actor: str) -> ContactChange:
    """Change the customer's email, phone or address; returns the old and the new (normalised) value.

    The change and its audit row (old, new, channel, actor, time) are written in one transaction. When the
    new value equals the stored one nothing is written (``ContactChange.changed`` is False).

    Raises:
        InvalidInput: unknown field, invalid value (``.field`` names it), empty channel/actor.
        NotFound: no such customer.
        Conflict: the profile was changed concurrently (optimistic lock); retrying is safe.
    """
    key = normalise_field(field)
    new_value = normalise_contact(key, value)
    channel = require_text(channel, "channel", 30)
    actor = require_text(actor, "actor", 80)
    # A concurrent writer (the feed, the API) may win the optimistic lock between our read and our write: the
    # change is read and applied again once, then reported as a Conflict.
    for attempt in range(2):
        try:
            with session_scope(write=True) as session:
                customer = load_customer(session, customer_id)
                old_value: str = getattr(customer, key)
                if old_value == new_value:
                    return ContactChange(field=key, old_value=old_value, new_value=new_value)
                setattr(customer, key, new_value)
                record_audit(
                    session,
                    customer_id=customer_id,
                    entity="customer",
                    entity_id=customer_id,
                    field=key,
                    old_value=old_value,
                    new_value=new_value,
                    channel=channel,
                    actor=actor,
                )
            break
        except StaleDataError:
            if attempt:
                raise Conflict(detail=f"customer {customer_id} changed concurrently") from None
    log.info("customer %s updated %s via %s", customer_id, key, channel)
    return ContactChange(field=key, old_value=old_value, new_value=new_value)
