"""Versioned storage of the trained analyses under ``settings.analytics_dir``.

Layout::

    <analytics_dir>/<analysis>/<version>/model.joblib   the fitted object (a pickle: load only what we wrote)
    <analytics_dir>/<analysis>/<version>/metadata.json  data fingerprint, features, metrics, parameters
    <analytics_dir>/<analysis>/CURRENT                  the version in use (one line)

A version is ``<UTC timestamp>-<first 8 hex of the training data's SHA-256>``, e.g.
``20261129T194501Z-3fa2c4d1``: it sorts by age and says which data it was trained on. Writes are atomic
(temporary directory or file, then rename), so a reader never sees half a version.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import joblib

from profiles.settings import get_settings

MODEL_FILE: Final = "model.joblib"
METADATA_FILE: Final = "metadata.json"
POINTER_FILE: Final = "CURRENT"


class ModelMissing(LookupError):
    """No trained version of an analysis (run ``python -m analytics.train``)."""


@dataclass(frozen=True)
class StoredModel:
    """A loaded analysis: ``model`` is what its module's ``train`` returned; ``version`` as in the layout."""

    analysis: str
    version: str
    model: Any
    metadata: dict[str, Any]


def fingerprint(paths: Iterable[Path] = (), extra: bytes = b"") -> str:
    """Hex SHA-256 over the bytes of ``paths`` (in the given order) and ``extra``."""
    digest = hashlib.sha256()
    for path in paths:
        with Path(path).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    digest.update(extra)
    return digest.hexdigest()


def root() -> Path:
    """``settings.analytics_dir``."""
    return Path(get_settings().analytics_dir)


def save(analysis: str, model: Any, metadata: dict[str, Any], *, data_sha256: str) -> str:
    """Write a new version of ``analysis`` and make it current; return the version id."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    version = f"{stamp}-{data_sha256[:8]}"
    base = root() / analysis
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=base))
    joblib.dump(model, staging / MODEL_FILE)
    meta = {**metadata, "analysis": analysis, "version": version, "data_sha256": data_sha256,
            "trained_at": datetime.now(UTC).isoformat()}
    (staging / METADATA_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(staging, base / version)
    pointer = base / f".{POINTER_FILE}.tmp"
    pointer.write_text(version + "\n")
    os.replace(pointer, base / POINTER_FILE)
    return version


def current_version(analysis: str) -> str:
    """The version id in ``CURRENT``. Raises :class:`ModelMissing` when there is none."""
    pointer = root() / analysis / POINTER_FILE
    try:
        version = pointer.read_text().strip()
    except FileNotFoundError as exc:
        raise ModelMissing(f"no trained {analysis} model under {root()}: run python -m analytics.train") from exc
    if not (root() / analysis / version / MODEL_FILE).is_file():
        raise ModelMissing(f"{analysis} version {version} is missing its model file")
    return version


def load(analysis: str, version: str | None = None) -> StoredModel:
    """Load ``version`` (default: the current one) of ``analysis``. Raises :class:`ModelMissing`."""
    version = version or current_version(analysis)
    folder = root() / analysis / version
    if not (folder / MODEL_FILE).is_file():
        raise ModelMissing(f"{analysis} version {version} not found under {root()}")
    metadata = json.loads((folder / METADATA_FILE).read_text())
    return StoredModel(analysis=analysis, version=version, model=joblib.load(folder / MODEL_FILE), metadata=metadata)
