"""Customer search for staff and marketing: by name, email, phone, segment and score ranges, paginated.

Filters combine with AND. Matching rules:

- ``name``: case-insensitive, partial: every word of the query must occur in "first_name last_name"
  ("gonç silva" finds "José Gonçalves Silva"; "ângela" and "ÂNGELA" find "Ângela"). On SQLite, whose case folding
  is ASCII-only, a non-ASCII letter other than a word's first matches in its stored case only.
- ``email``: whole address, case-insensitive (``lower(email)``).
- ``phone``: normalised first with ``profiles.contact.normalise_contact`` (``912 345 678`` -> ``+351912345678``),
  then compared exactly with the stored E.164 number.
- ``segment``: exact segment name of the latest scores; ``min_/max_churn`` (probability 0..1), ``min_/max_clv``
  (EUR), ``min_/max_loyalty`` (score) are inclusive ranges over ``CustomerScore``; a score filter leaves out
  customers not scored yet.

Pagination: ``limit`` 1..100, and either ``offset`` or the keyset ``after_id`` (the ``next_after_id`` of the
previous page: constant cost however deep). Results are ordered by customer id. Indexed columns: customer id
(primary key), ``customer_scores.segment`` / ``churn_probability`` / ``clv``; email and phone use
``lower(email)`` / ``phone`` indexes where the schema has them (see docs/API.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import ColumnElement, Select, func, literal_column, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from profiles.contact import normalise_contact
from profiles.db import get_engine, session_scope
from profiles.errors import InvalidInput
from profiles.models import Customer, CustomerScore

SEARCH_MAX: Final = 100
MAX_ID: Final = 2**31 - 1  # ids are INTEGER columns (32-bit on PostgreSQL)
NAME_MAX: Final = 120


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to look for (every field optional; see the module docstring for the matching rules)."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    segment: str | None = None
    min_churn: float | None = None
    max_churn: float | None = None
    min_clv: float | None = None
    max_clv: float | None = None
    min_loyalty: float | None = None
    max_loyalty: float | None = None

    def used_filters(self) -> tuple[str, ...]:
        """Names of the filters given (for the access log: names only, never the values)."""
        return tuple(f for f in self.__dataclass_fields__ if getattr(self, f) not in (None, ""))

    @property
    def uses_contact_details(self) -> bool:
        """True when the query looks a customer up by name, email or phone."""
        return any(getattr(self, f) not in (None, "") for f in ("name", "email", "phone"))


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One matching customer with their latest scores (None when not scored yet). ``clv`` EUR,
    ``churn_probability`` 0..1."""

    id: int
    first_name: str
    last_name: str
    email: str
    phone: str
    region: str
    segment: str | None
    churn_probability: float | None
    churn_band: str | None
    clv: float | None
    loyalty_score: float | None
    credit_band: str | None


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of hits; ``next_after_id`` (pass as ``after_id``) and ``next_offset`` fetch the next page,
    both None when this is the last."""

    items: tuple[SearchHit, ...]
    limit: int
    offset: int
    next_offset: int | None
    next_after_id: int | None


def _range(column: InstrumentedAttribute[float | None], low: float | None, high: float | None, field: str,
           bounds: tuple[float, float] | None = None) -> list[ColumnElement[bool]]:
    for value, name in ((low, f"min_{field}"), (high, f"max_{field}")):
        if value is None:
            continue
        if value != value or value in (float("inf"), float("-inf")):  # NaN or infinite
            raise InvalidInput(f"{name} must be a finite number.", field=name)
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            raise InvalidInput(f"{name} must be between {bounds[0]} and {bounds[1]}.", field=name)
    if low is not None and high is not None and low > high:
        raise InvalidInput(f"min_{field} is greater than max_{field}.", field=f"min_{field}")
    conditions: list[ColumnElement[bool]] = []
    if low is not None:
        conditions.append(column >= low)
    if high is not None:
        conditions.append(column <= high)
    return conditions


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _name_condition(word: str, dialect: str) -> ColumnElement[bool]:
    """``word`` (lower case) occurs in "first_name last_name", ignoring case.

    PostgreSQL: ``lower(first || ' ' || last) LIKE '%word%'`` (Unicode-aware ``lower``; the expression of the
    proposed trigram index). SQLite's ``lower`` and ``LIKE`` fold ASCII letters only, so there the raw name is
    matched (``LIKE`` ignores ASCII case) against the word and the word with a capital first letter: "ângela"
    and "ÂNGELA" both find "Ângela".
    """
    if dialect == "postgresql":
        # The space is a literal, not a parameter, so the expression equals the index's.
        full = func.lower(Customer.first_name + literal_column("' '") + Customer.last_name)
        return full.like(_like(word), escape="\\")
    raw = Customer.first_name + literal_column("' '") + Customer.last_name
    variants = dict.fromkeys((word, word[:1].upper() + word[1:]))
    return or_(*(raw.like(_like(v), escape="\\") for v in variants))


def _printable(value: str, field: str) -> str:
    if not value.isprintable():
        raise InvalidInput(f"{field} can only contain printable characters.", field=field)
    return value


def build_search(query: SearchQuery, *, dialect: str = "postgresql") -> Select[Customer, CustomerScore]:
    """The SELECT for ``query`` (customers left-joined to their scores, ordered by id, not paginated) on
    ``dialect`` (``postgresql`` or ``sqlite``: see ``_name_condition``).

    Raises:
        InvalidInput: a filter value is invalid (``.field`` names it).
    """
    conditions: list[ColumnElement[bool]] = []
    if query.name is not None:
        words = [w for w in _printable(query.name, "name").strip().lower().split() if w]
        if not words or len(query.name) > NAME_MAX:
            raise InvalidInput(f"name must have 1..{NAME_MAX} characters.", field="name")
        conditions += [_name_condition(word, dialect) for word in words]
    if query.email is not None:
        email = _printable(query.email, "email").strip().lower()
        if not email or len(email) > 254 or "@" not in email:
            raise InvalidInput("email must be a whole email address.", field="email")
        conditions.append(func.lower(Customer.email) == email)
    if query.phone is not None:
        conditions.append(Customer.phone == normalise_contact("phone", query.phone))
    if query.segment is not None:
        segment = _printable(query.segment, "segment").strip()
        if not segment or len(segment) > 40:
            raise InvalidInput("segment must have 1..40 characters.", field="segment")
        conditions.append(CustomerScore.segment == segment)
    conditions += _range(CustomerScore.churn_probability, query.min_churn, query.max_churn, "churn", (0.0, 1.0))
    conditions += _range(CustomerScore.clv, query.min_clv, query.max_clv, "clv")
    conditions += _range(CustomerScore.loyalty_score, query.min_loyalty, query.max_loyalty, "loyalty")
    return (select(Customer, CustomerScore)
            .outerjoin(CustomerScore, CustomerScore.customer_id == Customer.id)
            .where(*conditions).order_by(Customer.id))


def search_customers(query: SearchQuery, *, limit: int = 20, offset: int = 0,
                     after_id: int | None = None) -> SearchPage:
    """Customers matching ``query``, ordered by id; ``limit`` 1..100, ``offset`` >= 0 or keyset ``after_id``.

    Raises:
        InvalidInput: bad filter value, limit out of 1..100 (``limit``), negative offset (``offset``), both
            offset and after_id (``after_id``).
    """
    if not 1 <= limit <= SEARCH_MAX:
        raise InvalidInput(f"limit must be between 1 and {SEARCH_MAX}.", field="limit")
    if not 0 <= offset <= MAX_ID:
        raise InvalidInput(f"offset must be 0..{MAX_ID}.", field="offset")
    if after_id is not None and not 0 <= after_id <= MAX_ID:
        raise InvalidInput(f"after_id must be 0..{MAX_ID}.", field="after_id")
    if after_id is not None and offset:
        raise InvalidInput("Give either offset or after_id, not both.", field="after_id")
    stmt = build_search(query, dialect=get_engine().dialect.name)
    if after_id is not None:
        stmt = stmt.where(Customer.id > after_id)
    stmt = stmt.offset(offset).limit(limit + 1)
    with session_scope() as session:
        rows = session.execute(stmt).all()
    more = len(rows) > limit
    hits = tuple(
        SearchHit(
            id=c.id, first_name=c.first_name, last_name=c.last_name, email=c.email, phone=c.phone,
            region=c.region, segment=s.segment if s else None, churn_probability=s.churn_probability if s else None,
            churn_band=s.churn_band if s else None, clv=s.clv if s else None,
            loyalty_score=s.loyalty_score if s else None, credit_band=s.credit_band if s else None,
        )
        for c, s in rows[:limit]
    )
    return SearchPage(items=hits, limit=limit, offset=offset,
                      next_offset=offset + limit if more else None,
                      next_after_id=hits[-1].id if more else None)
