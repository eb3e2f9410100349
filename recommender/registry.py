"""File-system model registry: versions, metadata and the promoted pointer.

Layout under ``settings.model_registry``::

    <product>/<version>/model.joblib    the whole fitted sklearn Pipeline (preprocessing + classifier)
    <product>/<version>/metadata.json   data sha256, features, metrics, sklearn version, chosen model and why
    <product>/CURRENT                   the promoted version's id (one line)

Versions are UTC timestamps (``20261129T163012Z``), so they sort by age. Writes are atomic (temporary name,
then rename), so a reader never sees half a version or half a pointer. ``model.joblib`` is a pickle: load only
files this registry wrote.

Usage::

    python -m recommender.registry list [--product term_deposit]
    python -m recommender.registry promote VERSION [--product term_deposit]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib

from profiles.settings import get_settings

DEFAULT_PRODUCT = "term_deposit"
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
POINTER_FILE = "CURRENT"
TRAIN_COMMAND = "python -m recommender.train"


class RegistryError(Exception):
    """Base class of registry errors."""


class ModelNotFound(RegistryError):
    """No promoted model, or the requested version does not exist."""


@dataclass(frozen=True)
class LoadedModel:
    """A promoted model: ``pipeline.predict_proba(X)`` takes a features frame (see ``recommender.features``)."""

    product: str
    version: str
    pipeline: Any
    metadata: dict[str, Any]


_cache: dict[tuple[Path, str, str], LoadedModel] = {}
_lock = threading.Lock()


def root() -> Path:
    """The registry directory, ``settings.model_registry``."""
    return Path(get_settings().model_registry)


def _product_dir(product: str) -> Path:
    return root() / product


def new_version_id(product: str = DEFAULT_PRODUCT) -> str:
    """A fresh version id: the UTC time to the second, with ``-2``, ``-3``… if that second is taken."""
    base = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    version, n = base, 1
    while (_product_dir(product) / version).exists():
        n += 1
        version = f"{base}-{n}"
    return version


def save_version(product: str, pipeline: Any, metadata: dict[str, Any]) -> str:
    """Write a fitted pipeline and its metadata as a new version (not promoted); return the version id.

    ``metadata`` must be JSON-serialisable; ``version`` is added to it.
    """
    pdir = _product_dir(product)
    pdir.mkdir(parents=True, exist_ok=True)
    version = new_version_id(product)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=pdir))
    joblib.dump(pipeline, staging / MODEL_FILE)
    (staging / METADATA_FILE).write_text(json.dumps({"version": version, **metadata}, indent=2) + "\n")
    staging.rename(pdir / version)
    return version


def list_versions(product: str = DEFAULT_PRODUCT) -> list[str]:
    """Every complete version of ``product``, oldest first (empty if none)."""
    pdir = _product_dir(product)
    if not pdir.is_dir():
        return []
    return sorted(
        d.name for d in pdir.iterdir() if d.is_dir() and not d.name.startswith(".") and (d / MODEL_FILE).is_file()
    )


def promoted_version(product: str = DEFAULT_PRODUCT) -> str | None:
    """The promoted version id of ``product``, or ``None`` if nothing is promoted."""
    pointer = _product_dir(product) / POINTER_FILE
    try:
        version = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    return version or None


def read_metadata(version: str, product: str = DEFAULT_PRODUCT) -> dict[str, Any]:
    """The ``metadata.json`` of one version.

    Raises:
        ModelNotFound: no such version.
    """
    path = _product_dir(product) / version / METADATA_FILE
    if version not in list_versions(product):
        raise ModelNotFound(_unknown_version_message(version, product))
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def promote(version: str, product: str = DEFAULT_PRODUCT) -> None:
    """Make ``version`` the one :func:`load_promoted` serves (also the way to roll back).

    Raises:
        ModelNotFound: ``version`` is not a complete version of ``product``.
    """
    if version not in list_versions(product):
        raise ModelNotFound(_unknown_version_message(version, product))
    pdir = _product_dir(product)
    fd, tmp = tempfile.mkstemp(prefix=f".{POINTER_FILE}.", dir=pdir)
    with os.fdopen(fd, "w") as fh:
        fh.write(version + "\n")
    os.replace(tmp, pdir / POINTER_FILE)


def load_promoted(product: str = DEFAULT_PRODUCT) -> LoadedModel:
    """Load the promoted version of ``product``.

    The pointer file is re-read on every call (a promotion or rollback takes effect without a restart); each
    version is unpickled once per process and cached.

    Raises:
        ModelNotFound: nothing is promoted (message names the training command), or the promoted version's
            files are missing.
    """
    version = promoted_version(product)
    if version is None:
        raise ModelNotFound(f"no promoted {product} model in {root()}; train one with `{TRAIN_COMMAND}`")
    key = (root(), product, version)
    with _lock:
        cached = _cache.get(key)
        if cached is None:
            vdir = _product_dir(product) / version
            if not (vdir / MODEL_FILE).is_file():
                raise ModelNotFound(
                    f"promoted {product} version {version} has no {MODEL_FILE} in {vdir}; "
                    f"run `{TRAIN_COMMAND}` or `python -m recommender.registry promote VERSION`"
                )
            cached = LoadedModel(
                product=product,
                version=version,
                pipeline=joblib.load(vdir / MODEL_FILE),
                metadata=json.loads((vdir / METADATA_FILE).read_text()),
            )
            _cache[key] = cached
    return cached


def clear_cache() -> None:
    """Forget every loaded model (tests)."""
    with _lock:
        _cache.clear()


def _unknown_version_message(version: str, product: str) -> str:
    known = list_versions(product)
    listing = ", ".join(known) if known else f"none; train one with `{TRAIN_COMMAND}`"
    return f"unknown {product} version {version!r}; known versions: {listing}"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the process exit status (2 on a registry error)."""
    parser = argparse.ArgumentParser(prog="python -m recommender.registry", description="Model registry.")
    parser.add_argument("--product", default=DEFAULT_PRODUCT)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list versions; * marks the promoted one")
    promote_cmd = sub.add_parser("promote", help="promote VERSION (also rolls back)")
    promote_cmd.add_argument("version")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            current = promoted_version(args.product)
            versions = list_versions(args.product)
            if not versions:
                print(f"no {args.product} versions in {root()}; train one with `{TRAIN_COMMAND}`")
            for v in versions:
                meta = read_metadata(v, args.product)
                auc = meta.get("metrics", {}).get("holdout_roc_auc")
                auc_text = f"held-out AUC {auc:.4f}" if isinstance(auc, float) else ""
                print(f"{'*' if v == current else ' '} {v}  {meta.get('model', '?')}  {auc_text}".rstrip())
        else:
            promote(args.version, args.product)
            print(f"promoted {args.product} {args.version}")
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
