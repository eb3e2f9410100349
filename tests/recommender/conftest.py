"""Fixtures for recommender tests: a model trained once per session on a sample of the real data, a private
registry per test, and plain profile objects."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from profiles.settings import get_settings
from recommender import registry
from recommender.train import TrainResult, train

DATA = get_settings().data_dir / "bank_marketing" / "bank-full-train.csv"
SAMPLE_ROWS = 12_000  # stratified; keeps the session's one training run to a few seconds

requires_data = pytest.mark.skipif(not DATA.is_file(), reason=f"{DATA} not present")


def _point_registry(mp: pytest.MonkeyPatch, path: Path) -> None:
    mp.setenv("MODEL_REGISTRY", str(path))
    get_settings.cache_clear()
    registry.clear_cache()


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, TrainResult]]:
    """One training run on a stratified sample of the real file: ``(registry dir, result)``."""
    if not DATA.is_file():
        pytest.skip(f"{DATA} not present")
    path = tmp_path_factory.mktemp("registry")
    with pytest.MonkeyPatch.context() as mp:
        _point_registry(mp, path)
        result = train(DATA, sample=SAMPLE_ROWS, progress=lambda _line: None)
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
    trained: tuple[Path, TrainResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A private copy of the session's trained registry (one promoted version) for one test."""
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
