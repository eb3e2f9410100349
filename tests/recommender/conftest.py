"""Fixtures for recommender tests: every model trained once per session on samples of the real data, a private
registry per test, and plain profile objects."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

import profiles
from profiles.db import session_scope
from profiles.models import Account, Card, Customer, Loan
from profiles.settings import get_settings
from recommender import registry
from recommender.tasks import TASKS
from recommender.train import TrainResult, train

DATA_DIR = get_settings().data_dir
DATA = DATA_DIR / "bank_marketing" / "bank-full-train.csv"
DATA_FILES = sorted({DATA_DIR / t.data_file for t in TASKS.values()})
SAMPLE_ROWS = 8_000  # per data set (Berka has 5,369 rows: all of them); keeps the session's training short
FOLDS = 3

requires_data = pytest.mark.skipif(
    not all(f.is_file() for f in DATA_FILES), reason=f"data files missing under {DATA_DIR}"
)


def _point_registry(mp: pytest.MonkeyPatch, path: Path) -> None:
    mp.setenv("MODEL_REGISTRY", str(path))
    get_settings.cache_clear()
    registry.clear_cache()


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, TrainResult]]]:
    """One training run of every model on seeded samples of the real files: ``(registry dir, results)``."""
    if not all(f.is_file() for f in DATA_FILES):
        pytest.skip(f"data files missing under {DATA_DIR}")
    path = tmp_path_factory.mktemp("registry")
    with pytest.MonkeyPatch.context() as mp:
        _point_registry(mp, path)
        result = train(DATA_DIR, sample=SAMPLE_ROWS, folds=FOLDS, progress=lambda _line: None, feedback=False)
    get_settings.cache_clear()
    registry.clear_cache()
    yield path, result


@pytest.fixture
def empty_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point ``settings.model_registry`` at an empty directory for one test."""
    path = tmp_path / "registry"
    _point_registry(monkeypatch, path)
    yield path
    get_settings.cache_clear()
    registry.clear_cache()


@pytest.fixture
def model_registry(
    trained: tuple[Path, dict[str, TrainResult]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A private copy of the session's trained registry (one promoted version of every model) for one test."""
    path = tmp_path / "registry"
    shutil.copytree(trained[0], path)
    _point_registry(monkeypatch, path)
    yield path
    get_settings.cache_clear()
    registry.clear_cache()


@dataclass(frozen=True)
class Profile:
    """Stands in for ``profiles.schemas.CustomerView`` where no database is needed (same attribute names)."""

    age: int | None = 40
    job: str | None = "management"
    marital: str | None = "married"
    education: str | None = "tertiary"
    credit_default: bool | None = False
    housing_loan: bool | None = False
    personal_loan: bool | None = False
    contact_channel: str | None = "cellular"


@pytest.fixture
def profile() -> Profile:
    return Profile()


_serial = itertools.count(1)


def add_customer(
    *,
    balance: str = "3000.00",
    consent: bool = True,
    age: int = 45,
    job: str = "management",
    marital: str = "married",
    education: str = "tertiary",
    credit_default: bool = False,
    housing_loan: bool = False,
    personal_loan: bool = False,
) -> int:
    """Insert a customer with one current account holding ``balance`` EUR into the database; return the id.

    Consent goes through the real service (``profiles.set_marketing_consent``), as the bot would set it.
    """
    n = next(_serial)
    with session_scope(write=True) as s:
        customer = Customer(
            first_name="Rita",
            last_name=f"Recommender{n}",
            email=f"rita{n}@example.org",
            phone="+351912345678",
            address=f"Rua Nova, {n}, 4000-001 Porto",
            region="Norte",
            age=age,
            job=job,
            marital=marital,
            education=education,
            credit_default=credit_default,
            housing_loan=housing_loan,
            personal_loan=personal_loan,
            contact_channel="cellular",
        )
        s.add(customer)
        s.flush()
        s.add(
            Account(
                customer_id=customer.id,
                kind="current",
                name="Current account",
                number=f"PT50099988{n:011d}01",
                balance=Decimal(balance),
            )
        )
        customer_id = customer.id
    profiles.set_marketing_consent(customer_id, consent, channel="test", actor="tests/recommender")
    return customer_id


def hold(customer_id: int, product: str) -> None:
    """Give the customer ``product`` (a catalogue id) the way the CRM records it: an account, card or loan."""
    n = next(_serial)
    with session_scope(write=True) as s:
        if product in ("current_account", "savings_account", "term_deposit"):
            kind = product.removesuffix("_account")
            s.add(Account(customer_id=customer_id, kind=kind, name=kind, number=f"PT50099977{n:011d}0{n % 10}"))
        elif product == "credit_card":
            account_id = s.scalars(select(Account.id).where(Account.customer_id == customer_id)).first()
            s.add(Card(customer_id=customer_id, account_id=account_id, kind="credit", number=f"52999999{n:06d}11"))
        else:
            s.add(Loan(customer_id=customer_id, kind=product, principal=Decimal(1000), outstanding=Decimal(900)))
