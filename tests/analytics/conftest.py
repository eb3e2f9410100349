"""Fixtures for the analyses: models trained once per test session into a temporary ``analytics_dir``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics import store
from analytics.batch import Models
from analytics.train import train_all
from profiles.settings import get_settings

SEGMENT_ROWS = 3000


@pytest.fixture(scope="session")
def analytics_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``ANALYTICS_DIR`` for the whole session, pointing at a fresh temporary folder."""
    folder = tmp_path_factory.mktemp("analytics")
    mp = pytest.MonkeyPatch()
    mp.setenv("ANALYTICS_DIR", str(folder))
    get_settings.cache_clear()
    yield folder
    mp.undo()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def training_log(analytics_dir: Path) -> list[str]:
    """Train credit, churn and segments once (real data, real code); the printed lines."""
    lines: list[str] = []
    train_all(segment_rows=SEGMENT_ROWS, progress=lines.append)
    return lines


@pytest.fixture(scope="session")
def models(training_log: list[str]) -> Models:
    """The trained models, as batch scoring loads them."""
    return Models(credit=store.load("credit"), churn=store.load("churn"), segments=store.load("segments"))
