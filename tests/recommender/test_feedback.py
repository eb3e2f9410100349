"""The feedback loop on a real database: recorded offer answers become labelled training rows of the product's
model, the version's metadata counts them, and without answers training is unchanged."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine

import profiles
from profiles.db import session_scope
from profiles.models import Interaction, OfferEvent
from profiles.offers import offer_answers
from recommender import registry
from recommender.feedback import FEEDBACK_WEIGHT, Answer, feedback_frame, latest_per_customer_product, recorded_answers
from recommender.tasks import get_task
from recommender.train import load_task_data, train
from tests.recommender.conftest import DATA_DIR, add_customer, requires_data

SAMPLE = 2000
T0 = datetime(2026, 10, 1, 9, tzinfo=UTC)


def _event(cid: int, product: str, outcome: str, when: datetime) -> None:
    with session_scope(write=True) as s:
        s.add(OfferEvent(customer_id=cid, product=product, outcome=outcome, channel="test", created_at=when))


def _interaction(cid: int, details: dict[str, Any], when: datetime) -> None:
    with session_scope(write=True) as s:
        s.add(
            Interaction(
                customer_id=cid, kind="offer", channel="web", direction="inbound", summary="offer answer",
                actor="feed", details=details, occurred_at=when,
            )
        )


def _train(feedback: bool) -> dict[str, Any]:
    result = train(DATA_DIR, tasks=["personal_loan"], sample=SAMPLE, folds=2, progress=lambda _l: None,
                   feedback=feedback)
    return {**result["personal_loan"].metadata, "version": result["personal_loan"].version}


@requires_data
def test_recorded_answers_grow_the_training_set_and_the_metadata_says_so(db: Engine, empty_registry: Path) -> None:
    customers = [add_customer(age=30 + i) for i in range(6)]
    for cid in customers[:3]:
        profiles.record_offer(cid, "personal_loan", "accepted", channel="web")
    for cid in customers[3:5]:
        profiles.record_offer(cid, "personal_loan", "declined", channel="web")
    profiles.record_offer(customers[5], "personal_loan", "shown", channel="web")  # not an answer
    profiles.record_offer(customers[5], "term_deposit", "accepted", channel="web")  # another model's answer

    with_answers = _train(feedback=True)
    fb = with_answers["feedback"]
    assert (fb["answers"], fb["accepted"], fb["declined"]) == (5, 3, 2)
    assert fb["weight"] == FEEDBACK_WEIGHT and fb["rows_added"] == 5 * FEEDBACK_WEIGHT
    assert fb["sources"] == ["interactions", "offer_events"]  # record_offer writes both; each answer counted once
    rows = with_answers["rows"]
    assert rows["feedback"] == 5 and rows["train_total"] == rows["train"] + 5 * FEEDBACK_WEIGHT

    without = _train(feedback=False)
    assert without["rows"]["train_total"] == without["rows"]["train"] == rows["train"]
    assert without["feedback"]["answers"] == 0 and without["feedback"]["rows_added"] == 0
    # the held-out part is the data set's either way: versions stay comparable
    assert without["rows"]["holdout"] == rows["holdout"]


@requires_data
def test_without_answers_training_is_unchanged(db: Engine, empty_registry: Path) -> None:
    add_customer()  # a customer, but no answers
    task = get_task("personal_loan")
    _path, X, _y = load_task_data(task, DATA_DIR, sample=SAMPLE)
    first = _train(feedback=True)
    p_first = registry.load_promoted("personal_loan").pipeline.predict_proba(X.head(400))[:, 1]
    second = _train(feedback=False)
    p_second = registry.load_promoted("personal_loan").pipeline.predict_proba(X.head(400))[:, 1]
    assert first["version"] != second["version"]
    assert first["feedback"]["answers"] == 0 and first["rows"]["train_total"] == second["rows"]["train_total"]
    np.testing.assert_array_equal(p_first, p_second)


def test_offer_events_and_feed_interactions_are_both_read_and_counted_once(db: Engine) -> None:
    a, b, c = add_customer(), add_customer(), add_customer()
    _event(a, "mortgage", "declined", T0)
    _event(a, "mortgage", "accepted", T0 + timedelta(days=40))  # the latest answer is the label
    _interaction(a, {"product": "mortgage", "outcome": "accepted"}, T0 + timedelta(days=40, minutes=1))  # same
    _interaction(b, {"product": "credit_card", "outcome": "declined"}, T0)
    _interaction(c, {"product": "credit_card", "outcome": "maybe"}, T0)  # not an answer
    _interaction(c, {"note": "no product"}, T0)
    _event(c, "savings_account", "shown", T0)

    answers = recorded_answers()
    assert {(x.customer_id, x.product, x.label, x.source) for x in answers} == {
        (a, "mortgage", 0, "offer_events"),
        (a, "mortgage", 1, "offer_events"),
        (a, "mortgage", 1, "interactions"),
        (b, "credit_card", 0, "interactions"),
    }
    labels = {(x.customer_id, x.product): x.label for x in latest_per_customer_product(answers)}
    assert labels == {(a, "mortgage"): 1, (b, "credit_card"): 0}
    # read through the profiles/ service (the recommender reads no table itself): the same answers
    assert [(x.customer_id, x.product, x.outcome, x.when, x.source) for x in offer_answers()] == [
        (x.customer_id, x.product, "accepted" if x.label else "declined", x.when, x.source) for x in answers]

    X, y, summary = feedback_frame(get_task("housing_loan"), answers)
    assert len(X) == 1 and list(y) == [1] and summary["accepted"] == 1
    X, y, summary = feedback_frame(get_task("berka_card_classic"), answers)
    assert len(X) == 1 and list(y) == [0] and summary["declined"] == 1
    X, y, _summary = feedback_frame(get_task("berka_loan"), answers)  # scores no catalogue product
    assert len(X) == 0 and len(y) == 0


def test_feedback_rows_come_from_the_serving_feature_builder_with_the_history_of_the_time(db: Engine) -> None:
    cid = add_customer(age=52, job="retired", education="tertiary")
    _event(cid, "personal_loan", "accepted", T0)
    _event(cid, "term_deposit", "declined", T0 + timedelta(days=10))
    X, y, _summary = feedback_frame(get_task("term_deposit"), recorded_answers())
    row = X.iloc[0]
    assert list(y) == [0]
    assert (row["age"], row["job"], row["education"]) == (52.0, "retired", "tertiary")
    # the answer before it (accepted personal loan, 10 days earlier), not this answer itself
    assert (row["poutcome"], row["previous"], row["pdays"]) == ("success", 1.0, 10.0)


def test_no_crm_tables_means_no_feedback_not_an_error(db: Engine) -> None:
    OfferEvent.__table__.drop(db)  # type: ignore[attr-defined]
    try:
        assert recorded_answers() == []
    finally:
        OfferEvent.__table__.create(db)  # type: ignore[attr-defined]  # the PostgreSQL schema is shared by the session's tests


def test_latest_answer_wins_per_customer_and_product() -> None:
    answers = [
        Answer(1, "mortgage", 1, T0, "offer_events"),
        Answer(1, "mortgage", 0, T0 + timedelta(days=1), "interactions"),
        Answer(1, "credit_card", 1, T0, "offer_events"),
        Answer(2, "mortgage", 1, T0, "offer_events"),
    ]
    got = {(a.customer_id, a.product): a.label for a in latest_per_customer_product(answers)}
    assert got == {(1, "mortgage"): 0, (1, "credit_card"): 1, (2, "mortgage"): 1}


@pytest.mark.parametrize("weight", [0, -1])
def test_a_weight_below_one_is_refused(weight: int) -> None:
    import pandas as pd  # type: ignore[import-untyped]

    from recommender.feedback import with_feedback

    X = pd.DataFrame({"age": [1.0]})
    with pytest.raises(ValueError):
        with_feedback(X, np.array([1]), X, np.array([0]), weight)


def test_a_missing_sqlite_crm_file_is_not_created(tmp_path: Path, override_settings: Any) -> None:
    path = tmp_path / "no-crm.db"
    override_settings(database_url=f"sqlite:///{path}")
    assert recorded_answers() == []
    assert not path.exists()


def test_the_recommender_reads_no_crm_table_itself() -> None:
    """recommender/ reads the CRM only through profiles/ services (issue 10, item 3): no module imports the ORM
    models or SQLAlchemy (``profiles.db.session_scope`` to hand one session to several services is allowed)."""
    root = Path(__file__).resolve().parents[2] / "recommender"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n == "profiles.models" or n.split(".")[0] == "sqlalchemy"]
    assert offenders == []
