"""The one versioned store of trained models on disk: the recommender's registry (:mod:`recommender.registry`,
under ``settings.model_registry``) and the CRM analyses (:mod:`analytics.store`, under ``settings.analytics_dir``)
are two instances of :class:`ModelStore`.

Layout under a store's root folder::

    <root>/<model>/<version>/model.joblib    the fitted object (a pickle: load only files this store wrote)
    <root>/<model>/<version>/metadata.json   what the trainer recorded, plus ``version``
    <root>/<model>/CURRENT                   the version in use (one line)

A version id is the UTC time to the second, then the caller's tag if any, then ``-2``, ``-3``… if that id is
taken (e.g. ``20261129T163012Z``, ``20261129T194501Z-3fa2c4d1``), so versions sort by age. Writes are atomic (a
temporary name starting with ``.`` in the model's folder, then a rename): a reader never sees half a version or
half a pointer, and names starting with ``.`` are never versions.

Why in profiles/: recommender/ and analytics/ may both import profiles/ and neither may import the other
(docs/CONTRACTS.md, shared/DESIGN.md), so the one store lives here rather than in a new package with an arrow of
its own. It is file handling only (the standard library and joblib: no scikit-learn, pandas or database), and no
CRM service imports it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import joblib

MODEL_FILE: Final = "model.joblib"
METADATA_FILE: Final = "metadata.json"
POINTER_FILE: Final = "CURRENT"


class StoreError(Exception):
    """Base class of the store's errors."""


class ModelNotFound(StoreError, LookupError):
    """No such version, no version in use, or a version whose files are missing."""


@dataclass(frozen=True)
class Stored:
    """A loaded version: ``model`` is the object that was saved, ``metadata`` its ``metadata.json``."""

    name: str
    version: str
    model: Any
    metadata: dict[str, Any]


def fingerprint(paths: Iterable[Path] = (), extra: bytes = b"") -> str:
    """Hex SHA-256 over the bytes of ``paths`` (in the given order) and ``extra``: the training data's id."""
    digest = hashlib.sha256()
    for path in paths:
        with Path(path).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    digest.update(extra)
    return digest.hexdigest()


class ModelStore:
    """Versions of named models under the folder ``root()`` returns (read on every call: settings may change)."""

    def __init__(self, root: Callable[[], Path]) -> None:
        self._root = root

    def root(self) -> Path:
        """The store's folder."""
        return Path(self._root())

    def folder(self, name: str, version: str | None = None) -> Path:
        """``<root>/<name>``, or ``<root>/<name>/<version>``."""
        base = self.root() / name
        return base if version is None else base / version

    def models(self) -> list[str]:
        """Every model name with at least one complete version, sorted."""
        base = self.root()
        if not base.is_dir():
            return []
        return sorted(d.name for d in base.iterdir() if d.is_dir() and not d.name.startswith(".")
                      and self.list_versions(d.name))

    def list_versions(self, name: str) -> list[str]:
        """Every complete version of ``name``, oldest first (empty if none)."""
        base = self.folder(name)
        if not base.is_dir():
            return []
        return sorted(d.name for d in base.iterdir()
                      if d.is_dir() and not d.name.startswith(".") and (d / MODEL_FILE).is_file())

    def new_version(self, names: Sequence[str], *, tag: str = "") -> str:
        """A fresh version id (module docstring) free for every model of ``names`` (one run shares one id)."""
        base = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + (f"-{tag}" if tag else "")
        version, n = base, 1
        while any(self.folder(name, version).exists() for name in names):
            n += 1
            version = f"{base}-{n}"
        return version

    def save(self, name: str, model: Any, metadata: dict[str, Any], *, version: str) -> str:
        """Write ``model`` and ``metadata`` (plus ``version``) as a new version of ``name``, not yet in use.

        Raises:
            StoreError: ``version`` already exists for ``name``.
        """
        base = self.folder(name)
        # Models are fitted on customers' data: the folders made here are owner-only, like the database's
        # (profiles.db.private_sqlite_file; not imported: this module imports none of our code).
        missing = [p for p in (base, *base.parents) if not p.exists()]
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        for created in missing:  # mkdir's mode is masked by the umask, and parents get the default mode
            created.chmod(0o700)
        try:  # the model's own folder made by an older release (0755) is tightened too (not the root: a
            # configured folder that existed before is its owner's business)
            if base.stat().st_mode & 0o077:
                base.chmod(0o700)
        except PermissionError:
            pass
        if (base / version).exists():
            raise StoreError(f"{name} version {version} already exists")
        staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=base))
        joblib.dump(model, staging / MODEL_FILE)
        meta = {**metadata, "version": version}
        (staging / METADATA_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
        staging.rename(base / version)
        return version

    def current(self, name: str) -> str | None:
        """The version in ``CURRENT``, or ``None`` when there is none."""
        try:
            version = (self.folder(name) / POINTER_FILE).read_text().strip()
        except FileNotFoundError:
            return None
        return version or None

    def set_current(self, name: str, version: str) -> None:
        """Point ``CURRENT`` at ``version`` (atomically).

        Raises:
            ModelNotFound: ``version`` is not a complete version of ``name``.
        """
        if version not in self.list_versions(name):
            raise ModelNotFound(f"{name} version {version!r} not found under {self.root()}")
        base = self.folder(name)
        fd, tmp = tempfile.mkstemp(prefix=f".{POINTER_FILE}.", dir=base)
        with os.fdopen(fd, "w") as fh:
            fh.write(version + "\n")
        os.replace(tmp, base / POINTER_FILE)

    def previous(self, name: str, version: str) -> str | None:
        """The newest complete version older than ``version``, or ``None``."""
        older = [v for v in self.list_versions(name) if v < version]
        return older[-1] if older else None

    def read_metadata(self, name: str, version: str) -> dict[str, Any]:
        """The ``metadata.json`` of one version. Raises :class:`ModelNotFound` when there is no such version."""
        if version not in self.list_versions(name):
            raise ModelNotFound(f"{name} version {version!r} not found under {self.root()}")
        data: dict[str, Any] = json.loads((self.folder(name, version) / METADATA_FILE).read_text())
        return data

    def load(self, name: str, version: str) -> Stored:
        """Load one version (unpickles ``model.joblib``). Raises :class:`ModelNotFound` when its files are missing."""
        folder = self.folder(name, version)
        if not (folder / MODEL_FILE).is_file():
            raise ModelNotFound(f"{name} version {version} has no {MODEL_FILE} in {folder}")
        metadata = json.loads((folder / METADATA_FILE).read_text())
        return Stored(name=name, version=version, model=joblib.load(folder / MODEL_FILE), metadata=metadata)
