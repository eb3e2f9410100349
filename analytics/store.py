"""Versioned storage of the trained analyses under ``settings.analytics_dir``: the shared model store
(:mod:`profiles.modelstore`, also behind :mod:`recommender.registry`), with the analyses' own version ids and
saving rule.

Layout::

    <analytics_dir>/<analysis>/<version>/model.joblib   the fitted object (a pickle: load only what we wrote)
    <analytics_dir>/<analysis>/<version>/metadata.json  data fingerprint, features, metrics, parameters
    <analytics_dir>/<analysis>/CURRENT                  the version in use (one line)

A version is ``<UTC timestamp>-<first 8 hex of the training data's SHA-256>``, e.g.
``20261129T194501Z-3fa2c4d1``: it sorts by age and says which data it was trained on. Saving a version makes it
current. Writes are atomic (temporary directory or file, then rename), so a reader never sees half a version.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from profiles.modelstore import METADATA_FILE as METADATA_FILE
from profiles.modelstore import MODEL_FILE as MODEL_FILE
from profiles.modelstore import ModelNotFound, ModelStore, Stored
from profiles.modelstore import fingerprint as fingerprint
from profiles.settings import get_settings

# The store's error and loaded version under the names the analyses' callers use.
ModelMissing = ModelNotFound
StoredModel = Stored

TRAIN_COMMAND: Final = "python -m analytics.train"
STORE = ModelStore(lambda: Path(get_settings().analytics_dir))


def root() -> Path:
    """``settings.analytics_dir``."""
    return STORE.root()


def save(analysis: str, model: Any, metadata: dict[str, Any], *, data_sha256: str) -> str:
    """Write a new version of ``analysis`` and make it current; return the version id."""
    version = STORE.new_version([analysis], tag=data_sha256[:8])
    meta = {**metadata, "analysis": analysis, "data_sha256": data_sha256, "trained_at": datetime.now(UTC).isoformat()}
    STORE.save(analysis, model, meta, version=version)
    STORE.set_current(analysis, version)
    return version


def current_version(analysis: str) -> str:
    """The version id in ``CURRENT``. Raises :class:`ModelMissing` when there is none."""
    version = STORE.current(analysis)
    if version is None:
        raise ModelMissing(f"no trained {analysis} model under {root()}: run {TRAIN_COMMAND}")
    if not (STORE.folder(analysis, version) / MODEL_FILE).is_file():
        raise ModelMissing(f"{analysis} version {version} is missing its model file")
    return version


def load(analysis: str, version: str | None = None) -> StoredModel:
    """Load ``version`` (default: the current one) of ``analysis``. Raises :class:`ModelMissing`."""
    return STORE.load(analysis, version or current_version(analysis))
