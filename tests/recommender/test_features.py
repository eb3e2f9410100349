"""The one feature builder: training columns never leak the target or duration; CRM profiles map to the same
columns for chat and batch; missing attributes become NaN for the pipelines to impute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.features import (
    BANK_ADDITIONAL,
    BANK_FULL,
    BERKA,
    BERKA_TARGETS,
    ECONOMY,
    ECONOMY_MONTH,
    EXCLUDED,
    CustomerContext,
    bank_additional_frame,
    bank_full_frame,
    berka_frame,
    serving_frame,
    serving_frames,
)
from recommender.tasks import TASKS
from tests.recommender.conftest import DATA_DIR, Profile, requires_data

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ADDITIONAL_HEADER = (
    "age;job;marital;education;default;housing;loan;contact;month;day_of_week;duration;campaign;pdays;previous;"
    "poutcome;emp.var.rate;cons.price.idx;cons.conf.idx;euribor3m;nr.employed;y"
)
FULL_HEADER = "age;job;marital;education;default;balance;housing;loan;contact;day;month;duration;campaign;pdays;previous;poutcome;y"


def test_no_model_reads_duration_or_its_own_target() -> None:
    for task in TASKS.values():
        columns = set(task.features.columns)
        assert "duration" not in columns and not columns & EXCLUDED
    assert "housing" not in TASKS["housing_loan"].features.columns
    assert "loan" in TASKS["housing_loan"].features.columns  # the other loan is a feature
    assert "loan" not in TASKS["personal_loan"].features.columns
    assert "card_gold" not in TASKS["berka_card_gold"].features.columns
    assert "loan" not in TASKS["berka_loan"].features.columns
    assert "insurance" not in TASKS["berka_insurance"].features.columns
    assert set(ECONOMY) <= set(BANK_ADDITIONAL.numeric)


def test_bank_additional_maps_education_to_the_crm_levels(tmp_path: Path) -> None:
    rows = [
        "56;housemaid;married;basic.4y;no;no;no;telephone;may;mon;261;1;999;0;nonexistent;1.1;93.994;-36.4;4.857;5191.0;no",
        "44;technician;married;professional.course;unknown;yes;no;cellular;nov;fri;442;1;6;1;success;-1.1;94.767;-50.8;1.028;4963.6;yes",
        "30;student;single;university.degree;no;no;no;cellular;oct;tue;10;2;999;0;nonexistent;-3.4;92.431;-26.9;0.742;5017.5;no",
    ]
    path = tmp_path / "add.csv"
    path.write_text("\n".join((ADDITIONAL_HEADER, *rows)) + "\n")
    X, y = bank_additional_frame(path)
    assert list(X.columns) == list(BANK_ADDITIONAL.columns)
    assert list(X["education"]) == ["primary", "secondary", "tertiary"]
    assert list(X["default"]) == ["no", "unknown", "no"]
    assert X.loc[1, "pdays"] == 6.0 and X.loc[1, "poutcome"] == "success"
    assert list(y) == [0, 1, 0]
    assert "duration" not in X.columns


def test_a_bad_target_or_missing_column_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "full.csv"
    path.write_text(
        FULL_HEADER + "\n58;management;married;tertiary;no;2143;maybe;no;unknown;5;may;261;1;-1;0;unknown;no\n"
    )
    with pytest.raises(ValueError, match="column housing must be yes/no"):
        bank_full_frame(path, "housing")
    with pytest.raises(ValueError, match="housing or loan"):
        bank_full_frame(path, "y")
    path.write_text("age;job\n30;admin.\n")
    with pytest.raises(ValueError, match="missing column"):
        bank_additional_frame(path)
    with pytest.raises(ValueError, match="unknown Berka target"):
        berka_frame(path, "gold_bar")


@requires_data
def test_real_files_read_into_their_feature_sets() -> None:
    X, y = bank_additional_frame(DATA_DIR / TASKS["term_deposit"].data_file)
    assert X.shape == (32_950, len(BANK_ADDITIONAL.columns)) and 0.10 < y.mean() < 0.12
    X, y = bank_full_frame(DATA_DIR / TASKS["housing_loan"].data_file, "housing")
    assert X.shape == (36_168, len(BANK_FULL.columns) - 1) and 0.5 < y.mean() < 0.6
    for target in BERKA_TARGETS:
        X, y = berka_frame(DATA_DIR / TASKS[f"berka_{target}"].data_file, target)
        assert X.shape[0] == 5_369 and set(np.unique(y)) == {0, 1}
        assert (X["age"] > 0).all() and (X["tenure_years"] >= 0).all()
        assert (X["n_other_orders"] >= 0).all()


def test_a_full_profile_maps_to_every_column() -> None:
    ctx = CustomerContext(Profile(), Decimal("2500.50"), frozenset({"current_account"}), now=NOW)
    row = serving_frame(BANK_ADDITIONAL, ctx).iloc[0].to_dict()
    assert row["age"] == 40.0 and row["job"] == "management" and row["education"] == "tertiary"
    assert row["default"] == "no" and row["housing"] == "no" and row["loan"] == "no" and row["contact"] == "cellular"
    assert row["month"] == ECONOMY_MONTH and pd.isna(row["day_of_week"])
    assert row["campaign"] == 1.0 and row["pdays"] == 999.0 and row["previous"] == 0.0
    assert row["poutcome"] == "nonexistent"
    assert {k: row[k] for k in ECONOMY} == dict(ECONOMY)
    assert serving_frame(BANK_FULL, ctx).iloc[0]["balance"] == 2500.5


def test_products_held_set_the_loan_and_card_columns() -> None:
    ctx = CustomerContext(Profile(), None, frozenset({"current_account", "mortgage", "credit_card"}), now=NOW)
    bank = serving_frame(BANK_FULL, ctx).iloc[0]
    assert bank["housing"] == "yes" and bank["loan"] == "no"
    berka = serving_frame(BERKA, ctx).iloc[0]
    assert berka["card_classic"] == 1.0 and berka["loan"] == 1.0 and berka["card_gold"] == 0.0
    assert berka["disp_type"] == "owner" and pd.isna(berka["gender"]) and pd.isna(berka["tenure_years"])


def test_answered_offers_become_the_campaign_history() -> None:
    declined = CustomerContext(Profile(), None, last_offer=("mortgage", "declined", NOW - timedelta(days=12)), now=NOW)
    row = serving_frame(BANK_ADDITIONAL, declined).iloc[0]
    assert (row["pdays"], row["previous"], row["poutcome"]) == (12.0, 1.0, "failure")
    accepted = CustomerContext(Profile(), None, last_offer=("term_deposit", "accepted", NOW), now=NOW)
    assert serving_frame(BANK_ADDITIONAL, accepted).iloc[0]["poutcome"] == "success"
    shown = CustomerContext(Profile(), None, last_offer=("term_deposit", "shown", NOW), now=NOW)
    assert serving_frame(BANK_ADDITIONAL, shown).iloc[0]["poutcome"] == "nonexistent"


def test_missing_and_unrecognised_attributes_are_nan() -> None:
    blank = Profile(
        age=None,
        job="astronaut",
        marital=None,
        education="",
        credit_default=None,
        housing_loan=None,
        personal_loan=None,
        contact_channel="pigeon",
    )
    row = serving_frame(BANK_ADDITIONAL, CustomerContext(blank, None, now=NOW)).iloc[0]
    for column in ("age", "job", "marital", "education", "default", "housing", "loan", "contact"):
        assert pd.isna(row[column]), column
    assert pd.isna(serving_frame(BANK_FULL, CustomerContext(blank, None, now=NOW)).iloc[0]["balance"])


def test_batch_rows_equal_chat_rows() -> None:
    contexts = [
        CustomerContext(Profile(age=a, job=j), Decimal(b), frozenset({"current_account"}), now=NOW)
        for a, j, b in ((25, "student", "10"), (70, "retired", "9000"), (45, None, "-20"))
    ]
    for features in (BANK_ADDITIONAL, BANK_FULL, BERKA):
        batch = serving_frames(features, contexts)
        assert list(batch.columns) == list(features.columns)
        for i, ctx in enumerate(contexts):
            pd.testing.assert_frame_equal(
                batch.iloc[[i]].reset_index(drop=True), serving_frame(features, ctx).reset_index(drop=True)
            )
