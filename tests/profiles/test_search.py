"""Customer search: name (partial, any case), email, phone (normalised), segment and score ranges, pagination by
offset and keyset (both database backends)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from profiles.db import session_scope
from profiles.errors import InvalidInput
from profiles.models import Customer, CustomerScore, utcnow
from profiles.search import SearchQuery, search_customers

PEOPLE = [
    # first, last, email, phone, segment, churn, clv, loyalty
    ("José", "Gonçalves Silva", "Jose.Silva@Example.com", "+351912000001", "affluent savers", 0.10, 5200.0, 0.9),
    ("Maria", "Silva", "maria@example.com", "+351912000002", "young digital", 0.55, 800.0, 0.3),
    ("Ana", "Correia Nunes", "ana.nunes@example.com", "+351912000003", "young digital", 0.80, 300.0, 0.1),
    ("Rui", "Marques", "rui@example.com", "+351912000004", None, None, None, None),  # not scored
    ("Sílvia", "Costa", "silvia%_x@example.com", "+351912000005", "affluent savers", 0.30, 2500.0, 0.6),
    ("Ângela", "Órfão Simões", "angela@example.com", "+351912000006", None, None, None, None),
]


@pytest.fixture
def people(db: Engine) -> dict[str, int]:
    ids: dict[str, int] = {}
    with session_scope() as s:
        for first, last, email, phone, segment, churn, clv, loyalty in PEOPLE:
            c = Customer(first_name=first, last_name=last, email=email, phone=phone, address="Rua Augusta 1, Lisboa",
                         region="Centro", age=30, job="services", marital="single", education="secondary")
            s.add(c)
            s.flush()
            ids[first] = c.id
            if segment is not None:
                s.add(CustomerScore(customer_id=c.id, segment=segment, churn_probability=churn, clv=clv,
                                    loyalty_score=loyalty, model_versions={"churn": "t"}, computed_at=utcnow()))
    return ids


def names(query: SearchQuery, **kwargs: int) -> list[str]:
    return [h.first_name for h in search_customers(query, **kwargs).items]


def test_name_is_partial_and_case_insensitive(people: dict[str, int]) -> None:
    assert names(SearchQuery(name="silva")) == ["José", "Maria"]
    assert names(SearchQuery(name="SILV")) == ["José", "Maria"]  # "Sílvia" has an accented í
    assert names(SearchQuery(name="  nunes ana ")) == ["Ana"]  # every word, any order
    assert names(SearchQuery(name="gonçalves")) == ["José"]
    assert names(SearchQuery(name="zzz")) == []
    # accented capitals fold on both backends (SQLite's own case folding is ASCII-only)
    assert names(SearchQuery(name="ângela")) == ["Ângela"]
    assert names(SearchQuery(name="ÂNGELA ÓRFÃO")) == ["Ângela"]
    assert names(SearchQuery(name="simões")) == ["Ângela"]
    assert names(SearchQuery(name="SIMÕES")) == ["Ângela"]


def test_like_wildcards_in_the_query_are_literal(people: dict[str, int]) -> None:
    assert names(SearchQuery(name="%")) == []
    assert names(SearchQuery(name="_")) == []


def test_email_is_whole_and_case_insensitive(people: dict[str, int]) -> None:
    assert names(SearchQuery(email="jose.silva@example.com")) == ["José"]
    assert names(SearchQuery(email="MARIA@EXAMPLE.COM")) == ["Maria"]
    assert names(SearchQuery(email="jose.silva@example")) == []  # never a partial match
    assert names(SearchQuery(email="silvia%_x@example.com")) == ["Sílvia"]


def test_phone_is_normalised_before_matching(people: dict[str, int]) -> None:
    assert names(SearchQuery(phone="912 000 002")) == ["Maria"]
    assert names(SearchQuery(phone="+351 912-000-003")) == ["Ana"]
    assert names(SearchQuery(phone="00351912000004")) == ["Rui"]


def test_segment_and_score_ranges(people: dict[str, int]) -> None:
    assert names(SearchQuery(segment="young digital")) == ["Maria", "Ana"]
    assert names(SearchQuery(min_churn=0.5)) == ["Maria", "Ana"]
    assert names(SearchQuery(min_churn=0.3, max_churn=0.55)) == ["Maria", "Sílvia"]  # inclusive
    assert names(SearchQuery(min_clv=1000)) == ["José", "Sílvia"]
    assert names(SearchQuery(max_clv=800, segment="young digital")) == ["Maria", "Ana"]
    assert names(SearchQuery(min_loyalty=0.5)) == ["José", "Sílvia"]
    # unscored customers only match queries without score filters
    assert "Rui" in names(SearchQuery())
    assert "Rui" not in names(SearchQuery(max_churn=1.0))


def test_hits_carry_the_scores(people: dict[str, int]) -> None:
    hit = search_customers(SearchQuery(name="maria")).items[0]
    assert (hit.id, hit.email, hit.segment, hit.churn_probability, hit.clv) == (
        people["Maria"], "maria@example.com", "young digital", 0.55, 800.0)
    unscored = search_customers(SearchQuery(name="rui")).items[0]
    assert (unscored.segment, unscored.clv) == (None, None)


def test_offset_and_keyset_pages_agree(people: dict[str, int]) -> None:
    everyone = names(SearchQuery(), limit=100)
    assert everyone == ["José", "Maria", "Ana", "Rui", "Sílvia", "Ângela"]
    by_offset: list[str] = []
    by_keyset: list[str] = []
    offset: int | None = 0
    after: int | None = None
    while offset is not None:
        page = search_customers(SearchQuery(), limit=2, offset=offset)
        by_offset += [h.first_name for h in page.items]
        offset = page.next_offset
    while True:
        page = search_customers(SearchQuery(), limit=2, after_id=after)
        by_keyset += [h.first_name for h in page.items]
        if page.next_after_id is None:
            break
        after = page.next_after_id
    assert by_offset == by_keyset == everyone
    last = search_customers(SearchQuery(), limit=6)
    assert (last.next_offset, last.next_after_id) == (None, None)


@pytest.mark.parametrize(
    ("query", "kwargs", "field"),
    [
        (SearchQuery(name="  "), {}, "name"),
        (SearchQuery(email="not-an-email"), {}, "email"),
        (SearchQuery(phone="12"), {}, "phone"),
        (SearchQuery(min_churn=1.5), {}, "min_churn"),
        (SearchQuery(max_churn=float("nan")), {}, "max_churn"),
        (SearchQuery(min_clv=10, max_clv=5), {}, "min_clv"),
        (SearchQuery(segment=""), {}, "segment"),
        (SearchQuery(), {"limit": 0}, "limit"),
        (SearchQuery(), {"limit": 101}, "limit"),
        (SearchQuery(), {"offset": -1}, "offset"),
        (SearchQuery(), {"offset": 2, "after_id": 1}, "after_id"),
    ],
)
def test_bad_search_input_names_the_field(people: dict[str, int], query: SearchQuery, kwargs: dict[str, int],
                                          field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        search_customers(query, **kwargs)
    assert err.value.field == field


def test_query_knows_its_filters(people: dict[str, int]) -> None:
    query = SearchQuery(name="x", segment="y", min_churn=0.0)
    assert query.used_filters() == ("name", "segment", "min_churn")
    assert query.uses_contact_details
    assert not SearchQuery(segment="y", max_clv=3.0).uses_contact_details
