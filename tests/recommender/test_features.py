"""The one feature builder: columns, exclusions, CSV reading, profile mapping and missing values."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from recommender.features import (
    CATEGORICAL,
    EXCLUDED,
    FEATURES,
    NUMERIC,
    frame_from_csv,
    frame_from_profile,
)
from tests.recommender.conftest import DATA, Profile, requires_data

HEADER = "age;job;marital;education;default;balance;housing;loan;contact;day;month;duration;campaign;pdays;previous;poutcome;y"


def write_csv(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "bank.csv"
    path.write_text("\n".join((header, *rows)) + "\n")
    return path


def test_features_are_the_crm_profile_fields_only() -> None:
    assert FEATURES == ("age", "job", "marital", "education", "default", "balance", "housing", "loan", "contact")
    assert set(FEATURES) == set(NUMERIC) | set(CATEGORICAL)
    assert not set(FEATURES) & EXCLUDED
    assert "duration" in EXCLUDED


@requires_data
def test_frame_from_csv_reads_the_real_file() -> None:
    X, y = frame_from_csv(DATA)
    assert list(X.columns) == list(FEATURES)
    assert X.shape == (36_168, 9) and y.shape == (36_168,)
    assert set(np.unique(y)) == {0, 1}
    assert 0.10 < y.mean() < 0.13
    assert X["age"].dtype == np.float64 and X["balance"].dtype == np.float64
    assert not X.isna().any().any()  # the source marks gaps as "unknown", a category


def test_frame_from_csv_drops_duration_and_campaign_fields(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "58;management;married;tertiary;no;2143;yes;no;unknown;5;may;261;1;-1;0;unknown;no")
    X, y = frame_from_csv(path)
    assert list(X.columns) == list(FEATURES)
    assert X.iloc[0].to_dict() == {
        "age": 58.0,
        "job": "management",
        "marital": "married",
        "education": "tertiary",
        "default": "no",
        "balance": 2143.0,
        "housing": "yes",
        "loan": "no",
        "contact": "unknown",
    }
    assert y.tolist() == [0]


def test_frame_from_csv_keeps_empty_and_unrecognised_cells_as_missing(tmp_path: Path) -> None:
    path = write_csv(tmp_path, ";astronaut;;tertiary;no;;yes;no;pigeon;5;may;261;1;-1;0;unknown;yes")
    X, y = frame_from_csv(path)
    row = X.iloc[0]
    assert np.isnan(row["age"]) and np.isnan(row["balance"])
    assert row[["job", "marital", "contact"]].isna().all()
    assert y.tolist() == [1]


def test_frame_from_csv_rejects_a_missing_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "58;management;no", header="age;job;y")
    with pytest.raises(ValueError, match="missing column.*marital"):
        frame_from_csv(path)


def test_frame_from_csv_rejects_a_bad_or_missing_target(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "58;management;married;tertiary;no;2143;yes;no;unknown;5;may;261;1;-1;0;unknown;maybe",
        "58;management;married;tertiary;no;2143;yes;no;unknown;5;may;261;1;-1;0;unknown;",
    )
    with pytest.raises(ValueError, match="2 row"):
        frame_from_csv(path)


def test_frame_from_csv_rejects_comma_separated_files(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "58,management,no", header="age,job,y")
    with pytest.raises(ValueError, match="';'-separated"):
        frame_from_csv(path)


def test_frame_from_profile_maps_crm_fields_to_the_same_columns() -> None:
    customer = Profile(
        age=35,
        job="Admin",
        marital="single",
        education="secondary",
        credit_default=True,
        housing_loan=True,
        personal_loan=False,
        contact_channel="mobile",
    )
    X = frame_from_profile(customer, Decimal("1234.56"))
    assert list(X.columns) == list(FEATURES)
    assert X.iloc[0].to_dict() == {
        "age": 35.0,
        "job": "admin.",
        "marital": "single",
        "education": "secondary",
        "default": "yes",
        "balance": 1234.56,
        "housing": "yes",
        "loan": "no",
        "contact": "cellular",
    }
    assert list(X.dtypes) == list(frame_from_csv_dtypes())


def frame_from_csv_dtypes() -> list[object]:
    return [np.float64 if c in NUMERIC else object for c in FEATURES]


def test_frame_from_profile_turns_missing_fields_into_nan() -> None:
    customer = Profile(
        age=None,
        job=None,
        marital="",
        education="doctorate",
        credit_default=None,
        housing_loan=None,
        personal_loan=None,
        contact_channel=None,
    )
    X = frame_from_profile(customer, None)
    assert X.shape == (1, 9)
    assert X.isna().all().all()
